"""The stages of a run and the wrapper that runs one: status, timing, error.json, resume.

Each stage is ``run(ctx: StageContext) -> None`` in its own module. A stage is done when the
manifest says so *and* its output exists; done stages are skipped unless forced. A stage that raises
writes ``<stage>/error.json`` (with its failure ``kind`` and ``reason``, ``ptb.failures``) and is
marked failed; the next attempt archives that file. An ``evaluate/metrics.json`` that records an
infrastructure failure as a result (older ptb versions did) is not trusted: evaluate, and the
score and log built on it, count as not done and run again.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ptb.config.root import RunConfig
from ptb.failures import INFRA, classify_exception, metrics_failure
from ptb.fsutil import read_json, write_json
from ptb.records import Manifest, MetricsRecord
from ptb.registry import Registry
from ptb.rundir import NEEDS, STAGE_BY_NAME, STAGE_TABLE, STAGES, RunDir, now_iso

logger = logging.getLogger(__name__)  # not `log`: that is the log stage submodule

STAGE_FUNCS = Registry("stage", {s.name: s.func for s in STAGE_TABLE})
"""Each stage's function, from ``ptb.rundir.STAGE_TABLE``."""


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
    return STAGE_BY_NAME[stage].output_of(run)


def applicable(cfg: RunConfig) -> dict[str, str]:
    """Initial manifest status of every stage: baselines skip the agent's stages; retention is
    skipped without a suite (``retention=none``)."""
    skip = {"prepare", "solve", "judge"} if cfg.agent.kind == "baseline" else set()
    if not cfg.retention.tasks:
        skip.add("retention")
    return {s: ("skipped" if s in skip else "pending") for s in STAGES}


def is_done(stage: str, run: RunDir) -> bool:
    status = run.stage_status(stage)
    return status == "skipped" or (status == "done" and output_valid(stage, run))


TRUSTS_METRICS = ("evaluate", "score", "log")


def output_valid(stage: str, run: RunDir) -> bool:
    """The stage's output exists and does not rest on an infrastructure failure recorded as a
    result (an older ptb's ``metrics.json`` with ``status: eval_failed`` from a grader outage)."""
    if not output_of(stage, run).exists():
        return False
    return stage not in TRUSTS_METRICS or not infra_metrics(run)


def infra_metrics(run: RunDir) -> bool:
    if not run.metrics.exists():
        return False
    try:
        failure = metrics_failure(MetricsRecord.read(run.metrics))
    except (OSError, ValueError):
        return True  # unreadable: evaluate again
    return failure is not None and failure.kind == INFRA


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
    attempts = int(Manifest.read(run.manifest).entry(stage).attempts) + 1
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
    _invalidate_dependents(run, stage)
    return "done"


def dependents(stage: str) -> list[str]:
    """Every stage that needs ``stage``, directly or not, in dependency order."""
    found: list[str] = []
    for name in STAGES:
        if any(n == stage or n in found for n in NEEDS[name]):
            found.append(name)
    return found


def _invalidate_dependents(run: RunDir, stage: str) -> None:
    """An evaluation that ran again makes the score built on its old output stale (a score an
    older ptb took from an evaluation that failed for the infrastructure's reasons): score,
    retention and log run again; retention that ran again sends the run to the tracker again.
    (A re-run judge leaves the score to ``python -m ptb.judge --rescore``.)"""
    if stage not in ("evaluate", "retention"):
        return
    for name in dependents(stage):
        if run.stage_status(name) == "done":
            logger.info("%s: %s is stale after %s ran again", run.run_id, name, stage)
            run.update_stage(name, status="pending")


def _write_error(run: RunDir, stage: str, exc: BaseException, attempt: int) -> None:
    failure = classify_exception(exc)
    write_json(
        run.error_file(stage),
        {
            "stage": stage,
            "type": type(exc).__name__,
            "message": str(exc),
            "kind": INFRA,
            "reason": failure.reason if failure.kind == INFRA else "stage",
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
