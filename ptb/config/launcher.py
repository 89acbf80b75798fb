"""Schema of the `launcher` group: where the stages run."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class StageResources:
    """What one SLURM job asks for. ``gpus: -1`` and ``time_min: -1`` mean "from the budget"."""

    cpus: int = 2
    mem_gb: int = 8
    gpus: int = 0
    time_min: int = 30
    partition: str | None = None
    """Overrides the launcher's partition for this job."""


@dataclass
class LauncherConfig:
    name: str = MISSING
    impl: str = MISSING
    """Registry key of the launcher (see ``ptb.launch``)."""
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: list[str] = field(default_factory=list)
    """Shell lines run at the start of every job (module loads, venv activation)."""
    jobs: dict[str, StageResources] = field(default_factory=dict)
    """Per job (solve, evaluate, judge, score) resources; solve's come from the budget."""
