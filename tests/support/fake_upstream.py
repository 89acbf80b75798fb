"""A fake model provider for the gateway's tests: the four wire formats, streamed with delays.

Unlike a scripted agent server it exists to check the proxy itself: it records what arrived (the
key seen, headers, path, query), streams ``chunks`` pieces ``delay_s`` apart (to show the gateway
does not buffer), and reports fixed usage so totals can be compared.

    with FakeUpstream(key="sk-real") as up:      # up.url == "http://127.0.0.1:<port>"
        ...; up.seen[-1]["key"]
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROMPT, CACHED, CACHE_WRITE, OUTPUT = 1000, 200, 50, 30
"""Usage every response reports: whole prompt, cache reads, cache writes (Anthropic), output."""


class FakeUpstream:
    def __init__(self, key: str = "sk-real-upstream-key-0123456789") -> None:
        self.key = key
        self.chunks = 5
        self.delay_s = 0.0
        self.chunk_bytes = 16
        self.seen: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _events(api: str, body: dict[str, Any], up: FakeUpstream) -> tuple[list[bytes], bytes]:
    """(streamed events, the same reply as one JSON body)."""
    piece = "x" * up.chunk_bytes
    text = piece * up.chunks
    uncached = PROMPT - CACHED - CACHE_WRITE
    if api == "anthropic":
        start = {"input_tokens": uncached, "cache_read_input_tokens": CACHED}
        start |= {"cache_creation_input_tokens": CACHE_WRITE, "output_tokens": 1}
        evs = [_sse({"type": "message_start", "message": {"usage": start}}, "message_start")]
        evs += [
            _sse({"type": "content_block_delta", "delta": {"type": "text_delta", "text": piece}})
            for _ in range(up.chunks)
        ]
        evs.append(_sse({"type": "message_delta", "usage": {"output_tokens": OUTPUT}}))
        evs.append(_sse({"type": "message_stop"}, "message_stop"))
        whole = {"type": "message", "content": [{"type": "text", "text": text}]}
        return evs, json.dumps(whole | {"usage": start | {"output_tokens": OUTPUT}}).encode()
    if api == "openai_chat":
        usage = {"prompt_tokens": PROMPT, "completion_tokens": OUTPUT}
        usage["prompt_tokens_details"] = {"cached_tokens": CACHED}  # type: ignore[assignment]
        evs = [_sse({"choices": [{"delta": {"content": piece}}]}) for _ in range(up.chunks)]
        if (body.get("stream_options") or {}).get("include_usage"):
            evs.append(_sse({"choices": [], "usage": usage}))
        evs.append(b"data: [DONE]\n\n")
        whole = {"choices": [{"message": {"content": text}}], "usage": usage}
        return evs, json.dumps(whole).encode()
    if api == "openai_responses":
        usage = {"input_tokens": PROMPT, "output_tokens": OUTPUT}
        usage["input_tokens_details"] = {"cached_tokens": CACHED}  # type: ignore[assignment]
        evs = [_sse({"type": "response.output_text.delta", "delta": piece})] * up.chunks
        done = {"type": "response.completed", "response": {"usage": usage}}
        evs.append(_sse(done, "response.completed"))
        return evs, json.dumps({"output": [], "usage": usage}).encode()
    meta = {"promptTokenCount": PROMPT, "cachedContentTokenCount": CACHED}
    meta |= {"candidatesTokenCount": OUTPUT - 10, "thoughtsTokenCount": 10}
    chunk = {"candidates": [{"content": {"parts": [{"text": piece}]}}], "usageMetadata": meta}
    evs = [_sse(chunk) for _ in range(up.chunks)]
    return evs, json.dumps(chunk).encode()


def _api(path: str) -> str:
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/chat/completions"):
        return "openai_chat"
    if path.endswith("/responses"):
        return "openai_responses"
    return "gemini"


def _handler(up: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # as real servers do: each event leaves at once

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            key = (
                self.headers.get("x-api-key")
                or self.headers.get("x-goog-api-key")
                or (self.headers.get("authorization") or "").removeprefix("Bearer ")
                or query.get("key")
            )
            up.seen.append(
                {
                    "path": parts.path,
                    "query": query,
                    "key": key,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
            if key != up.key:
                self._reply(401, b'{"error": {"message": "bad key"}}', "application/json")
                return
            api = _api(parts.path)
            events, whole = _events(api, body, up)
            stream = body.get("stream") or "streamGenerateContent" in parts.path
            if not stream:
                self._reply(200, whole, "application/json")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for event in events:
                self.wfile.write(event)
                self.wfile.flush()
                if up.delay_s:
                    time.sleep(up.delay_s)

        def do_GET(self) -> None:
            self._reply(200, b'{"data": [{"id": "m"}]}', "application/json")

        def _reply(self, status: int, data: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
