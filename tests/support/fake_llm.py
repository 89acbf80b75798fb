"""A fake model server for driving the real agent CLIs: scripted replies on 127.0.0.1.

It speaks the four wire formats the five scaffolds use — Anthropic Messages (Claude Code), the
OpenAI Responses API (Codex CLI), OpenAI chat completions (OpenCode, Qwen Code) and Gemini
``generateContent``/``streamGenerateContent`` (Gemini CLI) — streamed as SSE when asked.

The scripted trajectory ``ok``: while the conversation holds no tool result, the reply calls the
CLI's shell tool (found by name in the request's tool list, its arguments built from the tool's
own schema) with ``COMMAND``, which really writes ``MARKER_FILE`` in the working directory; once a
tool result is there, the reply is the final message ``FINAL_TEXT``. Requests without tools (titles,
summaries, next-speaker checks) get a short text (or JSON when the request asks for JSON).

The error scripts answer every model call with the vendor's own error shape for ``auth`` (401),
``rate_limit`` (429), ``overloaded`` (Anthropic 529, others 503) and ``quota`` (exhausted credit).

    with FakeLLM() as server:            # server.url == "http://127.0.0.1:<port>"
        server.script = "rate_limit"
        ...; server.requests             # what each call looked like (path, model, key seen)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MARKER_FILE = "fake_llm_marker.txt"
COMMAND = f"echo scripted-by-fake-llm > {MARKER_FILE} && cat {MARKER_FILE}"
FINAL_TEXT = "All done: the marker file is written."
SCRIPTS = ("ok", "auth", "rate_limit", "overloaded", "quota")
SHELL_TOOLS = (
    "Bash",  # Claude Code
    "shell_command",  # Codex CLI
    "exec_command",
    "shell",
    "run_shell_command",  # Gemini CLI, Qwen Code
    "bash",  # OpenCode
)
IN_TOKENS, OUT_TOKENS, CACHED_TOKENS = 1200, 40, 100


@dataclass
class Seen:
    """One request as the server saw it (never the key itself: only whether it matched)."""

    path: str
    api: str
    model: str | None
    key_ok: bool
    stream: bool
    tools: list[str]
    reply: str
    body: dict[str, Any] = field(repr=False, default_factory=dict)


class FakeLLM:
    def __init__(self, key: str = "sk-fake-llm-key-0123456789", host: str = "127.0.0.1") -> None:
        self.key = key
        self.script = "ok"
        self.command = COMMAND
        """The shell command of the ``ok`` trajectory (e.g. a judge's answer)."""
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def model_calls(self) -> list[Seen]:
        return [r for r in self.requests if r.api != "other"]


# ---------------------------------------------------------------- the conversation, per API


def _api(path: str) -> str:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/chat/completions"):
        return "chat"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    return "other"


def _tools(api: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tool name → its JSON schema of parameters."""
    found: dict[str, dict[str, Any]] = {}
    for tool in body.get("tools") or []:
        if api == "gemini":
            for decl in tool.get("functionDeclarations") or []:
                schema = decl.get("parametersJsonSchema") or decl.get("parameters") or {}
                found[decl["name"]] = schema
        elif api == "chat":
            fn = tool.get("function") or {}
            if "name" in fn:
                found[fn["name"]] = fn.get("parameters") or {}
        elif "name" in tool:
            found[tool["name"]] = tool.get("input_schema") or tool.get("parameters") or {}
    return found


def _tool_results(api: str, body: dict[str, Any]) -> int:
    n = 0
    if api == "anthropic":
        for msg in body.get("messages") or []:
            content = msg.get("content")
            if isinstance(content, list):
                n += sum(1 for b in content if b.get("type") == "tool_result")
    elif api == "responses":
        n = sum(1 for i in body.get("input") or [] if str(i.get("type", "")).endswith("_output"))
    elif api == "chat":
        n = sum(1 for m in body.get("messages") or [] if m.get("role") == "tool")
    elif api == "gemini":
        for content in body.get("contents") or []:
            n += sum(1 for p in content.get("parts") or [] if "functionResponse" in p)
    return n


def _shell_call(
    tools: dict[str, dict[str, Any]], command: str = COMMAND
) -> tuple[str, dict[str, Any]] | None:
    """The CLI's shell tool and arguments that run ``command``, filled in from its schema."""
    name = next((t for t in SHELL_TOOLS if t in tools), None)
    if name is None:
        return None
    props = tools[name].get("properties") or {}
    args: dict[str, Any] = {}
    for key in ("command", "cmd"):
        if key in props:
            kind = props[key].get("type")
            args[key] = ["bash", "-lc", command] if kind == "array" else command
            break
    else:
        args["command"] = command
    for key in tools[name].get("required") or []:
        if key in args:
            continue
        kind = (props.get(key) or {}).get("type")
        args[key] = {"boolean": False, "integer": 60000, "number": 60000}.get(
            str(kind), "run the scripted command"
        )
    return name, args


def _wants_json(body: dict[str, Any]) -> bool:
    gen = body.get("generationConfig") or body.get("config") or {}
    fmt = body.get("response_format") or {}
    return gen.get("responseMimeType") == "application/json" or fmt.get("type") in (
        "json_object",
        "json_schema",
    )


@dataclass
class Reply:
    text: str | None = None
    call: tuple[str, dict[str, Any]] | None = None


def plan_reply(api: str, body: dict[str, Any], command: str = COMMAND) -> Reply:
    tools = _tools(api, body)
    if not tools:
        if _wants_json(body):
            return Reply(text=json.dumps({"reasoning": "the task is done", "next_speaker": "user"}))
        return Reply(text="Scripted side reply")
    if _tool_results(api, body) == 0:
        call = _shell_call(tools, command)
        if call is not None:
            return Reply(call=call)
    return Reply(text=FINAL_TEXT)


# ---------------------------------------------------------------- wire formats


def _sse(events: list[tuple[str | None, dict[str, Any] | str]]) -> bytes:
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return "".join(out).encode()


def anthropic_reply(reply: Reply, model: str, stream: bool) -> tuple[bytes, str]:
    usage = {
        "input_tokens": IN_TOKENS,
        "output_tokens": OUT_TOKENS,
        "cache_read_input_tokens": CACHED_TOKENS,
        "cache_creation_input_tokens": 0,
    }
    if reply.call:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_fake_1",
            "name": reply.call[0],
            "input": reply.call[1],
        }
        stop = "tool_use"
    else:
        block = {"type": "text", "text": reply.text or ""}
        stop = "end_turn"
    message = {
        "id": f"msg_fake_{time.monotonic_ns()}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    if not stream:
        return json.dumps(message).encode(), "application/json"
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    if reply.call:
        first = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(reply.call[1])}
    else:
        first = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": reply.text or ""}
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": first},
        ),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": OUT_TOKENS},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return _sse(events), "text/event-stream"


