"""What a scheduler job runs: some stages of one run, from its saved config.

Jobs receive only the run directory (a path), never a config object: the run directory is the
contract, so a job works the same on any node and after any resubmission. Which stages each job
runs and which jobs it waits for come from the stage table (``ptb.rundir.JOB_STAGES``,
``JOB_NEEDS``). A job whose stages are all skipped (retention without a suite) is not submitted
and not waited for.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from ptb.launch.local import file_handler
from ptb.plan import baseline_run_of, load_saved_config
from ptb.rundir import RunDir
from ptb.sandbox.process import INTERRUPTED
from ptb.stages import StageContext, run_stage

RESOURCES_FROM = {"retention": "evaluate"}
"""A job without its own ``launcher.jobs`` entry takes these jobs' resources."""


def _note_stop(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        INTERRUPTED.set()
        if callable(previous):
            previous(signum, frame)

    return handler


def run_job_stages(run_dir: str, stages: list[str], force: bool = False) -> dict[str, str]:
    """Run ``stages`` of the run at ``run_dir`` in order; returns each stage's status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # scancel/preemption send TERM to every process of the job, the agent's included: remember
    # it, so the solve stage records an interruption (retried) rather than an agent crash.
    signal.signal(signal.SIGTERM, _note_stop(signal.getsignal(signal.SIGTERM)))
    run = RunDir(Path(run_dir))
    cfg = load_saved_config(run)
    ctx = StageContext(cfg, run, baseline_run_of(run, cfg))
    job_id = _job_id()
    handler = file_handler(run.log_file)
    try:
        logging.getLogger("ptb").info(
            "job %s (restart %s): %s stages %s (CUDA_VISIBLE_DEVICES=%s)", job_id,
            os.environ.get("SLURM_RESTART_COUNT", "0"), run.run_id, stages,
            os.environ.get("CUDA_VISIBLE_DEVICES"),
        )  # fmt: skip
        return {s: run_stage(s, ctx, force=force, job_id=job_id) for s in stages}
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _job_id() -> str | None:
    """The id ptb recorded at submission: ``<array>_<task>`` for a task of a job array."""
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    if task is not None and os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{task}"
    return os.environ.get("SLURM_JOB_ID")
