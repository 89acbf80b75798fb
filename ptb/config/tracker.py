"""Schema of the `tracker` group: experiment logging."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class TrackerConfig:
    name: str = MISSING
    impl: str = MISSING
    """wandb | none."""
    project: str = "ptb"
    entity: str | None = None
    mode: str = "offline"
    """offline (no account needed; ``wandb sync`` later) | online | disabled."""
