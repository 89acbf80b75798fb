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

from omegaconf import OmegaConf

from ptb.config.gateway import gateway_mode, price_problems
from ptb.config.root import RunConfig
from ptb.gateway.process import GatewayProcess
from ptb.rundir import RunDir

PROVIDER_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "google": "https://generativelanguage.googleapis.com",
}
"""Each provider's base URL in the form its CLIs take it (OpenAI's includes ``/v1``)."""
GRADER_URL_ENV = "PTB_GRADER_BASE_URL"
GRADER_TOKEN_ENV = "PTB_GRADER_TOKEN"
"""Where evaluate.py inside the sandbox finds the grader route: its URL and per-run token."""

log = logging.getLogger(__name__)


class SetupError(ValueError):
    """A gateway setting that cannot work, with its fix."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what} (fix: {fix})")
        self.what, self.fix = what, fix


def agent_route(cfg: RunConfig) -> bool:
    """Whether the agent's own model calls go through the gateway: ``gateway.enabled=true``, or
    ``auto`` and the agent's credential is a token in an environment variable (an API key, or a
    subscription token; not a login file). Baseline runs have no agent at work."""
    mode = gateway_mode(cfg.gateway.enabled)
    if cfg.agent.kind == "baseline" or mode == "false":
        return False
    if mode == "auto":
        return cfg.agent.kind == "llm" and bool(cfg.agent.api_key_env) and token_login(cfg)
    return True


def token_login(cfg: RunConfig) -> bool:
    """The agent's credential is one token in an environment variable, sent as a header: an API
    key, or a subscription token such as Claude's OAuth token (``CLAUDE_CODE_OAUTH_TOKEN``), which
    the gateway swaps in like a key. A login kept in a file with its own refresh cycle (Codex's
    ``auth.json``) cannot be held outside the sandbox."""
    return cfg.agent.login == "api_key" or not cfg.agent.credentials_file


def grader_route(cfg: RunConfig) -> bool:
    """Whether the run has a grader route: on a model-graded task (``task.eval.grader_model``) the
    agent's evaluate.py reaches the grader only through the gateway, which passes the task's own
    grader requests and returns their verdicts alone (``ptb.tasks.grader_gate``)."""
    mode = gateway_mode(cfg.gateway.enabled)
    return cfg.agent.kind != "baseline" and mode != "false" and bool(cfg.task.eval.grader_model)


def is_enabled(cfg: RunConfig) -> bool:
    """``gateway.enabled``: whether the run starts a gateway (for the agent, the grader or both)."""
    return agent_route(cfg) or grader_route(cfg)


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
    problems = [
        (what, "fix the entry in conf/gateway/ or on the command line")
        for what in price_problems(cfg.gateway.prices)
    ]
    priced = []  # the models a cost limit must be able to price
    if grader_route(cfg):
        problems += grader_problems(cfg)
        priced.append(str(cfg.task.eval.grader_model))
    if agent_route(cfg):
        problems += agent_problems(cfg)
        priced = allowed_models(cfg) + priced
    if cfg.gateway.max_cost_usd is not None:
        missing = [m for m in dict.fromkeys(priced) if m not in cfg.gateway.prices]
        if missing:
            problems.append(
                (
                    f"gateway.max_cost_usd needs a price for {', '.join(missing)}",
                    "add gateway.prices.<model> (conf/gateway/default.yaml)",
                )
            )
    return problems


def agent_problems(cfg: RunConfig) -> list[tuple[str, str]]:
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
    if not token_login(cfg):
        problems.append(
            (
                f"gateway.enabled=true but agent {cfg.agent.name} logs in with a file "
                f"(agent.credentials_file={cfg.agent.credentials_file}): the gateway holds tokens "
                "from environment variables, not login files",
                "use an API key or a token login (agent.api_key_env), or gateway.enabled=false",
            )
        )
    if not allowed_models(cfg):
        problems.append(
            ("the gateway would allow no model", "set agent.model_id or gateway.allow_models")
        )
    return problems


def grader_problems(cfg: RunConfig) -> list[tuple[str, str]]:
    """A grader route needs the task's grader gate (its key is the preflight's
    ``check_task_grader``: the evaluate stage needs it with or without a gateway)."""
    from ptb.tasks import TASKS
    from ptb.tasks.base import ModelGradedTask

    if cfg.task.impl in TASKS.names() and not issubclass(
        TASKS.load(cfg.task.impl), ModelGradedTask
    ):
        return [
            (
                f"task.eval.grader_model is set, but task {cfg.task.name} has no grader requests "
                "(its implementation is no ModelGradedTask)",
                "drop task.eval.grader_model, or use a model-graded task",
            )
        ]
    return []


@dataclass
class RunGateway:
    process: GatewayProcess
    port: int
    token: str | None
    """The dummy token the agent gets in place of its key (None: no agent route)."""
    base_url: str | None
    """The agent's base URL, as seen from inside the sandbox: a loopback URL, so the solve
    stage relays the gateway's port into a sandbox with ``network=none``."""
    grader_token: str | None = None
    """The token of the grader route (evaluate.py's), None without one."""
    grader_base_url: str | None = None

    def sandbox_env(self) -> dict[str, str]:
        """What the sandbox learns of the gateway besides the agent's key variable."""
        env = {}
        if self.base_url:
            env["PTB_GATEWAY_URL"] = self.base_url
        if self.grader_base_url and self.grader_token:
            env[GRADER_URL_ENV] = self.grader_base_url
            env[GRADER_TOKEN_ENV] = self.grader_token
        return env


