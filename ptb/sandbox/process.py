"""Run a command with a hard wall-clock limit enforced from outside: TERM, then KILL.

The child starts in its own session (process group), so the limit reaches everything it spawned.
Output lines (stdout and stderr) are handed to a callback as they arrive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

INTERRUPTED = threading.Event()
"""Set by a scheduler job's signal handler (``ptb.launch.jobs``) when the job is being stopped
(scancel, preemption): the agent's end is then the infrastructure's doing, not the agent's."""


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None
    reason: str
    """finished | timeout | crashed (could not start or died by a signal) | interrupted |
    stopped (the caller's ``stop`` event, e.g. the gateway's usage limit)"""
    wall_s: float
    detail: str | None = None


def _pump(stream: IO[str], name: str, on_line: Callable[[str, str], None]) -> None:
    for line in stream:
        on_line(name, line.rstrip("\n"))
    stream.close()


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _wait(
    proc: subprocess.Popen[str], deadline: float, stop: threading.Event | None
) -> tuple[bool, bool]:
    """Wait for the command to end: (timed out, stopped); both False if it ended by itself."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True, False
        try:
            proc.wait(timeout=remaining if stop is None else min(remaining, 0.25))
            return False, False
        except subprocess.TimeoutExpired:
            if stop is not None and stop.is_set():
                return False, True


def run_limited(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    limit_s: float,
    kill_after_s: float,
    on_line: Callable[[str, str], None],
    stop: threading.Event | None = None,
) -> ExecResult:
    """``stop``, once set, ends the command like the time limit does (TERM, then KILL)."""
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return ExecResult(None, "crashed", 0.0, f"could not start {argv[0]!r}: {exc}")
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(s, n, on_line), daemon=True)
        for s, n in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
    ]
    for t in pumps:
        t.start()
    timed_out = stopped = False
    try:
        timed_out, stopped = _wait(proc, t0 + max(0.0, limit_s), stop)
        if timed_out or stopped:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=kill_after_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
    except BaseException:  # interrupted (Ctrl-C, SLURM signal): take the agent down with us
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
        raise
    _signal_group(proc, signal.SIGKILL)  # stragglers left in the group
    for t in pumps:
        t.join(timeout=5)
    wall = round(time.monotonic() - t0, 2)
    code = proc.returncode
    if INTERRUPTED.is_set():
        return ExecResult(code, "interrupted", wall, "the job was stopped by the scheduler")
    if timed_out:
        return ExecResult(code, "timeout", wall, f"stopped after the {limit_s:.0f}s limit")
    if stopped:
        return ExecResult(code, "stopped", wall, "stopped from outside (see the stage's log)")
    if code is not None and code < 0:
        return ExecResult(code, "crashed", wall, f"killed by signal {-code}")
    return ExecResult(code, "finished", wall)