def responses_reply(reply: Reply, model: str, stream: bool) -> tuple[bytes, str]:
    rid = f"resp_fake_{time.monotonic_ns()}"
    if reply.call:
        item: dict[str, Any] = {
            "type": "function_call",
            "id": "fc_fake_1",
            "call_id": "call_fake_1",
            "name": reply.call[0],
            "arguments": json.dumps(reply.call[1]),
            "status": "completed",
        }
    else:
        item = {
            "type": "message",
            "id": "msg_fake_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": reply.text or "", "annotations": []}],
        }
    usage = {
        "input_tokens": IN_TOKENS,
        "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": OUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": IN_TOKENS + OUT_TOKENS,
    }
    response = {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [item],
        "usage": usage,
    }
    if not stream:
        return json.dumps(response).encode(), "application/json"
    created = {**response, "status": "in_progress", "output": [], "usage": None}
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        ("response.created", {"type": "response.created", "response": created}),
        (
            "response.output_item.added",
            {"type": "response.output_item.added", "output_index": 0, "item": item},
        ),
    ]
    if not reply.call:
        events.append(
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": reply.text or "",
                },
            )
        )
    events += [
        (
            "response.output_item.done",
            {"type": "response.output_item.done", "output_index": 0, "item": item},
        ),
        ("response.completed", {"type": "response.completed", "response": response}),
    ]
    return _sse(events), "text/event-stream"


