"""``scaffold=gemini_cli``: Google's Gemini CLI, ``gemini -p ... --output-format stream-json``.

Endpoint: ``GOOGLE_GEMINI_BASE_URL`` and the key in ``GEMINI_API_KEY``; settings select the
API-key auth (without it: "Invalid auth method", exit 41) and switch off usage statistics,
telemetry and the auto-update. The folder is trusted (``--skip-trust``), else YOLO mode is reset.
Assistant text arrives in ``message`` deltas, which are joined into one message. An API error
is a ``result`` with ``status: error`` and a non-zero exit.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from ptb.scaffolds.cli_scaffold import CliScaffold
from ptb.scaffolds.transcript import Transcript

GEMINI_DIR = ".gemini"


class GeminiCliScaffold(CliScaffold):
    key_var: ClassVar[str | None] = "GEMINI_API_KEY"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._text: list[str] = []
        self._last: str | None = None

    def settings(self) -> dict[str, Any]:
        general: dict[str, Any] = {"disableAutoUpdate": True, "disableUpdateNag": True}
        retries = self.ctx.cfg.scaffold.max_retries
        if retries is not None:
            general["maxAttempts"] = retries + 1
        return {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
            "telemetry": {"enabled": False},
            "general": general,
        }

    def files(self) -> dict[str, str]:
        return {f"{GEMINI_DIR}/settings.json": json.dumps(self.settings(), indent=2)}

    def env(self) -> dict[str, str]:
        env = {**super().env(), "GEMINI_CLI_TRUST_WORKSPACE": "true"}
        if self.ctx.api.base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = self.ctx.api.base_url
        return env

    def _flags(self) -> list[str]:
        return ["--yolo", "--skip-trust", "--output-format", "stream-json", "-m", self.model()]

    def argv(self) -> list[str]:
        return [self.executable(), *self._flags(), "-p", self.ctx.prompt]

    def resume_argv(self, prompt: str) -> list[str] | None:
        return [self.executable(), *self._flags(), "--resume", "latest", "-p", prompt]

    # -- the stream

    def _flush(self, transcript: Transcript) -> None:
        if self._text:
            self.message(transcript, "".join(self._text))
            self.totals.turns += 1
            self._text = []
            self._last = "message"

    def on_event(self, event: dict[str, Any], transcript: Transcript) -> None:
        kind = event.get("type")
        if kind == "message" and event.get("role") == "assistant":
            self._text.append(str(event.get("content", "")))
            return
        self._flush(transcript)
        if kind == "tool_use" and self._last != "tool_use":
            self.totals.turns += 1  # one model turn may call several tools
        self._last = str(kind)
        if kind == "init":
            transcript.event(
                "system",
                "message",
                text=f"session {event.get('session_id')} started, model {event.get('model')}",
            )
        elif kind == "tool_use":
            name = str(event.get("tool_name"))
            self.tool_call(transcript, name, event.get("parameters"), event.get("tool_id"))
        elif kind == "tool_result":
            output = event.get("output")
            if output is None and event.get("error"):
                output = event["error"]
            self.tool_result(transcript, output, event.get("tool_id"), status=event.get("status"))
        elif kind == "error":
            transcript.event(
                "system", "error", error="retry", text=str(event.get("message", event))
            )
        elif kind == "result":
            self._result(event, transcript)

    def _result(self, event: dict[str, Any], transcript: Transcript) -> None:
        stats = event.get("stats") or {}
        self.add_usage(
            transcript,
            input_tokens=stats.get("input_tokens") or 0,
            output_tokens=stats.get("output_tokens") or 0,
            cached_tokens=stats.get("cached") or 0,
        )
        if event.get("status") == "error":
            error = event.get("error") or {}
            self.api_error(transcript, str(error.get("message") or error))

    def usage(self, transcript: Transcript, result: Any) -> dict[str, Any]:
        self._flush(transcript)
        return super().usage(transcript, result)

    def classify(self, result: Any, transcript: Transcript) -> Any:
        self._flush(transcript)
        return super().classify(result, transcript)
