"""Log one finished run to W&B: config (secrets redacted), stage timings, metrics, usage, score,
verdict, the transcript as a Table and the workspace's code as an artifact."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from ptb.config.root import RunConfig
from ptb.fsutil import read_json
from ptb.records import Manifest
from ptb.rundir import RunDir

CODE_SUFFIXES = {".py", ".sh", ".md", ".txt", ".json", ".yaml", ".yml", ".toml", ".cfg", ".jsonl"}
MAX_CODE_FILE_BYTES = 2 * 1024 * 1024


def _read(path: Path) -> Any:
    return read_json(path) if path.exists() else None


def summary(run: RunDir) -> dict[str, Any]:
    """Flat metrics of a run for the tracker's summary."""
    out: dict[str, Any] = {}
    for name, path in (
        ("score", run.score),
        ("metrics", run.metrics),
        ("verdict", run.verdict),
        ("usage", run.usage),
        ("exit", run.exit_file),
    ):
        data = _read(path)  # every key the file holds, flat (the records' ``schema`` aside)
        if isinstance(data, dict):
            for k, v in data.items():
                if k != "schema" and (isinstance(v, int | float | str | bool) or v is None):
                    out[f"{name}/{k}"] = v
    out.update(retention_summary(run))
    for stage, entry in Manifest.read(run.manifest).stages.items():
        if entry.wall_s is not None:
            out[f"time/{stage}_s"] = entry.wall_s
    return out


def retention_summary(run: RunDir) -> dict[str, Any]:
    """``retention/<task>/{final,base,delta}`` of each task's primary metric, and the mean delta
    (the final model's numbers even for a flagged run: no fallback applies to retention)."""
    data = _read(run.retention)
    if not isinstance(data, dict) or data.get("status") != "ok":
        return {"retention/status": data.get("status")} if isinstance(data, dict) else {}
    out: dict[str, Any] = {"retention/status": "ok", "retention/mean_delta": data["mean_delta"]}
    for task, row in data.get("summary", {}).items():
        out[f"retention/{task}/metric"] = row["metric"]
        for key in ("final", "base", "delta", "stderr"):
            out[f"retention/{task}/{key}"] = row.get(key)
    return out


def _log_retention(wrun: Any, run: RunDir) -> None:
    """Every task and metric of ``retention/metrics.json`` as one Table."""
    import wandb

    data = _read(run.retention)
    if not isinstance(data, dict) or data.get("status") != "ok":
        return
    values = ("final", "base", "delta", "stderr")
    table = wandb.Table(columns=["task", "metric", *values])
    for task, metrics in data["results"].items():
        for metric, row in metrics.items():
            table.add_data(task, metric, *(row.get(k) for k in values))
    wrun.log({"retention": table})


def log_nothing(run: RunDir, cfg: RunConfig) -> dict[str, Any]:
    return {"impl": "none"}


def log_run(run: RunDir, cfg: RunConfig) -> dict[str, Any]:
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    tags = [
        f"agent:{cfg.agent.name}",
        f"scaffold:{cfg.scaffold.name}",
        f"model:{cfg.model.name}",
        f"task:{cfg.task.name}",
        f"budget:{cfg.budget.name}",
    ]
    wdir = run.log_dir
    wdir.mkdir(parents=True, exist_ok=True)
    # The saved config.yaml is already redacted; log that, not the live object.
    config = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    # Flat keys for grouping and report filters, beside the nested config.
    config.update(
        agent=cfg.agent.name,
        scaffold=cfg.scaffold.name,
        model=cfg.model.name,
        task=cfg.task.name,
        budget=cfg.budget.name,
        seed=cfg.seed,
        experiment=cfg.experiment,
        run_id=run.run_id,
    )
    wrun = wandb.init(
        project=cfg.tracker.project,
        entity=cfg.tracker.entity,
        mode=cfg.tracker.mode,  # type: ignore[arg-type]  # validated by wandb itself
        dir=str(wdir),
        name=run.run_id,
        group=cfg.experiment,
        job_type=cfg.agent.kind,
        tags=tags,
        config=config,
        reinit="create_new",
    )
    try:
        wrun.summary.update(summary(run))
        _log_transcript(wrun, run)
        _log_retention(wrun, run)
        _log_workspace(wrun, run)
        info = {
            "impl": "wandb",
            "mode": cfg.tracker.mode,
            "id": wrun.id,
            "dir": str(Path(wrun.dir).parent),
            "url": wrun.url if cfg.tracker.mode == "online" else None,
        }
    finally:
        wrun.finish()
    return info


def _log_transcript(wrun: Any, run: RunDir) -> None:
    import wandb

    path = run.transcript
    if not path.exists():
        return
    table = wandb.Table(columns=["t", "role", "kind", "content"])
    for line in path.read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        rest = {k: v for k, v in ev.items() if k not in ("t", "role", "kind")}
        table.add_data(ev["t"], ev["role"], ev["kind"], json.dumps(rest)[:4000])
    wrun.log({"transcript": table})


def _log_workspace(wrun: Any, run: RunDir) -> None:
    import wandb

    if not run.workspace.exists():
        return
    art = wandb.Artifact(f"workspace-{run.run_id}", type="workspace")
    for path in sorted(run.workspace.rglob("*")):
        if (
            path.is_file()
            and not path.is_symlink()
            and path.suffix in CODE_SUFFIXES
            and path.stat().st_size <= MAX_CODE_FILE_BYTES
        ):
            art.add_file(str(path), name=str(path.relative_to(run.workspace)))
    wrun.log_artifact(art)
