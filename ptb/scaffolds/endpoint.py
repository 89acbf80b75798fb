"""Where the agent's model API is and which variable holds its key: decided once, per run.

The solve stage builds one ``Endpoint`` from the agent config (``agent.base_url``,
``agent.api_key_env``, ``agent.login``) and hands it to the adapter in ``SolveContext.endpoint``.
Adapters read the base URL and the key's *name* only from there, so a gateway can substitute its
own URL and a per-run token (``Endpoint.replace(base_url=..., api_key_env=...)``) without any
adapter knowing. The key's *value* never passes through an adapter: the solve stage copies it from
the host environment into the sandbox environment under the name the CLI reads
(``Scaffold.key_var``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ptb.config.agent import AgentConfig

LOGIN_MODES = ("api_key", "subscription")


@dataclass(frozen=True)
class Endpoint:
    base_url: str | None
    """The API root the CLI talks to; None: the vendor's default."""
    api_key_env: str | None
    """Name of the host variable holding the key or subscription token; None: no key."""
    model: str | None
    """The model id sent on the wire."""
    login: str = "api_key"
    """api_key | subscription (Claude OAuth token, Codex ChatGPT login)."""
    credentials_file: str | None = None
    """For subscription logins that live in a file (Codex ``auth.json``): its host path."""

    def replace(self, **changes: object) -> Endpoint:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def loopback_port(self) -> int | None:
        """The port when ``base_url`` is on this host's loopback (127.0.0.1, localhost, ::1)."""
        if not self.base_url:
            return None
        parts = urlsplit(self.base_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return None
        return parts.port or (443 if parts.scheme == "https" else 80)


def endpoint_for(agent: AgentConfig) -> Endpoint:
    if agent.login not in LOGIN_MODES:
        raise ValueError(f"agent.login={agent.login!r}: expected one of {', '.join(LOGIN_MODES)}")
    return Endpoint(
        base_url=agent.base_url,
        api_key_env=agent.api_key_env,
        model=agent.model_id,
        login=agent.login,
        credentials_file=agent.credentials_file,
    )


def key_value(endpoint: Endpoint, environ: Mapping[str, str]) -> str | None:
    """The key from the host environment; a clear error when the named variable is unset."""
    name = endpoint.api_key_env
    if not name:
        return None
    if not environ.get(name):
        raise RuntimeError(f"{name} is unset: export it before starting the run")
    return environ[name]
