"""After the agent: its ``final_model`` moved to the run directory, HOME kept as
``solve/workspace`` less weight files and very large files (the solve stage's clean-up)."""

from __future__ import annotations

import shutil
from typing import Any

from ptb.rundir import RunDir
from ptb.stages.provenance import DATA_SUFFIXES

WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack"}
MAX_KEPT_FILE_BYTES = 50 * 1024 * 1024
MAX_KEPT_DATA_BYTES = 2 * 1024**3
"""Data files are kept up to this size: the contamination check must see the agent's data."""


def restore_job_dir(run: RunDir) -> None:
    """A re-run after a crash mid-finalisation continues in the same HOME."""
    if not run.job_dir.exists() and run.workspace.exists():
        run.workspace.rename(run.job_dir)


def keep_final_model(run: RunDir) -> bool:
    src = run.submitted_model
    if not src.is_dir():
        return run.final_model.is_dir()
    if run.final_model.exists():
        shutil.rmtree(run.final_model)
    shutil.move(str(src), run.final_model)
    return True


def prune_workspace(run: RunDir) -> list[dict[str, Any]]:
    """Drop weight files and very large files from HOME (data files only above 2 GiB), then
    keep it as ``solve/workspace``."""
    removed: list[dict[str, Any]] = []
    for path in sorted(run.job_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        limit = MAX_KEPT_DATA_BYTES if path.suffix.lower() in DATA_SUFFIXES else MAX_KEPT_FILE_BYTES
        if path.suffix in WEIGHT_SUFFIXES or size > limit:
            removed.append({"path": str(path.relative_to(run.job_dir)), "bytes": size})
            path.unlink()
    shutil.rmtree(run.job_dir / "tmp", ignore_errors=True)
    if run.workspace.exists():
        shutil.rmtree(run.workspace)
    run.job_dir.rename(run.workspace)
    return removed
