"""The agent's time budget across the jobs of one solve stage.

A solve job stopped by the scheduler (preemption, node failure, ``scancel``) is requeued or
re-submitted and continues in the same run directory. It continues with what is left of
``budget.hours``, not a fresh budget: every agent in a comparison gets the same time, however
often its jobs were interrupted. The time between the jobs (queueing) does not count.

``solve/clock.json`` holds the agent time used so far and how often the stage resumed. It is
saved every ``SAVE_EVERY_S`` while the agent runs and once when it stops, so a job killed without
warning (a node lost, SIGKILL) loses at most that much of the record: the agent gets at most that
much time twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ptb.fsutil import read_json, write_json

SAVE_EVERY_S = 30.0


class AgentClock:
    def __init__(self, path: Path, save_every_s: float = SAVE_EVERY_S) -> None:
        """``path``: ``RunDir.clock`` (``solve/clock.json``)."""
        self.path = path
        self.save_every_s = save_every_s
        data = read_json(self.path) if self.path.exists() else {}
        self.used_before = float(data.get("used_s", 0.0))
        self.resumes = int(data.get("resumes", -1)) + 1
        self.start = time.time() - self.used_before
        """When the budget started, as if all the time used so far had been used just now."""

    def used_s(self) -> float:
        return time.time() - self.start

    def save(self) -> None:
        write_json(self.path, {"used_s": round(self.used_s(), 1), "resumes": self.resumes})

    @contextmanager
    def running(self) -> Iterator[None]:
        """Save the time used while the agent runs, and once more when it stops."""
        done = threading.Event()

        def tick() -> None:
            while not done.wait(self.save_every_s):
                self.save()

        thread = threading.Thread(target=tick, daemon=True)
        self.save()
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)
            self.save()