@contextlib.contextmanager
def open_gateway(cfg: RunConfig, run: RunDir) -> Iterator[RunGateway | None]:
    """Start the run's gateway (or yield None when it is off); stop it on exit. It logs to
    ``run.gateway_log``, its own stderr to ``run.gateway_stderr``."""
    if not is_enabled(cfg):
        yield None
        return
    problems = check(cfg)
    if problems:
        raise ValueError("; ".join(f"{what} (fix: {fix})" for what, fix in problems))
    key_envs = {"agent": cfg.agent.api_key_env, "grader": cfg.task.eval.grader_api_key_env}
    routes = [r for r, on in (("agent", agent_route(cfg)), ("grader", grader_route(cfg))) if on]
    keys: dict[str, str] = {}
    for route in routes:
        if env_name := key_envs[route]:  # a keyless grader (a local server) has none
            keys[route] = os.environ.get(env_name, "")
            if not keys[route]:
                raise RuntimeError(f"{env_name} is unset: export it before starting the run")
    tokens = {route: "ptb-gw-" + secrets.token_urlsafe(24) for route in routes}
    settings = gateway_settings(cfg, run.gateway_log, keys, tokens)
    process = GatewayProcess(settings, run.gateway_stderr, cfg.gateway.start_timeout_s)
    try:
        process.start()
        assert process.port is not None
        origin = f"http://127.0.0.1:{process.port}"
        agent_url = grader_url = None
        if "agent" in tokens:
            agent_url = origin + urlsplit(upstream_url(cfg)).path.rstrip("/")
        if "grader" in tokens:
            grader_url = origin + urlsplit(cfg.task.eval.grader_base_url).path.rstrip("/")
        yield RunGateway(
            process,
            process.port,
            tokens.get("agent"),
            agent_url,
            tokens.get("grader"),
            grader_url,
        )
    finally:
        process.stop()


def gateway_settings(
    cfg: RunConfig, log_path: Path, keys: dict[str, str], tokens: dict[str, str]
) -> dict[str, Any]:
    """What ``ptb.gateway.server`` reads on its stdin (the only place the keys travel).
    ``tokens``: the routes to open (``agent``, ``grader``) and their dummy tokens."""
    gw = cfg.gateway
    routes: list[dict[str, Any]] = []
    if "agent" in tokens:
        routes.append(
            {
                "name": "agent",
                "token": tokens["agent"],
                "upstream": upstream_url(cfg),
                "key": keys.get("agent", ""),
                "allow_models": allowed_models(cfg),
            }
        )
    if "grader" in tokens:
        from ptb.tasks.grader_api import grader_settings

        spec = cfg.task.eval
        max_tokens, effort = grader_settings(spec, cfg.protocol.name)
        routes.append(
            {
                "name": "grader",
                "token": tokens["grader"],
                "upstream": spec.grader_base_url.rstrip("/"),
                "key": keys.get("grader", ""),
                "allow_models": [spec.grader_model],
                "grader": {
                    "task": OmegaConf.to_container(
                        OmegaConf.structured(cfg.task), enum_to_str=True
                    ),
                    "protocol": cfg.protocol.name,
                    "max_tokens": max_tokens,
                    "reasoning_effort": effort,
                },
            }
        )
    return {
        "routes": routes,
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
