"""The run directory: ids, paths, the manifest and per-stage status (see docs/design.md).

Every stage reads and writes only through these paths, so the layout is defined once. The manifest
is updated under an exclusive lock because stages of one run may run concurrently (judge and
evaluate on a cluster).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ptb.fsutil import defer_sync, read_json, write_json

STAGES = ("prepare", "solve", "evaluate", "judge", "score", "retention", "log")
"""In dependency order; the local launcher runs them so (retention after score: its failure
does not hold back the score)."""
PROTECTED = ("evaluate.py", "templates")
"""Task-folder paths the agent may read but not change."""
STATUSES = ("pending", "running", "done", "failed", "skipped")
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_run_id(agent: str, scaffold: str, model: str, task: str, seed: int) -> str:
    parts = (agent, scaffold, model, task)
    for part in parts:
        if not _SAFE.match(part) or "__" in part:
            raise ValueError(f"run-id part {part!r} must match [A-Za-z0-9_.-]+ without '__'")
    return "__".join(parts) + f"__s{seed}"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run: ``<results_root>/<experiment>/<run_id>/``."""

    path: Path

    @classmethod
    def at(cls, results_root: Path | str, experiment: str, run_id: str) -> RunDir:
        return cls(Path(results_root).expanduser().resolve() / experiment / run_id)

    @property
    def run_id(self) -> str:
        return self.path.name

    # top-level files
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def overrides(self) -> Path:
        return self.path / "overrides.yaml"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def score(self) -> Path:
        return self.path / "score.json"

    @property
    def final_model(self) -> Path:
        return self.path / "final_model"

    @property
    def log_file(self) -> Path:
        return self.path / "ptb.log"

    # stage folders
    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def error_file(self, stage: str) -> Path:
        return self.stage_dir(stage) / "error.json"

    @property
    def solve(self) -> Path:
        return self.path / "solve"

    @property
    def job_dir(self) -> Path:
        """The agent's HOME while it runs; pruned into ``solve/workspace`` afterwards."""
        return self.solve / "job"

    @property
    def task_dir(self) -> Path:
        return self.job_dir / "task"

    @property
    def workspace(self) -> Path:
        return self.solve / "workspace"

    @property
    def prompt(self) -> Path:
        return self.solve / "prompt.txt"

    @property
    def exit_file(self) -> Path:
        return self.solve / "exit.json"

    @property
    def metrics(self) -> Path:
        return self.path / "evaluate" / "metrics.json"

    @property
    def samples(self) -> Path:
        return self.path / "evaluate" / "samples.jsonl"

    @property
    def retention(self) -> Path:
        return self.path / "retention" / "metrics.json"

    @property
    def findings(self) -> Path:
        return self.path / "judge" / "findings.json"

    @property
    def verdict(self) -> Path:
        return self.path / "judge" / "verdict.json"

    # manifest
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / ".manifest.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest.exists():
            return {}
        data: dict[str, Any] = read_json(self.manifest)
        return data

    def init_manifest(self, stages: dict[str, str], info: dict[str, Any]) -> dict[str, Any]:
        """Create the manifest, or add missing stages to an existing one (never reset done work)."""
        with self._locked():
            data = self.read_manifest() or {
                "run_id": self.run_id,
                "created": now_iso(),
                "stages": {},
            }
            data.update(info)
            for name, status in stages.items():
                entry = data["stages"].setdefault(name, _stage_entry(status))
                if status == "skipped" or entry["status"] == "skipped":
                    entry["status"] = status  # a stage turned on later (retention) runs
            write_json(self.manifest, data)
            return data

    def update_stage(self, stage: str, **fields: Any) -> dict[str, Any]:
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"bad stage status {fields['status']!r}")
        with self._locked():
            data = self.read_manifest()
            entry = data.setdefault("stages", {}).setdefault(stage, _stage_entry("pending"))
            entry.update(fields)
            write_json(self.manifest, data)
            return dict(entry)

    @contextmanager
    def editing(self) -> Iterator[dict[str, Any]]:
        """The manifest under the lock; what the block changes in it is written back."""
        with self._locked():
            data = self.read_manifest()
            yield data
            write_json(self.manifest, data)

    def update_stages(self, updates: dict[str, dict[str, Any]]) -> None:
        """Several ``update_stage`` calls in one write (submitting thousands of runs)."""
        with self.editing() as data:
            for stage, fields in updates.items():
                entry = data.setdefault("stages", {}).setdefault(stage, _stage_entry("pending"))
                entry.update(fields)

    def stage_status(self, stage: str) -> str:
        entry = self.read_manifest().get("stages", {}).get(stage)
        return str(entry["status"]) if entry else "pending"


def _stage_entry(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "job_id": None,
        "started": None,
        "ended": None,
        "attempts": 0,
    }


def create_run_dir(
    run: RunDir, files: dict[str, str], stages: dict[str, str], info: dict[str, Any]
) -> dict[str, Any] | None:
    """Create a new run directory holding ``files`` (name -> text) and the manifest that
    ``init_manifest(stages, info)`` would create there; returns that manifest, or None when the
    directory exists already (then nothing is written). Submitting a sweep creates thousands:
    the files are written into a hidden folder beside it (``stage_run_dir``), which one rename
    then makes the run directory (``publish_run_dir``), so a reader (or a crash) never sees a
    half-written one and no per-file temporary, rename or lock is needed."""
    staging = stage_run_dir(run, files)
    if staging is None:
        return None
    data = new_manifest(run, stages, info)
    return data if publish_run_dir(run, staging, data) else None


def new_manifest(run: RunDir, stages: dict[str, str], info: dict[str, Any]) -> dict[str, Any]:
    """The manifest ``init_manifest(stages, info)`` creates in a run directory without one."""
    data: dict[str, Any] = {"run_id": run.run_id, "created": now_iso(), "stages": {}}
    data.update(info)
    for name, status in stages.items():
        data["stages"].setdefault(name, _stage_entry(status))
    return data


def stage_run_dir(run: RunDir, files: dict[str, str]) -> Path | None:
    """A hidden folder beside the new run directory holding ``files``, or None when the run
    directory exists (nothing is written)."""
    if run.path.exists():
        return None
    run.path.parent.mkdir(parents=True, exist_ok=True)
    staging = run.path.parent / f".{run.run_id}.{os.getpid()}-{os.urandom(4).hex()}.new"
    staging.mkdir()
    try:
        _write_files(staging, files)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def publish_run_dir(run: RunDir, staging: Path, manifest: dict[str, Any]) -> bool:
    """Write ``manifest`` into the staged folder and rename it into the run directory; False
    (and the folder removed) when the run directory appeared meanwhile."""
    try:
        _write_files(
            staging, {run.manifest.name: json.dumps(manifest, indent=2, default=str) + "\n"}
        )
        os.rename(staging, run.path)  # fails when the run directory appeared meanwhile
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if run.path.exists():
            return False
        raise
    return True


def _write_files(folder: Path, files: dict[str, str]) -> None:
    sync = not defer_sync(folder)
    for name, text in files.items():
        with open(folder / name, "w", encoding="utf-8") as fh:
            fh.write(text)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
