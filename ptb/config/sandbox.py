"""Schema of the `sandbox` group: how the agent is isolated."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from ptb.config.choices import Network


@dataclass
class EgressConfig:
    """What ``network=egress`` lets through its logging proxy (``ptb.sandbox.egress``)."""

    allow: list[str] = field(default_factory=list)
    """Host globs the agent may reach (``*.huggingface.co``, ``pypi.org``); empty: any host."""
    deny: list[str] = field(default_factory=list)
    """Host globs refused even when ``allow`` matches."""
    allow_networks: list[str] = field(default_factory=list)
    """CIDRs of non-public addresses that may be reached (a site's package mirror on the LAN);
    loopback, private and link-local addresses are refused otherwise."""


@dataclass
class SandboxConfig:
    name: str = MISSING
    impl: str = MISSING
    """Registry key of the backend (see ``ptb.sandbox``)."""
    network: Network = Network.egress
    """egress (the paper's internet access through a logging proxy; no host services) | none
    (loopback + ptb's relays only) | host (the host's network namespace: debugging only; warns)
    | open (deprecated name of host); any other value fails at compose time."""
    egress: EgressConfig = field(default_factory=EgressConfig)
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