def chat_reply(reply: Reply, model: str, stream: bool) -> tuple[bytes, str]:
    cid = f"chatcmpl-fake-{time.monotonic_ns()}"
    usage = {
        "prompt_tokens": IN_TOKENS,
        "completion_tokens": OUT_TOKENS,
        "total_tokens": IN_TOKENS + OUT_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
    }
    calls = None
    if reply.call:
        calls = [
            {
                "index": 0,
                "id": "call_fake_1",
                "type": "function",
                "function": {"name": reply.call[0], "arguments": json.dumps(reply.call[1])},
            }
        ]
    finish = "tool_calls" if calls else "stop"
    base = {"id": cid, "created": int(time.time()), "model": model}
    if not stream:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        body = {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
        return json.dumps(body).encode(), "application/json"
    delta: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if calls:
        delta["tool_calls"] = calls
    chunk = {**base, "object": "chat.completion.chunk"}
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        (None, {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
        (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
        (None, {**chunk, "choices": [], "usage": usage}),
        (None, "[DONE]"),
    ]
    return _sse(events), "text/event-stream"


def gemini_reply(reply: Reply, model: str, stream: bool) -> tuple[bytes, str]:
    if reply.call:
        part: dict[str, Any] = {"functionCall": {"name": reply.call[0], "args": reply.call[1]}}
    else:
        part = {"text": reply.text or ""}
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": IN_TOKENS,
            "candidatesTokenCount": OUT_TOKENS,
            "cachedContentTokenCount": CACHED_TOKENS,
            "totalTokenCount": IN_TOKENS + OUT_TOKENS,
        },
        "modelVersion": model,
    }
    if not stream:
        return json.dumps(body).encode(), "application/json"
    return _sse([(None, body)]), "text/event-stream"


FORMATS = {
    "anthropic": anthropic_reply,
    "responses": responses_reply,
    "chat": chat_reply,
    "gemini": gemini_reply,
}


# ---------------------------------------------------------------- errors, per API


ANTHROPIC_ERRORS = {
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "rate_limit": (429, "rate_limit_error", "Number of request tokens has exceeded your limit"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "quota": (
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API.",
    ),
}
GEMINI_ERRORS = {
    "auth": (401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    "rate_limit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "quota": (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Generate Content API requests per day'.",
    ),
}
OPENAI_ERRORS = {
    "auth": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "rate_limit": (429, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached"),
    "overloaded": (503, "server_error", "server_overloaded", "The server is overloaded."),
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
}


def error_reply(api: str, script: str) -> tuple[int, dict[str, Any]]:
    """The vendor's own status code and error body for one error script."""
    if api == "anthropic":
        status, kind, msg = ANTHROPIC_ERRORS[script]
        return status, {"type": "error", "error": {"type": kind, "message": msg}}
    if api == "gemini":
        status, state, msg = GEMINI_ERRORS[script]
        return status, {"error": {"code": status, "message": msg, "status": state}}
    status, kind, code, msg = OPENAI_ERRORS[script]
    return status, {"error": {"message": msg, "type": kind, "code": code, "param": None}}


# ---------------------------------------------------------------- HTTP


def _handler(server: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.end_headers()
            self.wfile.write(body)

        def _key_ok(self) -> bool:
            h = self.headers
            auth = h.get("Authorization", "").removeprefix("Bearer ").strip()
            given = h.get("x-api-key") or h.get("x-goog-api-key") or auth
            if not given and "key=" in self.path:
                given = self.path.split("key=", 1)[1].split("&", 1)[0]
            return given == server.key

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            server.record(Seen(self.path, "other", None, self._key_ok(), False, [], "list"))
            if path.endswith("/models"):
                data = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                self._send(200, json.dumps(data).encode(), "application/json")
                return
            self._send(404, b'{"error": {"message": "not found"}}', "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {}
            path = self.path.split("?", 1)[0]
            api = _api(path)
            if path.endswith("/count_tokens") or path.endswith(":countTokens"):
                server.record(Seen(self.path, "other", None, self._key_ok(), False, [], "count"))
                data = {"input_tokens": IN_TOKENS, "totalTokens": IN_TOKENS}
                self._send(200, json.dumps(data).encode(), "application/json")
                return
            if api == "other":
                server.record(Seen(self.path, api, None, self._key_ok(), False, [], "404"))
                self._send(404, b'{"error": {"message": "not found"}}', "application/json")
                return
            model = body.get("model")
            if api == "gemini":
                model = path.split("/models/", 1)[-1].split(":", 1)[0]
            stream = bool(body.get("stream")) or ":streamGenerateContent" in path
            tools = list(_tools(api, body))
            script = server.script if self._key_ok() else "auth"
            if script != "ok":
                status, err = error_reply(api, script)
                seen = Seen(self.path, api, model, self._key_ok(), stream, tools, script, body)
                server.record(seen)
                self._send(status, json.dumps(err).encode(), "application/json", retry_after="0")
                return
            reply = plan_reply(api, body, server.command)
            kind = "tool_call" if reply.call else "text"
            server.record(Seen(self.path, api, model, True, stream, tools, kind, body))
            data, ctype = FORMATS[api](reply, str(model), stream)
            self._send(200, data, ctype)

    return Handler
