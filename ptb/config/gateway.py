"""Schema of the `gateway` group: the key-holding proxy between the agent and its model API."""

from __future__ import annotations

from dataclasses import dataclass, field

from ptb.config.choices import GATEWAY_MODES

MODES = GATEWAY_MODES


PRICE_FIELDS = {"input", "output", "cached_input", "cache_write"}
"""US$ per million tokens: ``input`` and ``output`` are required; ``cached_input`` (cache reads)
and ``cache_write`` (Anthropic's cache writes) default to ``input``."""


@dataclass
class GatewayConfig:
    name: str = "default"
    enabled: str = "auto"
    """true | false | auto: the agent's route whenever the agent uses a provider key
    (``agent.api_key_env``), the grader route (evaluate.py's) whenever the task is model-graded."""
    allow_models: list[str] = field(default_factory=list)
    """Models allowed besides ``agent.model_id`` (e.g. a scaffold's small helper model)."""
    max_cost_usd: float | None = None
    """Stop the run once this much has been spent (needs a price for every allowed model)."""
    max_tokens: int | None = None
    """Stop the run once input + output tokens reach this."""
    limit_grace_s: float = 60.0
    """After a limit is reached, how long the agent may take to end on its own before TERM."""
    log_bodies: bool = False
    """Also write request bodies to ``solve/gateway.bodies.jsonl`` (may be large)."""
    upstream_timeout_s: float = 600.0
    """Longest silence from the upstream before a request fails."""
    start_timeout_s: float = 20.0
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    """Model id → {input, output, cached_input?, cache_write?} in US$ per million tokens (plain
    mappings, so ``+gateway.prices.my-model={input:1,output:2}`` works on the command line);
    a model without one is logged with ``cost_usd: null``."""

    def __post_init__(self) -> None:
        self.enabled = gateway_mode(self.enabled)


def price_problems(prices: dict[str, dict[str, float]]) -> list[str]:
    """Misspelt or missing fields of the price table, one message per model."""
    problems = []
    for model, price in prices.items():
        unknown = sorted(set(price) - PRICE_FIELDS)
        missing = sorted({"input", "output"} - set(price))
        if unknown or missing:
            problems.append(
                f"gateway.prices.{model}: "
                + "; ".join(
                    ([f"unknown {', '.join(unknown)}"] if unknown else [])
                    + ([f"missing {', '.join(missing)}"] if missing else [])
                )
                + f" (fields: {', '.join(sorted(PRICE_FIELDS))})"
            )
    return problems


def gateway_mode(value: object) -> str:
    """``enabled`` as one of MODES (Hydra turns ``gateway.enabled=true`` into a bool first)."""
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise ValueError(f"gateway.enabled={value!r}: expected one of {', '.join(MODES)}")
    return mode
