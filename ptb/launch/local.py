"""The local launcher: every stage of every planned run in this process, in dependency order."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ptb.launch.retry import agent_failure, archive_attempt
from ptb.plan import RunPlan, materialize
from ptb.records import ScoreRecord
from ptb.rundir import STAGES, RunDir
from ptb.secrets import RedactingFilter
from ptb.stages import StageBlocked, StageFailed, is_done, run_stage

log = logging.getLogger("ptb")


@dataclass
class RunOutcome:
    run: RunDir
    stages: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    wall_s: float = 0.0

    @property
    def score(self) -> ScoreRecord | None:
        """The run's ``score.json``; None when there is none, or it is malformed (no score)."""
        if not self.run.score.exists():
            return None
        try:
            return ScoreRecord.read(self.run.score)
        except ValueError as exc:
            log.warning("%s: %s", self.run.score, exc)
            return None


def ordered(plans: list[RunPlan]) -> list[RunPlan]:
    """Each run after its baseline; a baseline shared by several runs appears once."""
    seen: set[Path] = set()
    order: list[RunPlan] = []
    for plan in plans:
        for p in (plan.baseline, plan):
            if p is not None and p.run.path not in seen:
                seen.add(p.run.path)
                order.append(p)
    return order


class LocalLauncher:
    def submit(self, plans: list[RunPlan]) -> list[RunOutcome]:
        return [self.run_one(p) for p in ordered(plans)]

    def run_one(self, plan: RunPlan) -> RunOutcome:
        materialize(plan)
        retry_agent_failure(plan)
        outcome = RunOutcome(plan.run)
        force = set(plan.cfg.force)
        handler = file_handler(plan.run.log_file)
        log.info("run %s", plan.run.path)
        t0 = time.monotonic()
        try:
            for stage in STAGES:
                try:
                    status = run_stage(
                        stage, plan.context(), force="all" in force or stage in force
                    )
                except StageFailed as exc:
                    log.error("%s (details: %s)", exc, plan.run.error_file(stage))
                    outcome.stages[stage], outcome.error = "failed", str(exc)
                    break
                except StageBlocked as exc:
                    outcome.stages[stage], outcome.error = "blocked", str(exc)
                    break
                outcome.stages[stage] = status
                if status == "done":
                    log.info("%s: %s done", plan.run.run_id, stage)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
        outcome.wall_s = round(time.monotonic() - t0, 1)
        return outcome


def retry_agent_failure(plan: RunPlan) -> None:
    """With ``launcher.retry_agent_failures``, move a finished run's failed attempt aside so
    that it runs again (see ``ptb.launch.retry``)."""
    run = plan.run
    if not plan.cfg.launcher.retry_agent_failures or not is_done("score", run):
        return
    why = agent_failure(run)
    if why:
        n = archive_attempt(run, why)
        log.info("%s: the agent failed (%s): attempt %d archived, retrying", run.run_id, why, n)


def file_handler(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    return handler
