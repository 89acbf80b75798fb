"""Schema of the `sandbox` group: how the agent is isolated."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from ptb.config.choices import Network


@dataclass
class SandboxConfig:
    name: str = MISSING
    impl: str = MISSING
    """Registry key of the backend (see ``ptb.sandbox``)."""
    network: Network = Network.open
    """none (loopback only) | egress | host | open (the paper's setting; older name of host);
    any other value fails at compose time."""
    image: str | None = None
    env_allowlist: list[str] = field(
        default_factory=lambda: ["PATH", "LANG", "LC_ALL", "TZ", "TERM", "CUDA_VISIBLE_DEVICES"]
    )
    """Host variables copied into the sandbox; everything else is cleared."""
    binds: list[str] = field(default_factory=list)
    monitor_interval_s: float = 30.0
    """How often the system monitor samples CPU/memory/disk/GPU into ``solve/monitor.jsonl``."""
    gpu_check_timeout_s: float = 180.0
    """Limit for the GPU check run inside the sandbox before the agent starts."""
