"""Schema of the `judge` group: the integrity checks run after the agent."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class JudgeConfig:
    name: str = MISSING
    checks: list[str] = field(default_factory=list)
    """Registry keys of the deterministic checks (see ``ptb.judge``), run in order."""
