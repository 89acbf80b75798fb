"""Schema of the `launcher` group: where the stages run."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class LauncherConfig:
    name: str = MISSING
    impl: str = MISSING
    """Registry key of the launcher (see ``ptb.launch``)."""
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
