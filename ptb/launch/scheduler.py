"""What SLURM says about jobs: one ``squeue`` (and ``sacct`` for finished jobs) per question,
however many jobs, so that re-submitting or inspecting a 1,800-run sweep stays fast.

Job ids are as ptb records them: ``123`` for a job, ``123_4`` for task 4 of array 123. Without
the SLURM client (or when it fails) every answer is empty: callers treat unknown jobs as gone.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

LIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING",
               "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED"}  # fmt: skip
STUCK_REASONS = {"DependencyNeverSatisfied"}
"""Reasons a pending job will never start by itself."""
_CHUNK = 500  # ids per command line


@dataclass(frozen=True)
class JobState:
    state: str
    """SLURM's state name (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...)."""
    reason: str = ""

    @property
    def stuck(self) -> bool:
        return self.state == "PENDING" and self.reason in STUCK_REASONS

    @property
    def live(self) -> bool:
        """Queued or running, and able to start (not behind a failed dependency)."""
        return self.state in LIVE_STATES and not self.stuck


def available() -> bool:
    return shutil.which("squeue") is not None


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout if out.returncode == 0 else ""


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def queue_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """States of the given jobs that are still in the queue (``squeue``)."""
    ids = sorted({str(j) for j in job_ids if j})
    if not ids or not available():
        return {}
    states: dict[str, JobState] = {}
    for chunk in _chunks(ids):
        # -r lists every array task on its own line (a pending array is one line otherwise).
        out = _run(["squeue", "-h", "-r", "-o", "%i|%T|%r", "-j", ",".join(chunk)])
        for line in out.splitlines():
            job, state, reason = [*line.split("|"), "", ""][:3]
            states[job.strip()] = JobState(state.strip(), reason.strip())
    wanted = set(ids)
    return {j: s for j, s in states.items() if j in wanted}


def accounting_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """Final (or current) states from accounting (``sacct``), for jobs that left the queue."""
    ids = sorted({str(j) for j in job_ids if j})
    if not ids or shutil.which("sacct") is None:
        return {}
    states: dict[str, JobState] = {}
    for chunk in _chunks(ids):
        out = _run(["sacct", "-n", "-X", "-P", "-o", "JobID,State,Reason", "-j", ",".join(chunk)])
        for line in out.splitlines():
            job, state, reason = [*line.split("|"), "", ""][:3]
            # "CANCELLED by 0" -> CANCELLED
            states[job.strip()] = JobState(state.split()[0] if state else "", reason.strip())
    wanted = set(ids)
    return {j: s for j, s in states.items() if j in wanted}


def job_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """The queue's view where the job is queued, accounting's otherwise."""
    ids = sorted({str(j) for j in job_ids if j})
    states = queue_states(ids)
    rest = [j for j in ids if j not in states]
    states.update(accounting_states(rest))
    return states


def cancel(job_ids: Iterable[str]) -> None:
    ids = sorted({str(j) for j in job_ids if j})
    if not ids or shutil.which("scancel") is None:
        return
    for chunk in _chunks(ids):
        _run(["scancel", *chunk])
