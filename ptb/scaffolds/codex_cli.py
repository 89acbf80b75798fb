"""``scaffold=codex_cli``: OpenAI's Codex CLI, ``codex exec --json``.

Codex speaks only the Responses API. ptb writes ``$CODEX_HOME/config.toml`` with one provider,
``ptb``, whose ``base_url`` is the endpoint's (default: OpenAI's) and whose ``env_key`` is the
endpoint's key variable, so the key keeps its own name in the sandbox. A subscription login uses
the built-in provider with the user's ``auth.json`` copied into CODEX_HOME for this run only
(refresh tokens are single-use: the refreshed file is copied back afterwards). Everything that
phones out (update check, analytics, feedback, OpenTelemetry, plugins, apps) is switched off.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptb.scaffolds.cli_scaffold import CliScaffold
from ptb.scaffolds.transcript import Transcript

CODEX_HOME = ".codex"
OPENAI_URL = "https://api.openai.com/v1"
WARNING_PREFIXES = ("Model metadata for",)
"""``error`` items that are warnings, not failures (an unknown model slug still runs)."""


def _toml(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value).lower()


class CodexCliScaffold(CliScaffold):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started: set[str] = set()

    def _subscription(self) -> bool:
        return self.ctx.api.login == "subscription"

    def config_toml(self) -> str:
        api = self.ctx.api
        effort = self.ctx.cfg.agent.reasoning_effort
        lines = [f"model = {_toml(self.model())}"]
        if effort:
            lines.append(f"model_reasoning_effort = {_toml(effort)}")
        lines += ["check_for_update_on_startup = false"]
        if self._subscription():
            lines += ['forced_login_method = "chatgpt"']
        else:
            lines += ['model_provider = "ptb"']
        tables: list[tuple[str, dict[str, object]]] = [
            ("analytics", {"enabled": False}),
            ("feedback", {"enabled": False}),
            ("otel", {"exporter": "none", "trace_exporter": "none", "metrics_exporter": "none"}),
            (
                "features",
                # shell_snapshot: Codex saves the shell's environment (keys included) to files
                {"plugins": False, "remote_plugin": False, "apps": False, "shell_snapshot": False},
            ),
        ]
        for table, values in tables:
            lines += ["", f"[{table}]", *(f"{k} = {_toml(v)}" for k, v in values.items())]
        if not self._subscription():
            provider: dict[str, object] = {
                "name": "ptb",
                "base_url": api.base_url or OPENAI_URL,
                "wire_api": "responses",
            }
            if api.api_key_env:
                provider["env_key"] = api.api_key_env
            retries = self.ctx.cfg.scaffold.max_retries
            if retries is not None:
                provider["request_max_retries"] = retries
                provider["stream_max_retries"] = retries
            lines += ["", "[model_providers.ptb]"]
            lines += [f"{k} = {_toml(v)}" for k, v in provider.items()]
        return "\n".join(lines) + "\n"

    def files(self) -> dict[str, str]:
        return {f"{CODEX_HOME}/config.toml": self.config_toml()}

    def secret_files(self) -> dict[str, Path]:
        source = self.ctx.api.credentials_file
        if not self._subscription():
            return {}
        if not source:
            raise ValueError(
                "agent.login=subscription with scaffold=codex_cli needs "
                "agent.credentials_file=<path to your ~/.codex/auth.json>"
            )
        return {f"{CODEX_HOME}/auth.json": Path(source).expanduser()}

    def env(self) -> dict[str, str]:
        return {**super().env(), "CODEX_HOME": str(self.ctx.home / CODEX_HOME)}

    def key_target(self) -> str | None:
        return None if self._subscription() else self.ctx.api.api_key_env

    def _flags(self) -> list[str]:
        return ["--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]

    def argv(self) -> list[str]:
        return [self.executable(), "exec", *self._flags(), "-m", self.model(), self.ctx.prompt]

    def resume_argv(self, prompt: str) -> list[str] | None:
        return [self.executable(), "exec", *self._flags(), "resume", "--last", prompt]

    # -- the stream

    def on_event(self, event: dict[str, Any], transcript: Transcript) -> None:
        kind = event.get("type")
        item = event.get("item") or {}
        if kind == "thread.started":
            transcript.event("system", "message", text=f"thread {event.get('thread_id')} started")
        elif kind == "item.started" and item.get("type") == "command_execution":
            self._started.add(str(item.get("id")))
            self.tool_call(transcript, "shell", item.get("command"), item.get("id"))
        elif kind == "item.completed":
            self._item(item, transcript)
        elif kind == "turn.completed":
            usage = event.get("usage") or {}
            self.add_usage(
                transcript,
                input_tokens=usage.get("input_tokens") or 0,
                output_tokens=usage.get("output_tokens") or 0,
                cached_tokens=usage.get("cached_input_tokens") or 0,
                reasoning_tokens=usage.get("reasoning_output_tokens") or 0,
                turns=1,
            )
        elif kind == "turn.failed":
            self.api_error(transcript, str((event.get("error") or {}).get("message")))
        elif kind == "error":
            message = str(event.get("message"))
            if message.startswith("Reconnecting"):  # a retry, not the end
                transcript.event("system", "error", error="retry", text=message)
            else:
                self.api_error(transcript, message)

    def _item(self, item: dict[str, Any], transcript: Transcript) -> None:
        itype, iid = item.get("type"), item.get("id")
        if itype == "agent_message":
            self.message(transcript, str(item.get("text", "")))
        elif itype == "command_execution":
            if str(iid) not in self._started:
                self.tool_call(transcript, "shell", item.get("command"), iid)
            self.tool_result(
                transcript, item.get("aggregated_output", ""), iid, exit_code=item.get("exit_code")
            )
        elif itype == "file_change":
            self.tool_call(transcript, "apply_patch", item.get("changes"), iid)
            self.tool_result(transcript, item.get("status", ""), iid)
        elif itype in ("mcp_tool_call", "web_search"):
            self.tool_call(transcript, str(item.get("tool") or itype), item, iid)
        elif itype == "error":
            message = str(item.get("message"))
            if message.startswith(WARNING_PREFIXES):
                transcript.event("system", "message", text=message, warning=True)
            else:
                self.api_error(transcript, message)
