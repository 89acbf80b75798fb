"""What the gateway knows of each model API: which paths it serves, where the model name and the
caller's token sit, and how an error looks so that the agent's CLI shows it.

No request or response is translated between APIs: the gateway only reads them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

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


def model_from_body(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    model = data.get("model") if isinstance(data, dict) else None
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
