"""Schema of the `scaffold` group: the harness that drives the agent."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class ScaffoldConfig:
    name: str = MISSING
    impl: str = MISSING
    """Registry key of the adapter (see ``ptb.scaffolds``)."""
    cli: str | None = None
    """Executable the adapter runs (``claude``); checked by the preflight."""
    npm_package: str | None = None
    version: str | None = None
    """Pinned CLI version; the preflight's fix names ``npm_package@version``."""
    path: str | None = None
    """For ``scaffold=script``: the executable that is the agent (copied into HOME/bin)."""
    reprompt_min_minutes: float | None = None
    """Resume the agent while at least this many minutes remain (None: never)."""
    max_retries: int | None = None
    """How often the CLI retries a failed API call (None: the CLI's own default)."""
