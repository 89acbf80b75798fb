"""``scaffold=claude_code``: Anthropic's Claude Code in print mode with its stream-json output.

Endpoint: ``ANTHROPIC_BASE_URL`` (Anthropic or any Anthropic-compatible vendor, the gateway, a
test server); the key goes in ``ANTHROPIC_API_KEY``, or, for a subscription, the OAuth token in
``CLAUDE_CODE_OAUTH_TOKEN``. An API error ends the stream with ``result`` whose ``subtype`` is
still ``success`` but ``is_error`` is true (and ``api_error_status`` the HTTP status); exit 1.
In print mode Claude may end while processes it started still run, hence the prompt note.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from ptb.scaffolds.cli_scaffold import CliScaffold
from ptb.scaffolds.transcript import Transcript

QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
}


class ClaudeLikeStream(CliScaffold):
    """The stream both Claude Code and Qwen Code print: ``system``/``init``, ``assistant`` and
    ``user`` messages with content blocks, and one ``result`` with totals per session."""

    def on_event(self, event: dict[str, Any], transcript: Transcript) -> None:
        kind = event.get("type")
        if kind == "system":
            self._system(event, transcript)
        elif kind == "assistant":
            for block in (event.get("message") or {}).get("content") or []:
                self._assistant_block(block, transcript)
        elif kind == "user":
            content = (event.get("message") or {}).get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_result":
                    self.tool_result(
                        transcript,
                        block.get("content"),
                        block.get("tool_use_id"),
                        is_error=bool(block.get("is_error")),
                    )
        elif kind == "result":
            self._result(event, transcript)

    def _system(self, event: dict[str, Any], transcript: Transcript) -> None:
        sub = event.get("subtype")
        if sub == "init":
            transcript.event(
                "system",
                "message",
                text=f"session {event.get('session_id')} started, model {event.get('model')}",
            )
        elif sub == "api_retry":
            transcript.event(
                "system",
                "error",
                error="retry",
                status=event.get("error_status"),
                text=f"{event.get('error')} (attempt {event.get('attempt')})",
            )

    def _assistant_block(self, block: dict[str, Any], transcript: Transcript) -> None:
        btype = block.get("type")
        if btype == "text" and block.get("text"):
            self.message(transcript, block["text"])
        elif btype == "tool_use":
            self.tool_call(transcript, block.get("name", "?"), block.get("input"), block.get("id"))

    def _result(self, event: dict[str, Any], transcript: Transcript) -> None:
        usage = event.get("usage") or {}
        cached = int(usage.get("cache_read_input_tokens") or 0)
        self.add_usage(
            transcript,
            input_tokens=int(usage.get("input_tokens") or 0)
            + cached
            + int(usage.get("cache_creation_input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            cached_tokens=cached,
            cost_usd=event.get("total_cost_usd"),
            turns=int(event.get("num_turns") or 0),
        )
        if event.get("is_error"):
            status = event.get("api_error_status")
            self.api_error(transcript, str(event.get("result") or event.get("subtype")), status)


class ClaudeCodeScaffold(ClaudeLikeStream):
    key_var: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    prompt_note: ClassVar[str] = (
        "- Before you finish, wait for every process you started (training runs, evaluations, "
        "background jobs) to end; anything still running when you stop is lost.\n"
    )

    def key_target(self) -> str | None:
        if self.ctx.api.login == "subscription":
            return "CLAUDE_CODE_OAUTH_TOKEN"
        return self.key_var

    def _flags(self) -> list[str]:
        flags = [
            "--print",
            "--verbose",
            "--output-format",
            "stream-json",
            "--dangerously-skip-permissions",
            "--model",
            self.model(),
        ]
        effort = self.ctx.cfg.agent.reasoning_effort
        return [*flags, "--effort", effort] if effort else flags

    def argv(self) -> list[str]:
        return [self.executable(), *self._flags(), self.ctx.prompt]

    def resume_argv(self, prompt: str) -> list[str] | None:
        return [self.executable(), "--continue", *self._flags(), prompt]

    def env(self) -> dict[str, str]:
        env = {**super().env(), **QUIET, "IS_SANDBOX": "1"}
        if self.ctx.api.base_url:
            env["ANTHROPIC_BASE_URL"] = self.ctx.api.base_url
        retries = self.ctx.cfg.scaffold.max_retries
        if retries is not None:
            env["CLAUDE_CODE_MAX_RETRIES"] = str(retries)
        return env

    def files(self) -> dict[str, str]:
        settings = {"env": QUIET, "includeCoAuthoredBy": False, "cleanupPeriodDays": 365}
        return {
            ".claude/settings.json": json.dumps(settings, indent=2),
            ".claude.json": json.dumps({"hasCompletedOnboarding": True}),
        }
