"""What the gateway knows of each model API: which paths it serves, where the model name and the
caller's token sit, and how an error looks so that the agent's CLI shows it.

No request or response is translated between APIs. The gateway reads them, with one change:
a chat-completions stream that does not ask for its usage is made to (``ask_for_usage``), and
the extra chunk is taken out of the stream again (``UsageChunkFilter``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

APIS = ("anthropic", "openai_responses", "openai_chat", "gemini")

_GEMINI = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
GEMINI_METHODS = {"generateContent", "streamGenerateContent", "countTokens"}
TOKEN_HEADERS = ("x-api-key", "authorization", "x-goog-api-key", "api-key")


@dataclass(frozen=True)
class Endpoint:
    api: str
    """One of APIS, or ``meta`` for model listings (no model, no usage)."""
    model_in_path: str | None = None
    """Gemini names the model in the URL; the others in the JSON body."""
    counts_usage: bool = True


def classify(method: str, path: str) -> Endpoint | None:
    """The API a request path belongs to, or None for anything the gateway does not pass."""
    if method == "POST":
        if path.endswith("/messages"):
            return Endpoint("anthropic")
        if path.endswith("/messages/count_tokens"):
            return Endpoint("anthropic", counts_usage=False)
        if path.endswith("/responses") or path.endswith("/responses/compact"):
            return Endpoint("openai_responses")
        if path.endswith("/chat/completions"):
            return Endpoint("openai_chat")
        match = _GEMINI.search(path)
        if match and match["method"] in GEMINI_METHODS:
            counts = match["method"] != "countTokens"
            return Endpoint("gemini", model_in_path=match["model"], counts_usage=counts)
    if method == "GET" and re.search(r"/models(/[^/:]+)?$", path):
        return Endpoint("meta", counts_usage=False)
    return None


def guess_api(path: str) -> str:
    """For refusing a path ``classify`` rejected: the error format its client most likely reads."""
    if "/v1beta" in path or ":" in path.rsplit("/", 1)[-1]:
        return "gemini"
    if "/messages" in path:
        return "anthropic"
    return "openai_chat"


def find_token(
    headers: CIMultiDict[str] | CIMultiDictProxy[str], query: dict[str, str]
) -> tuple[str, str | None]:
    """(where, token) the caller sent its key: a header name, or ``query:key`` for Gemini."""
    for name in TOKEN_HEADERS:
        value = headers.get(name)
        if value:
            token = value[7:] if value.lower().startswith("bearer ") else value
            return name, token.strip()
    if query.get("key"):
        return "query:key", query["key"]
    return "", None


def json_object(body: bytes) -> dict[str, Any] | None:
    """A request body as a JSON object, or None (empty, not JSON, not an object). Parsed once
    per request: the model, the grader route and ``ask_for_usage`` all read it."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def model_from_body(data: dict[str, Any] | None) -> str | None:
    model = data.get("model") if data is not None else None
    return model if isinstance(model, str) else None


def error_body(api: str, status: int, message: str) -> dict[str, object]:
    """The API's own error shape, so the CLI prints ``message``."""
    if api == "anthropic":
        kinds = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
        kind = kinds.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if api == "gemini":
        statuses = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
        }
        return {
            "error": {
                "code": status,
                "message": message,
                "status": statuses.get(status, "UNAVAILABLE"),
            }
        }
    codes = {401: "invalid_api_key", 403: "model_not_allowed", 404: "not_found"}
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": codes.get(status)}}


def ask_for_usage(data: dict[str, Any] | None) -> bytes | None:
    """An OpenAI chat-completions *stream* request that does not ask for usage
    (``stream_options.include_usage``), rewritten to ask for it; None when it needs no change.

    Without it the provider reports no tokens for the stream, and the run's accounting and
    limits would not see them. ``data``: the request body (``json_object``), left unchanged."""
    if data is None or data.get("stream") is not True:
        return None
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        return None  # malformed: the provider says so
    if (options or {}).get("include_usage"):
        return None
    return json.dumps(
        {**data, "stream_options": {**(options or {}), "include_usage": True}}
    ).encode()


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class UsageChunkFilter:
    """Takes out of a chat-completions SSE stream the usage-only chunk (``"choices": []`` with
    ``usage``) that ``ask_for_usage`` made the provider send, so the client gets the stream it
    asked for. Everything else passes byte for byte, each event as soon as it is complete."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        self._pending += chunk
        out, start = [], 0
        for end in _EVENT_END.finditer(self._pending):
            event = self._pending[start : end.end()]
            if not _usage_only(event):
                out.append(event)
            start = end.end()
        self._pending = self._pending[start:]
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self._pending = self._pending, b""
        return b"" if _usage_only(rest) else rest


def _usage_only(event: bytes) -> bool:
    data = b"".join(
        line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(b"data:")
    )
    if not data.startswith(b"{"):
        return False
    try:
        obj = json.loads(data)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("choices") == [] and bool(obj.get("usage"))
