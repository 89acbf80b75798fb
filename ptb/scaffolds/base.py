"""The scaffold interface: what to run, what to place in HOME, how to read the stream and how
the run ended."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ptb.config.root import RunConfig
from ptb.sandbox.process import ExecResult
from ptb.scaffolds.endpoint import Endpoint, endpoint_for
from ptb.scaffolds.transcript import Transcript

CONTINUE_PROMPT = (
    "You still have about {minutes} minutes of your time budget. Keep improving the model in "
    "`final_model` (check the time with `bash timer.sh`); the same rules apply."
)
"""What reprompt mode (``scaffold.reprompt_min_minutes``) says when it resumes the agent."""


@dataclass(frozen=True)
class SolveContext:
    cfg: RunConfig
    home: Path
    """The agent's HOME (job directory)."""
    task_dir: Path
    """The agent's starting directory inside HOME."""
    base_model: str
    """How the agent refers to the base model: a hub id, or a local folder for built models."""
    prompt: str
    python: str
    """The Python interpreter the agent's environment provides."""
    endpoint: Endpoint | None = None
    """The model API and the name of its key variable (None: built from ``cfg.agent``)."""

    @property
    def api(self) -> Endpoint:
        return self.endpoint or endpoint_for(self.cfg.agent)


@dataclass(frozen=True)
class Ending:
    """How the agent's run ended, for ``exit.json``."""

    reason: str
    """finished | timeout | crashed | api_error; the solve stage also sets void, interrupted and
    usage_limit."""
    api_error: str | None = None
    """For ``api_error``: auth | rate_limit | overloaded | quota | other."""
    message: str | None = None
    """The scaffold's own words for the error, if any."""


class Scaffold(ABC):
    """One adapter per harness (claude_code, codex_cli, ..., recipe)."""

    key_var: ClassVar[str | None] = None
    """The variable the CLI reads its key from inside the sandbox (``ANTHROPIC_API_KEY``); the
    solve stage puts the value of ``endpoint.api_key_env`` there. None: the key keeps its own
    name (the CLI is told which variable to read, e.g. Codex ``env_key``)."""

    prompt_note: ClassVar[str] = ""
    """Scaffold-specific lines appended to the task prompt."""

    def __init__(self, ctx: SolveContext) -> None:
        self.ctx = ctx

    def files(self) -> dict[str, str]:
        """Text files to create, relative to HOME (CLI settings, scripts)."""
        return {}

    def binary_files(self) -> dict[str, bytes]:
        """Executables to place, relative to HOME (made executable)."""
        return {}

    def secret_files(self) -> dict[str, Path]:
        """Credential files copied into HOME for this run only (relative path → host source);
        removed from the workspace afterwards, and copied back if the CLI refreshed them."""
        return {}

    @abstractmethod
    def argv(self) -> list[str]:
        """The command, as an argv list; never contains a secret."""

    def resume_argv(self, prompt: str) -> list[str] | None:
        """The command that continues the last session with ``prompt`` (reprompt mode);
        None if the scaffold cannot resume."""
        return None

    def continue_prompt(self, minutes_left: float) -> str:
        return CONTINUE_PROMPT.format(minutes=int(minutes_left))

    def runtime_paths(self) -> tuple[Path, ...]:
        """Host folders the sandbox must show read-only for this scaffold (its CLI's install)."""
        return ()

    def env(self) -> dict[str, str]:
        """Extra environment (names of keys are resolved by the solve stage, not here)."""
        return {}

    def key_target(self) -> str | None:
        """Where the solve stage puts the key's value inside the sandbox."""
        return self.key_var or self.ctx.api.api_key_env

    @abstractmethod
    def on_line(self, stream: str, line: str, transcript: Transcript) -> None:
        """Turn one output line into normalised transcript events."""

    def usage(self, transcript: Transcript, result: ExecResult) -> dict[str, Any]:
        """Token and cost totals for ``usage.json``."""
        return {
            "input_tokens": 0,
            "output_tokens": 0,
            "cached_tokens": 0,
            "cost_usd": 0.0,
            "turns": 0,
            "wall_s": result.wall_s,
        }

    def classify(self, result: ExecResult, transcript: Transcript) -> Ending:
        """How the run ended: the reason (and API error kind) recorded in ``exit.json``."""
        if result.reason != "finished":
            return Ending(result.reason)
        return Ending("finished" if result.exit_code == 0 else "crashed")
