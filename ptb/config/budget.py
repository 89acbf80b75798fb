"""Schema of the `budget` group: compute and time given to the agent."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class BudgetConfig:
    name: str = MISSING
    hours: float = MISSING
    gpus: int = 1
    gpu_type: str | None = "h100"
    cpus: int = 16
    mem_gb: int = 128
    disk_gb: int = 400
    grace_minutes: float = 5.0
    """Extra time after ``hours`` before the agent is stopped (TERM, then KILL)."""
    kill_after_s: float = 30.0
    """Seconds between TERM and KILL when the limit is reached."""

    @property
    def limit_s(self) -> float:
        return self.hours * 3600 + self.grace_minutes * 60
