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
    hold: bool = False
    """Queue the jobs held (``sbatch --hold``): inspect the sweep, then ``scontrol release``."""
    arrays: bool = True
    """Submit the runs of a sweep as job arrays, one per job kind and shape (``false``: one
    ``sbatch`` per job)."""
    array_parallelism: int = 256
    """At most this many tasks of one array run at once (``--array=0-N%<this>``)."""
    requeue: list[str] = field(default_factory=lambda: ["solve", "evaluate", "retention"])
    """Jobs submitted with ``--requeue``: SLURM requeues them after a preemption or node
    failure and they continue in the same run directory."""
    retry_agent_failures: bool = False
    """Re-submitting re-runs only infrastructure failures. ``true`` also retries runs whose agent
    failed (solve ``crashed``/``api_error``, or no usable final model): the failed attempt is
    moved to ``attempts/<n>/`` and the run starts again from prepare."""
