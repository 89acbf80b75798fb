"""``scaffold=opencode``: OpenCode, ``opencode run --format json``.

Config goes to ``~/.config/opencode/opencode.json``. With ``agent.base_url`` set (a vLLM server,
a vendor's OpenAI-compatible endpoint, the gateway, a test server) the model is served by one
provider, ``ptb``, through ``@ai-sdk/openai-compatible`` (chat completions); without it, by
OpenCode's built-in provider named by ``agent.provider``. Either way the key is read from the
endpoint's key variable (``{env:NAME}``), never written. Permissions are all allowed, sharing,
auto-update, the models.dev fetch, LSP downloads and default plugins are off. An API error is one
``error`` line and exit 1.
"""

from __future__ import annotations

import json
from typing import Any

from ptb.scaffolds.cli_scaffold import CliScaffold
from ptb.scaffolds.transcript import Transcript

CONFIG = ".config/opencode/opencode.json"
PROVIDER = "ptb"
QUIET = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
}


class OpenCodeScaffold(CliScaffold):
    def provider(self) -> str:
        if self.ctx.api.base_url:
            return PROVIDER
        provider = self.ctx.cfg.agent.provider
        if not provider:
            raise ValueError(
                f"agent '{self.ctx.cfg.agent.name}': scaffold=opencode needs agent.base_url "
                "(an OpenAI-compatible endpoint) or agent.provider (openai, anthropic, ...)"
            )
        return provider

    def config(self) -> dict[str, Any]:
        api = self.ctx.api
        model = self.model()
        options: dict[str, Any] = {}
        if api.api_key_env:
            options["apiKey"] = f"{{env:{api.api_key_env}}}"
        provider: dict[str, Any] = {"options": options}
        if api.base_url:
            options["baseURL"] = api.base_url
            provider.update(
                npm="@ai-sdk/openai-compatible",
                name=self.ctx.cfg.agent.name,
                models={model: {"name": model, "tool_call": True}},
            )
        ref = f"{self.provider()}/{model}"
        return {
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": False,
            "share": "disabled",
            "permission": {"*": "allow"},
            "provider": {self.provider(): provider},
            "model": ref,
            "small_model": ref,
        }

    def files(self) -> dict[str, str]:
        return {CONFIG: json.dumps(self.config(), indent=2)}

    def env(self) -> dict[str, str]:
        return {**super().env(), **QUIET}

    def _flags(self) -> list[str]:
        flags = ["--format", "json", "-m", f"{self.provider()}/{self.model()}"]
        effort = self.ctx.cfg.agent.reasoning_effort
        return [*flags, "--variant", effort] if effort else flags

    def argv(self) -> list[str]:
        return [self.executable(), "run", *self._flags(), self.ctx.prompt]

    def resume_argv(self, prompt: str) -> list[str] | None:
        return [self.executable(), "run", "--continue", *self._flags(), prompt]

    # -- the stream

    def on_event(self, event: dict[str, Any], transcript: Transcript) -> None:
        kind = event.get("type")
        part = event.get("part") or {}
        if kind == "text" and part.get("text"):
            self.message(transcript, str(part["text"]))
        elif kind == "tool_use":
            state = part.get("state") or {}
            call_id = part.get("callID")
            self.tool_call(transcript, str(part.get("tool")), state.get("input"), call_id)
            self.tool_result(
                transcript,
                state.get("output", state.get("error", "")),
                call_id,
                status=state.get("status"),
                exit_code=(state.get("metadata") or {}).get("exit"),
            )
        elif kind == "step_finish":
            tokens = part.get("tokens") or {}
            cache = tokens.get("cache") or {}
            cached = int(cache.get("read") or 0)
            self.add_usage(
                transcript,
                input_tokens=int(tokens.get("input") or 0) + cached,
                output_tokens=tokens.get("output") or 0,
                cached_tokens=cached,
                reasoning_tokens=tokens.get("reasoning") or 0,
                cost_usd=part.get("cost"),
                turns=1,
            )
        elif kind == "error":
            error = event.get("error") or {}
            data = error.get("data") or {}
            message = str(data.get("message") or error.get("name") or error)
            status = data.get("statusCode")
            self.api_error(transcript, message, int(status) if status else None)
