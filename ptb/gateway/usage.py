"""Token usage read from the provider's own responses, streamed or not.

Every API reports usage differently; these readers turn it into one shape. ``input_tokens``
always counts the whole prompt, cached parts included (OpenAI and Gemini report it that way;
Anthropic reports uncached input, cache reads and cache writes separately, and they are added up
here), so totals compare across providers and cost can be split by kind of token.

Readers see the response bytes exactly as they are forwarded to the agent. Server-sent events are
parsed as they pass (nothing is kept but the current partial event); any other body is copied up
to ``MAX_BODY_COPY`` bytes and parsed at the end.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import Any

MAX_BODY_COPY = 32 * 1024 * 1024


@dataclass
class Usage:
    input_tokens: int = 0
    """The whole prompt, cached parts included."""
    output_tokens: int = 0
    """Generated tokens, reasoning/thinking included."""
    cached_tokens: int = 0
    """Prompt tokens read from the provider's cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the cache (Anthropic bills them apart)."""
    reported: bool = False
    """Whether the response carried usage at all (OpenAI chat streams only do when asked)."""

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_tokens += other.cached_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reported = self.reported or other.reported

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def anthropic_usage(usage: dict[str, Any], into: Usage) -> None:
    """Anthropic ``usage``: uncached input + cache reads + cache writes; output cumulative."""
    if "input_tokens" in usage or "cache_read_input_tokens" in usage:
        read = _int(usage.get("cache_read_input_tokens"))
        write = _int(usage.get("cache_creation_input_tokens"))
        into.input_tokens = _int(usage.get("input_tokens")) + read + write
        into.cached_tokens = read
        into.cache_write_tokens = write
    if "output_tokens" in usage:
        into.output_tokens = _int(usage.get("output_tokens"))
    into.reported = True


def openai_chat_usage(usage: dict[str, Any], into: Usage) -> None:
    into.input_tokens = _int(usage.get("prompt_tokens"))
    into.output_tokens = _int(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details") or {}
    into.cached_tokens = _int(details.get("cached_tokens"))
    into.reported = True


def openai_responses_usage(usage: dict[str, Any], into: Usage) -> None:
    into.input_tokens = _int(usage.get("input_tokens"))
    into.output_tokens = _int(usage.get("output_tokens"))
    details = usage.get("input_tokens_details") or {}
    into.cached_tokens = _int(details.get("cached_tokens"))
    into.reported = True


def gemini_usage(meta: dict[str, Any], into: Usage) -> None:
    """``usageMetadata``: thoughts are billed as output; each chunk repeats the running total."""
    into.input_tokens = _int(meta.get("promptTokenCount"))
    into.output_tokens = _int(meta.get("candidatesTokenCount")) + _int(
        meta.get("thoughtsTokenCount")
    )
    into.cached_tokens = _int(meta.get("cachedContentTokenCount"))
    into.reported = True


def read_event(api: str, data: Any, into: Usage) -> None:
    """Fold one JSON object (an SSE event's data or a whole body) into ``into``."""
    if not isinstance(data, dict):
        return
    if api == "anthropic":
        kind = data.get("type")
        if kind == "message_start":
            anthropic_usage((data.get("message") or {}).get("usage") or {}, into)
        elif kind == "message_delta" or "usage" in data:
            anthropic_usage(data.get("usage") or {}, into)
    elif api == "openai_chat":
        if isinstance(data.get("usage"), dict):
            openai_chat_usage(data["usage"], into)
    elif api == "openai_responses":
        response = data.get("response") if "response" in data else data
        if isinstance(response, dict) and isinstance(response.get("usage"), dict):
            openai_responses_usage(response["usage"], into)
    elif api == "gemini" and isinstance(data.get("usageMetadata"), dict):
        gemini_usage(data["usageMetadata"], into)


class UsageReader:
    """Fed the forwarded bytes chunk by chunk; ``usage`` holds the result once ``close`` ran."""

    def __init__(self, api: str, content_type: str) -> None:
        self.api = api
        self.sse = content_type.lower().startswith("text/event-stream")
        self.usage = Usage()
        self._buf = b""
        self._crlf = False
        self._copy: list[bytes] = []
        self._copied = 0

    def feed(self, chunk: bytes) -> None:
        if not self.sse:
            if self._copied + len(chunk) <= MAX_BODY_COPY:
                self._copy.append(chunk)
            self._copied += len(chunk)
            return
        self._crlf = self._crlf or b"\r" in chunk
        buf = self._buf + chunk
        start = 0
        while True:
            end, sep = _event_end(buf, start, self._crlf)
            if end < 0:
                break
            self._event(buf[start:end])
            start = end + sep
        self._buf = buf[start:]

    def close(self) -> Usage:
        if self.sse:
            if self._buf.strip():
                self._event(self._buf)
            self._buf = b""
        elif self._copied <= MAX_BODY_COPY:
            body = b"".join(self._copy)
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            for item in data if isinstance(data, list) else [data]:  # Gemini streams an array
                read_event(self.api, item, self.usage)
        return self.usage

    def _event(self, raw: bytes) -> None:
        if b"sage" not in raw:  # neither "usage" nor "usageMetadata": no JSON parse needed
            return
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        data = b"\n".join(line[5:].lstrip(b" ") for line in lines if line.startswith(b"data:"))
        if not data or data.strip() == b"[DONE]":
            return
        with contextlib.suppress(ValueError):
            read_event(self.api, json.loads(data), self.usage)


def _event_end(buf: bytes, start: int, crlf: bool) -> tuple[int, int]:
    """Index and length of the first blank-line separator from ``start``, or (-1, 0)."""
    if not crlf:
        end = buf.find(b"\n\n", start)
        return (end, 2) if end >= 0 else (-1, 0)
    found = [(buf.find(sep, start), len(sep)) for sep in (b"\n\n", b"\r\n\r\n", b"\r\r")]
    found = [f for f in found if f[0] >= 0]
    return min(found) if found else (-1, 0)
