"""Schema of the `gateway` group: the key-holding proxy between the agent and its model API."""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("auto", "true", "false")
TRANSPORTS = ("auto", "tcp", "unix")


@dataclass
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cached_input: float | None = None
    """Cache reads; None: billed as ``input``."""
    cache_write: float | None = None
    """Cache writes (Anthropic); None: billed as ``input``."""


@dataclass
class GatewayConfig:
    name: str = "default"
    enabled: str = "auto"
    """true | false | auto (on whenever the agent uses a provider key, ``agent.api_key_env``)."""
    allow_models: list[str] = field(default_factory=list)
    """Models allowed besides ``agent.model_id`` (e.g. a scaffold's small helper model)."""
    max_cost_usd: float | None = None
    """Stop the run once this much has been spent (needs a price for every allowed model)."""
    max_tokens: int | None = None
    """Stop the run once input + output tokens reach this."""
    limit_grace_s: float = 60.0
    """After a limit is reached, how long the agent may take to end on its own before TERM."""
    transport: str = "auto"
    """How the sandbox reaches the gateway: tcp (host loopback; needs sandbox.network=open),
    unix (a socket bound into the sandbox + a forwarder on its loopback), auto (unix when
    sandbox.network=none, else tcp)."""
    log_bodies: bool = False
    """Also write request bodies to ``solve/gateway.bodies.jsonl`` (may be large)."""
    upstream_timeout_s: float = 600.0
    """Longest silence from the upstream before a request fails."""
    start_timeout_s: float = 20.0
    prices: dict[str, Price] = field(default_factory=dict)
    """Model id → price; a model without one is logged with ``cost_usd: null``."""


def gateway_mode(value: object) -> str:
    """``enabled`` as one of MODES (Hydra turns ``gateway.enabled=true`` into a bool first)."""
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise ValueError(f"gateway.enabled={value!r}: expected one of true, false, auto")
    return mode
