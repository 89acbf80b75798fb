"""The scaffold interface: what to run, what to place in HOME, how to read the stream."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.config.root import RunConfig
from ptb.sandbox.process import ExecResult
from ptb.scaffolds.transcript import Transcript


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
    base_url: str | None = None
    """The model API's base URL as the agent must use it: the run's gateway when it is on
    (its key variable then holds a dummy token), else ``agent.base_url`` (None: the CLI's own)."""


class Scaffold(ABC):
    """One adapter per harness (claude_code, codex_cli, ..., recipe)."""

    def __init__(self, ctx: SolveContext) -> None:
        self.ctx = ctx

    def files(self) -> dict[str, str]:
        """Text files to create, relative to HOME (CLI settings, scripts)."""
        return {}

    def binary_files(self) -> dict[str, bytes]:
        """Executables to place, relative to HOME (made executable)."""
        return {}

    @abstractmethod
    def argv(self) -> list[str]:
        """The command, as an argv list; never contains a secret."""

    def env(self) -> dict[str, str]:
        """Extra environment (names of keys are resolved by the solve stage, not here)."""
        return {}

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

    def classify(self, result: ExecResult, transcript: Transcript) -> str:
        """finished | timeout | crashed | api_error — the reason recorded in ``exit.json``."""
        if result.reason != "finished":
            return result.reason
        return "finished" if result.exit_code == 0 else "crashed"
