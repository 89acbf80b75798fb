"""Which failures a re-submission retries.

Infrastructure failures — a stage that raised (``error.json``), a job that died without finishing
its stage (node failure, time limit, scancel), a void run — are always retried: the stage is not
done, so it runs again. Agent failures are results: the solve stage is done and the run is
scored (with the baseline's score as fallback). They are retried only when asked
(``launcher.retry_agent_failures=true``); the failed attempt is then moved aside, whole, to
``attempts/<n>/`` and the run starts again from prepare in a clean run directory.
"""

from __future__ import annotations

import shutil

from ptb.failures import AGENT, metrics_failure
from ptb.fsutil import write_json
from ptb.records import AgentRetry, ExitRecord, Manifest, MetricsRecord
from ptb.rundir import STAGES, RunDir, now_iso

AGENT_FAILURES = ("crashed", "api_error")
"""``exit.json`` reasons that are the agent's failure (``timeout`` is the budget running out: the
run is scored on whatever ``final_model`` it left)."""
NO_MODEL = ("no_final_model", "eval_failed")
"""``evaluate/metrics.json`` statuses that mean the agent left no usable model."""


def agent_failure(run: RunDir) -> str | None:
    """Why the agent failed this run (``crashed``, ``no_final_model``, ...), or None."""
    if run.exit_file.exists():
        reason = ExitRecord.read(run.exit_file).reason
        if reason in AGENT_FAILURES:
            return reason
    if run.metrics.exists():
        metrics = MetricsRecord.read(run.metrics)
        failure = metrics_failure(metrics)  # an infrastructure failure is retried anyway
        if failure is not None and failure.kind == AGENT and metrics.status in NO_MODEL:
            return metrics.status
    return None


def archive_attempt(run: RunDir, why: str) -> int:
    """Move the run's stage outputs to ``attempts/<n>/`` and mark its stages pending again.

    Returns ``n``. The manifest keeps the attempt counts and gains an ``agent_retries`` list.
    """
    manifest = run.read_manifest()  # copied whole, as it is
    n = len(Manifest.from_json(manifest).agent_retries) + 1
    dest = run.attempts / str(n)
    dest.mkdir(parents=True, exist_ok=True)
    for src in run.stage_outputs:
        if src.exists():
            shutil.move(str(src), str(dest / src.name))
    write_json(RunDir(dest).manifest, manifest)
    with run.editing() as data:
        for stage in STAGES:
            entry = data.get("stages", {}).get(stage)
            if entry and entry.get("status") != "skipped":
                entry.update(status="pending", job_id=None, started=None, ended=None)
        retry = AgentRetry(attempt=n, why=why, at=now_iso())
        data.setdefault("agent_retries", []).append(retry.to_json())
    return n
