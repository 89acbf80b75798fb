"""The gateway of one run: whether it is on, where it points, and its lifetime in the solve stage.

The agent's key variable (``agent.api_key_env``) holds a per-run dummy token inside the sandbox,
and its base URL points at the gateway with the upstream's own path kept
(``https://api.openai.com/v1`` → ``http://127.0.0.1:<port>/v1``), so every CLI builds the same
request paths as it would against the real API.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ptb.config.gateway import TRANSPORTS, gateway_mode
from ptb.config.root import RunConfig
from ptb.gateway.process import GatewayProcess
from ptb.sandbox.forward import Forward

PROVIDER_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "google": "https://generativelanguage.googleapis.com",
}
"""Each provider's base URL in the form its CLIs take it (OpenAI's includes ``/v1``)."""
LOG_NAME = "gateway.jsonl"
SOCKET_NAME = "gw.sock"


def is_enabled(cfg: RunConfig) -> bool:
    """``gateway.enabled``; ``auto`` means on whenever the agent uses a provider key."""
    mode = gateway_mode(cfg.gateway.enabled)
    if mode == "auto":
        return cfg.agent.kind == "llm" and bool(cfg.agent.api_key_env)
    return mode == "true"


def upstream_url(cfg: RunConfig) -> str:
    agent = cfg.agent
    url = agent.base_url or PROVIDER_URLS.get(agent.provider or "")
    if not url:
        raise ValueError(
            f"agent {agent.name}: the gateway needs an upstream; set agent.base_url (provider "
            f"{agent.provider!r} has no default; known: {', '.join(PROVIDER_URLS)})"
        )
    return url.rstrip("/")


def allowed_models(cfg: RunConfig) -> list[str]:
    models = [cfg.agent.model_id] if cfg.agent.model_id else []
    return list(dict.fromkeys(models + list(cfg.gateway.allow_models)))


def transport(cfg: RunConfig) -> str:
    """tcp or unix, checked against the sandbox's network policy."""
    chosen = cfg.gateway.transport
    if chosen not in TRANSPORTS:
        raise ValueError(f"gateway.transport={chosen!r}: expected one of {', '.join(TRANSPORTS)}")
    isolated_net = cfg.sandbox.network == "none" and cfg.sandbox.impl != "none"
    if chosen == "auto":
        return "unix" if isolated_net else "tcp"
    if chosen == "tcp" and isolated_net:
        raise ValueError(
            "gateway.transport=tcp cannot be reached from a sandbox with sandbox.network=none: "
            "use gateway.transport=unix (or auto)"
        )
    return chosen


def check(cfg: RunConfig) -> list[str]:
    """Problems that stop the run before anything starts (used by the preflight too)."""
    if not is_enabled(cfg):
        return []
    problems = []
    try:
        upstream_url(cfg)
        transport(cfg)
    except ValueError as exc:
        problems.append(str(exc))
    if not cfg.agent.api_key_env:
        problems.append(
            f"gateway.enabled=true but agent {cfg.agent.name} names no key (agent.api_key_env)"
        )
    if not allowed_models(cfg):
        problems.append("the gateway allows no model: set agent.model_id or gateway.allow_models")
    if cfg.gateway.max_cost_usd is not None:
        missing = [m for m in allowed_models(cfg) if m not in cfg.gateway.prices]
        if missing:
            problems.append(
                f"gateway.max_cost_usd needs a price for {', '.join(missing)}: add "
                f"gateway.prices.<model> (conf/gateway/default.yaml)"
            )
    return problems


@dataclass
class RunGateway:
    process: GatewayProcess
    token: str
    """The dummy token the agent gets in place of its key."""
    key_env: str
    base_url: str
    """The agent's base URL, as seen from inside the sandbox."""
    forward: Forward | None
    """Set for ``transport=unix``: the sandbox must run the agent under this forwarder."""


@contextlib.contextmanager
def open_gateway(cfg: RunConfig, solve_dir: Path) -> Iterator[RunGateway | None]:
    """Start the run's gateway (or yield None when it is off); stop it on exit."""
    if not is_enabled(cfg):
        yield None
        return
    problems = check(cfg)
    if problems:
        raise ValueError("; ".join(problems))
    key_env = str(cfg.agent.api_key_env)
    key = os.environ.get(key_env)
    if not key:
        raise RuntimeError(f"{key_env} is unset: export it before starting the run")
    mode = transport(cfg)
    sock_dir = Path(tempfile.mkdtemp(prefix="ptb-gw-")) if mode == "unix" else None
    token = "ptb-gw-" + secrets.token_urlsafe(24)
    settings = gateway_settings(cfg, solve_dir / LOG_NAME, key, token, sock_dir)
    process = GatewayProcess(settings, solve_dir / "gateway.log", cfg.gateway.start_timeout_s)
    try:
        process.start()
        assert process.port is not None
        path = urlsplit(upstream_url(cfg)).path.rstrip("/")
        forward = Forward(sock_dir / SOCKET_NAME, process.port) if sock_dir else None
        yield RunGateway(process, token, key_env, f"http://127.0.0.1:{process.port}{path}", forward)
    finally:
        process.stop()
        if sock_dir is not None:
            shutil.rmtree(sock_dir, ignore_errors=True)


def gateway_settings(
    cfg: RunConfig, log_path: Path, key: str, token: str, sock_dir: Path | None
) -> dict[str, Any]:
    """What ``ptb.gateway.server`` reads on its stdin (the only place the key travels)."""
    gw = cfg.gateway
    return {
        "routes": [
            {
                "name": "agent",
                "token": token,
                "upstream": upstream_url(cfg),
                "key": key,
                "allow_models": allowed_models(cfg),
            }
        ],
        "log_path": str(log_path),
        "unix_socket": str(sock_dir / SOCKET_NAME) if sock_dir else None,
        "prices": {m: asdict(p) for m, p in gw.prices.items()},
        "max_cost_usd": gw.max_cost_usd,
        "max_tokens": gw.max_tokens,
        "log_bodies": gw.log_bodies,
        "upstream_timeout_s": gw.upstream_timeout_s,
    }
