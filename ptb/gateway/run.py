"""The gateway of one run: whether it is on, where it points, and its lifetime in the solve stage.

The agent's key variable (``agent.api_key_env``) holds a per-run dummy token inside the sandbox,
and its base URL points at the gateway with the upstream's own path kept
(``https://api.openai.com/v1`` → ``http://127.0.0.1:<port>/v1``), so every CLI builds the same
request paths as it would against the real API.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ptb.config.gateway import gateway_mode, price_problems
from ptb.config.root import RunConfig
from ptb.gateway.process import GatewayProcess

PROVIDER_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "google": "https://generativelanguage.googleapis.com",
}
"""Each provider's base URL in the form its CLIs take it (OpenAI's includes ``/v1``)."""
LOG_NAME = "gateway.jsonl"

log = logging.getLogger(__name__)


class SetupError(ValueError):
    """A gateway setting that cannot work, with its fix."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what} (fix: {fix})")
        self.what, self.fix = what, fix


def is_enabled(cfg: RunConfig) -> bool:
    """``gateway.enabled``; ``auto`` means on whenever the agent uses a provider API key (not a
    subscription login). Baseline runs have no agent at work, so no gateway."""
    mode = gateway_mode(cfg.gateway.enabled)
    if cfg.agent.kind == "baseline":
        return False
    if mode == "auto":
        api_key = cfg.agent.login == "api_key"  # subscription logins are not proxied (yet)
        return cfg.agent.kind == "llm" and bool(cfg.agent.api_key_env) and api_key
    return mode == "true"


def upstream_url(cfg: RunConfig) -> str:
    agent = cfg.agent
    url = agent.base_url or PROVIDER_URLS.get(agent.provider or "")
    if not url:
        raise SetupError(
            f"the gateway has no upstream for agent {agent.name} (provider {agent.provider!r} "
            f"has no default URL; known: {', '.join(PROVIDER_URLS)})",
            "set agent.base_url",
        )
    return url.rstrip("/")


def allowed_models(cfg: RunConfig) -> list[str]:
    models = [cfg.agent.model_id] if cfg.agent.model_id else []
    return list(dict.fromkeys(models + list(cfg.gateway.allow_models)))


def check(cfg: RunConfig) -> list[tuple[str, str]]:
    """(problem, fix) pairs that stop the run before anything starts (the preflight's)."""
    try:
        if not is_enabled(cfg):
            return []
    except ValueError as exc:
        return [(str(exc), "use gateway.enabled=true, false or auto")]
    problems = []
    try:
        upstream_url(cfg)
    except SetupError as exc:
        problems.append((exc.what, exc.fix))
    if not cfg.agent.api_key_env:
        problems.append(
            (
                f"gateway.enabled=true but agent {cfg.agent.name} names no key",
                "set agent.api_key_env, or gateway.enabled=auto",
            )
        )
    if cfg.agent.login != "api_key":
        problems.append(
            (
                f"gateway.enabled=true but agent.login={cfg.agent.login}: the gateway passes API "
                "keys only, not subscription logins",
                "use an API key (agent.login=api_key) or gateway.enabled=false",
            )
        )
    if not allowed_models(cfg):
        problems.append(
            ("the gateway would allow no model", "set agent.model_id or gateway.allow_models")
        )
    problems += [
        (what, "fix the entry in conf/gateway/ or on the command line")
        for what in price_problems(cfg.gateway.prices)
    ]
    if cfg.gateway.max_cost_usd is not None:
        missing = [m for m in allowed_models(cfg) if m not in cfg.gateway.prices]
        if missing:
            problems.append(
                (
                    f"gateway.max_cost_usd needs a price for {', '.join(missing)}",
                    "add gateway.prices.<model> (conf/gateway/default.yaml)",
                )
            )
    return problems


@dataclass
class RunGateway:
    process: GatewayProcess
    token: str
    """The dummy token the agent gets in place of its key."""
    key_env: str
    base_url: str
    """The agent's base URL, as seen from inside the sandbox: a loopback URL, so the solve
    stage's ``forwards_for`` relays it into a sandbox with ``network=none``."""


@contextlib.contextmanager
def open_gateway(cfg: RunConfig, solve_dir: Path) -> Iterator[RunGateway | None]:
    """Start the run's gateway (or yield None when it is off); stop it on exit."""
    if not is_enabled(cfg):
        yield None
        return
    problems = check(cfg)
    if problems:
        raise ValueError("; ".join(f"{what} (fix: {fix})" for what, fix in problems))
    key_env = str(cfg.agent.api_key_env)
    key = os.environ.get(key_env)
    if not key:
        raise RuntimeError(f"{key_env} is unset: export it before starting the run")
    token = "ptb-gw-" + secrets.token_urlsafe(24)
    settings = gateway_settings(cfg, solve_dir / LOG_NAME, key, token)
    process = GatewayProcess(settings, solve_dir / "gateway.log", cfg.gateway.start_timeout_s)
    try:
        process.start()
        assert process.port is not None
        path = urlsplit(upstream_url(cfg)).path.rstrip("/")
        base_url = f"http://127.0.0.1:{process.port}{path}"
        yield RunGateway(process, token, key_env, base_url)
    finally:
        process.stop()


def gateway_settings(cfg: RunConfig, log_path: Path, key: str, token: str) -> dict[str, Any]:
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
        "prices": {m: dict(p) for m, p in gw.prices.items()},
        "max_cost_usd": gw.max_cost_usd,
        "max_tokens": gw.max_tokens,
        "log_bodies": gw.log_bodies,
        "upstream_timeout_s": gw.upstream_timeout_s,
    }


@contextlib.contextmanager
def stop_on_limit(gateway: RunGateway | None, grace_s: float) -> Iterator[threading.Event]:
    """An event the solve stage stops the agent on (as at the time limit: TERM, later KILL):

    - ``grace_s`` after the gateway reports a usage limit, unless the agent ended first. Until
      then every model call is refused with the limit's message, so a CLI usually ends by
      itself; the grace lets it write its last files (final_model) first.
    - at once if the gateway process dies: the agent cannot reach its model any more, and
      the solve stage then fails the stage (an infrastructure failure, retried on re-run).
    """
    stop, done = threading.Event(), threading.Event()

    def watch() -> None:
        assert gateway is not None
        while not done.is_set():
            if not gateway.process.running:
                log.error("the model-API gateway stopped during the run; stopping the agent")
                stop.set()
                return
            if gateway.process.limit.wait(0.1):  # short: the stage waits for this thread
                log.warning(
                    "gateway: %s; the agent has %.0f s to end before it is stopped",
                    gateway.process.limit_reason,
                    grace_s,
                )
                if not done.wait(grace_s):
                    stop.set()
                return

    thread = threading.Thread(target=watch, daemon=True) if gateway is not None else None
    if thread is not None:
        thread.start()
    try:
        yield stop
    finally:
        done.set()
        if thread is not None:
            thread.join(timeout=5)
