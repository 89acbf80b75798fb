"""What the five CLI adapters share: finding the pinned executable, reading a JSON-lines stream,
adding up usage and remembering the last API error.

A subclass says how to run its CLI (``argv``, ``files``, ``env``) and turns one decoded stream
event into transcript events (``on_event``), calling ``add_usage`` and ``api_error`` as it goes.
"""

from __future__ import annotations

import json
import os
import shutil
from abc import abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.sandbox.process import ExecResult
from ptb.scaffolds.base import Ending, Scaffold, SolveContext
from ptb.scaffolds.errors import api_error_kind
from ptb.scaffolds.tools import find_cli, prefix
from ptb.scaffolds.transcript import Transcript

QUIET_ENV = {
    "NO_UPDATE_NOTIFIER": "1",
    "NO_COLOR": "1",
    "DO_NOT_TRACK": "1",
}
"""Switches every Node CLI honours; each adapter adds its vendor's own."""


@dataclass
class Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    turns: int = 0
    tool_calls: int = 0


class CliScaffold(Scaffold):
    """Base of the claude_code, codex_cli, gemini_cli, opencode and qwen_code adapters."""

    def __init__(self, ctx: SolveContext) -> None:
        super().__init__(ctx)
        self.totals = Totals()
        self.error: tuple[str, str] | None = None
        """The last API error seen: (kind, message)."""
        self.final_text: str | None = None
        self.stderr_tail: deque[str] = deque(maxlen=20)

    # -- running

    def executable(self) -> str:
        """The pinned CLI if installed, else its name (found on PATH inside the sandbox)."""
        found = find_cli(self.ctx.cfg.scaffold)
        return str(found) if found else str(self.ctx.cfg.scaffold.cli)

    def runtime_paths(self) -> tuple[Path, ...]:
        """Host folders the sandbox must show read-only: the CLI's own npm prefix, and the
        installation of the ``node`` on PATH (a module or nvm install outside the system
        folders would not be visible in a sandbox that binds an allow-list)."""
        found = find_cli(self.ctx.cfg.scaffold)
        if found is None:
            return ()
        pinned = prefix(self.ctx.cfg.scaffold)
        cli = pinned if found.is_relative_to(pinned) else found.resolve().parent.parent
        node = shutil.which("node")
        return (cli, Path(node).resolve().parent.parent) if node else (cli,)

    def env(self) -> dict[str, str]:
        env = dict(QUIET_ENV)
        found = find_cli(self.ctx.cfg.scaffold)
        path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        if found is not None:  # CLIs that re-spawn themselves look for their own name on PATH
            env["PATH"] = f"{found.parent}:{path}"
        return env

    def model(self) -> str:
        model = self.ctx.api.model
        if not model:
            raise ValueError(
                f"agent '{self.ctx.cfg.agent.name}' has no model_id; scaffold="
                f"{self.ctx.cfg.scaffold.name} needs one (agent.model_id=<id>)"
            )
        return model

    # -- reading the stream

    def on_line(self, stream: str, line: str, transcript: Transcript) -> None:
        transcript.raw(stream, line)
        if stream != "stdout":
            if line.strip():
                self.stderr_tail.append(line)
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            if line.strip():
                transcript.event("system", "message", text=line, stream=stream)
            return
        self.on_event(event, transcript)

    @abstractmethod
    def on_event(self, event: dict[str, Any], transcript: Transcript) -> None:
        """Turn one decoded stream event into transcript events."""

    def add_usage(
        self,
        transcript: Transcript,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        cost_usd: float | None = None,
        turns: int = 0,
        record: bool = True,
    ) -> None:
        t = self.totals
        t.input_tokens += int(input_tokens or 0)
        t.output_tokens += int(output_tokens or 0)
        t.cached_tokens += int(cached_tokens or 0)
        t.reasoning_tokens += int(reasoning_tokens or 0)
        t.turns += turns
        if cost_usd is not None:
            t.cost_usd = (t.cost_usd or 0.0) + float(cost_usd)
        if record:
            transcript.event(
                "system",
                "usage",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=cached_tokens,
                cost_usd=cost_usd,
            )

    def api_error(self, transcript: Transcript, message: str, status: int | None = None) -> None:
        kind = api_error_kind(message, status)
        self.error = (kind, message)
        transcript.event("system", "error", error=kind, status=status, text=message)

    def tool_call(self, transcript: Transcript, name: str, args: Any, call_id: str | None) -> None:
        self.totals.tool_calls += 1
        transcript.event("assistant", "tool_call", tool=name, input=args, id=call_id)

    def tool_result(
        self, transcript: Transcript, output: Any, call_id: str | None, **extra: Any
    ) -> None:
        transcript.event("tool", "tool_result", output=_text(output), id=call_id, **extra)

    def message(self, transcript: Transcript, text: str, role: str = "assistant") -> None:
        if role == "assistant":
            self.final_text = text
        transcript.event(role, "message", text=text)

    # -- the end

    def usage(self, transcript: Transcript, result: ExecResult) -> dict[str, Any]:
        t = self.totals
        return {
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "cached_tokens": t.cached_tokens,
            "reasoning_tokens": t.reasoning_tokens,
            "cost_usd": t.cost_usd,
            "turns": t.turns,
            "tool_calls": t.tool_calls,
            "wall_s": result.wall_s,
            "scaffold": self.ctx.cfg.scaffold.name,
            "model": self.ctx.api.model,
        }

    def classify(self, result: ExecResult, transcript: Transcript) -> Ending:
        kind, message = self.error or (None, None)
        if result.reason != "finished":
            return Ending(result.reason, kind, message or result.detail)
        if self.error is not None and self.ended_in_error(result):
            return Ending("api_error", kind, message)
        if result.exit_code == 0:
            return Ending("finished")
        tail = " | ".join(list(self.stderr_tail)[-3:]) or None
        return Ending("crashed", None, tail)

    def ended_in_error(self, result: ExecResult) -> bool:
        """Whether the recorded API error ended the run (not one the CLI recovered from).
        Default: the CLI exited non-zero; CLIs that exit 0 on API errors override this."""
        return result.exit_code != 0


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # Anthropic-style content blocks
        parts = [b.get("text", "") if isinstance(b, dict) else str(b) for b in value]
        return "\n".join(p for p in parts if p)
    return json.dumps(value, default=str)
