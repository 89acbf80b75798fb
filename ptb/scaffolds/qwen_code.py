"""``scaffold=qwen_code``: Qwen Code, ``qwen --output-format stream-json``.

Endpoint: OpenAI chat completions at ``OPENAI_BASE_URL`` with the key in ``OPENAI_API_KEY``
(``--auth-type openai``), so any OpenAI-compatible server works (DashScope, vLLM, the gateway).
Its stream has Claude Code's shape. The trap: an API error exits 0 with ``is_error: false``; the
error shows only as assistant text "[API Error: 401 …]", so that text is what ends a run as an
API error here. Rate-limit retries wait a minute each by default (``scaffold.max_retries``).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from ptb.sandbox.process import ExecResult
from ptb.scaffolds.claude_code import ClaudeLikeStream
from ptb.scaffolds.errors import api_error_in_text
from ptb.scaffolds.transcript import Transcript

QWEN_DIR = ".qwen"


class QwenCodeScaffold(ClaudeLikeStream):
    key_var: ClassVar[str | None] = "OPENAI_API_KEY"

    def settings(self) -> dict[str, Any]:
        generation: dict[str, Any] = {}
        retries = self.ctx.cfg.scaffold.max_retries
        if retries is not None:
            generation["maxRetries"] = retries
        effort = self.ctx.cfg.agent.reasoning_effort
        if effort:
            generation["reasoning"] = {"effort": effort}
        settings: dict[str, Any] = {
            "privacy": {"usageStatisticsEnabled": False},
            "telemetry": {"enabled": False},
            "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        }
        if generation:
            settings["model"] = {"generationConfig": generation}
        return settings

    def files(self) -> dict[str, str]:
        return {f"{QWEN_DIR}/settings.json": json.dumps(self.settings(), indent=2)}

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.ctx.api.base_url:
            env["OPENAI_BASE_URL"] = self.ctx.api.base_url
        return env

    def _flags(self) -> list[str]:
        return [
            "--yolo",
            "--auth-type",
            "openai",
            "--output-format",
            "stream-json",
            "-m",
            self.model(),
        ]

    def argv(self) -> list[str]:
        return [self.executable(), *self._flags(), self.ctx.prompt]

    def resume_argv(self, prompt: str) -> list[str] | None:
        return [self.executable(), "--continue", *self._flags(), prompt]

    def _assistant_block(self, block: dict[str, Any], transcript: Transcript) -> None:
        text = block.get("text") if block.get("type") == "text" else None
        found = api_error_in_text(text) if text else None
        if found is None:
            super()._assistant_block(block, transcript)
            return
        status, message = found
        self.final_text = message
        self.api_error(transcript, message, status)

    def ended_in_error(self, result: ExecResult) -> bool:
        """Exit 0 or not: the run ended in an API error if that error was its last word."""
        return self.error is not None and self.final_text == self.error[1]
