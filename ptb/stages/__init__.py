"""The stages of a run and the wrapper that runs one: status, timing, error.json, resume.

Each stage is ``run(ctx: StageContext) -> None`` in its own module. A stage is done when the
manifest says so *and* its output exists; done stages are skipped unless forced. A stage that raises
writes ``<stage>/error.json`` and is marked failed; the next attempt archives that file.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ptb.config.root import RunConfig
from ptb.fsutil import read_json, write_json
from ptb.registry import Registry
from ptb.rundir import RunDir, now_iso

logger = logging.getLogger(__name__)  # not `log`: that is the log stage submodule

STAGE_FUNCS = Registry(
    "stage",
    {
        "prepare": "ptb.stages.prepare:run",
        "solve": "ptb.stages.solve:run",
        "evaluate": "ptb.stages.evaluate:run",
        "judge": "ptb.stages.judge:run",
        "score": "ptb.stages.score:run",
        "log": "ptb.stages.log:run",
    },
)

NEEDS: dict[str, tuple[str, ...]] = {
    "prepare": (),
    "solve": ("prepare",),
    "evaluate": ("solve",),
    "judge": ("solve",),
    "score": ("evaluate", "judge"),
    "log": ("score",),
}


class StageFailed(RuntimeError):
    def __init__(self, stage: str, run: RunDir, message: str) -> None:
        super().__init__(f"{run.run_id}: stage '{stage}' failed: {message}")
        self.stage = stage
        self.run = run


class StageBlocked(RuntimeError):
    """A stage whose dependencies are not done."""


@dataclass(frozen=True)
class StageContext:
    cfg: RunConfig
    run: RunDir
    baseline_run: RunDir | None
    """The zero-shot baseline run whose score a fallback takes (None for baseline runs)."""


def output_of(stage: str, run: RunDir) -> Path:
    return {
        "prepare": run.prompt,
        "solve": run.exit_file,
        "evaluate": run.metrics,
        "judge": run.verdict,
        "score": run.score,
        "log": run.path / "log" / "tracker.json",
    }[stage]


def applicable(cfg: RunConfig) -> dict[str, str]:
    """Initial manifest status of every stage: baselines skip the agent's stages."""
    skip = {"prepare", "solve", "judge"} if cfg.agent.kind == "baseline" else set()
    return {s: ("skipped" if s in skip else "pending") for s in NEEDS}


def is_done(stage: str, run: RunDir) -> bool:
    status = run.stage_status(stage)
    return status == "skipped" or (status == "done" and output_of(stage, run).exists())


def run_stage(
    stage: str, ctx: StageContext, *, force: bool = False, job_id: str | None = None
) -> str:
    """Run one stage unless done; return its status (done | skipped). Raises StageFailed."""
    run = ctx.run
    if run.stage_status(stage) == "skipped":
        return "skipped"
    if is_done(stage, run) and not force:
        logger.info("%s: %s already done, skipping", run.run_id, stage)
        return "skipped"
    blocked = [d for d in NEEDS[stage] if not is_done(d, run)]
    if blocked:
        raise StageBlocked(f"{run.run_id}: {stage} waits for {', '.join(blocked)}")
    attempts = int(run.read_manifest().get("stages", {}).get(stage, {}).get("attempts", 0)) + 1
    _archive_error(run, stage)
    run.update_stage(
        stage, status="running", started=now_iso(), ended=None, attempts=attempts, job_id=job_id
    )
    t0 = time.monotonic()
    try:
        STAGE_FUNCS.load(stage)(ctx)
    except BaseException as exc:
        _write_error(run, stage, exc, attempts)
        run.update_stage(
            stage, status="failed", ended=now_iso(), wall_s=round(time.monotonic() - t0, 2)
        )
        if isinstance(exc, Exception):
            raise StageFailed(stage, run, f"{type(exc).__name__}: {exc}") from exc
        raise
    run.update_stage(stage, status="done", ended=now_iso(), wall_s=round(time.monotonic() - t0, 2))
    return "done"


def _write_error(run: RunDir, stage: str, exc: BaseException, attempt: int) -> None:
    write_json(
        run.error_file(stage),
        {
            "stage": stage,
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": traceback.format_exception(exc),
            "attempt": attempt,
            "time": now_iso(),
        },
    )


def _archive_error(run: RunDir, stage: str) -> None:
    err = run.error_file(stage)
    if err.exists():
        attempt = read_json(err).get("attempt", 0)
        err.rename(err.with_name(f"error.attempt{attempt}.json"))
