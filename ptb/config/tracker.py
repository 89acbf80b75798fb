"""Schema of the `tracker` group: experiment logging."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from ptb.config.choices import TrackerMode


@dataclass
class TrackerConfig:
    name: str = MISSING
    impl: str = MISSING
    """wandb | none."""
    project: str = "ptb"
    entity: str | None = None
    mode: TrackerMode = TrackerMode.offline
    """offline (no account needed; ``wandb sync`` later) | online | disabled."""
