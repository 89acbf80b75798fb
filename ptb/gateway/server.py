"""The gateway process: an HTTP reverse proxy that holds the real key(s).

Started as ``python -m ptb.gateway.server`` by the solve stage (``ptb.gateway.process``), which
writes its settings, keys included, as one JSON line to the process's stdin: no key is ever in an
argv or an environment. It answers on stdout with JSON lines: ``ready`` (the port), ``limit``
(a per-run limit was reached) and ``stopped`` (totals). It stops when stdin closes (the solve
stage ends or dies) or on SIGTERM.

For each request: the caller's token picks the route (the agent's, and on a model-graded task
evaluate.py's grader route, ``ptb.gateway.grader_route``), the path picks
the API, the model (JSON body, or the URL for Gemini) must be on the route's allow-list and no
limit may be reached; then the request goes upstream with the real key in place of the token,
and the response comes back as it arrives (SSE chunk by chunk), while its usage is read.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ptb.gateway.apis import (
    Endpoint,
    UsageChunkFilter,
    ask_for_usage,
    classify,
    error_body,
    find_token,
    guess_api,
    json_object,
    model_from_body,
)
from ptb.gateway.grader_route import grade, load_gate
from ptb.gateway.ledger import Ledger, RequestLog
from ptb.gateway.usage import Usage, UsageReader

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


@dataclass(frozen=True)
class Route:
    name: str
    token: str
    """The dummy token the sandbox holds; worthless outside this gateway."""
    upstream: str
    """Base URL of the real API (its path, e.g. ``/v1``, is kept on both sides)."""
    key: str
    allow_models: tuple[str, ...]
    grader: dict[str, Any] | None = None
    """A grader route (``ptb.tasks.grader_gate``): ``task`` (the task's config), ``protocol``
    (its prompts and verdict reading), ``max_tokens`` and ``reasoning_effort`` (the grader
    request's, ``ptb.tasks.grader_api.grader_settings``). Only the task's own grader requests pass,
    and only the verdict comes back."""

    @property
    def origin(self) -> str:
        parts = urlsplit(self.upstream)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def prefix(self) -> str:
        return urlsplit(self.upstream).path.rstrip("/")


@dataclass
class Settings:
    routes: list[Route]
    log_path: Path
    host: str = "127.0.0.1"
    port: int = 0
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    log_bodies: bool = False
    upstream_timeout_s: float = 600.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        routes = [
            Route(
                r["name"],
                r["token"],
                r["upstream"],
                r["key"],
                tuple(r["allow_models"]),
                r.get("grader"),
            )
            for r in data.pop("routes")
        ]
        return cls(routes=routes, log_path=Path(data.pop("log_path")), **data)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout for the solve stage."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.prices, settings.max_cost_usd, settings.max_tokens)
        bodies = settings.log_path.with_suffix(".bodies.jsonl") if settings.log_bodies else None
        self.log = RequestLog(settings.log_path, bodies)
        self.session: aiohttp.ClientSession | None = None
        self.limit_announced = False
        self.gates = {
            r.name: load_gate(r.grader["task"], r.grader.get("protocol", "paper"))
            for r in settings.routes
            if r.grader
        }

    async def start_session(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=30, sock_read=self.settings.upstream_timeout_s
        )
        # trust_env: cluster nodes often reach the internet only through HTTPS_PROXY.
        self.session = aiohttp.ClientSession(auto_decompress=False, timeout=timeout, trust_env=True)

    def route_for(self, token: str | None) -> Route | None:
        if not token:
            return None
        found = None
        for route in self.settings.routes:  # constant-time compare, every route tried
            if hmac.compare_digest(route.token.encode(), token.encode()):
                found = route
        return found

    async def handle(self, request: web.Request) -> web.StreamResponse:
        t0 = time.monotonic()
        rec: dict[str, Any] = {
            "ts": now_iso(),
            "route": None,
            "api": None,
            "model": None,
            "allowed": False,
            "status": None,
            "method": request.method,
            "path": request.path,
            "stream": False,
            "input_tokens": 0,
            "output_tokens": 0,
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "usage_reported": False,
            "cost_usd": None,
            "latency_ms": None,
            "reason": None,
            "gate": None,
        }
        try:
            return await self._handle(request, rec, t0)
        finally:
            rec["latency_ms"] = round((time.monotonic() - t0) * 1000, 2)
            if rec["api"] != "probe":
                self.ledger.requests += 1
                self.ledger.refused += 0 if rec["allowed"] else 1
            self.log.write(rec)
            self._check_limit()

    async def _handle(
        self, request: web.Request, rec: dict[str, Any], t0: float
    ) -> web.StreamResponse:
        if self.is_probe(request):
            rec.update(api="probe", allowed=True, status=200, reason="connectivity probe")
            return web.Response(status=200)
        endpoint = classify(request.method, request.path)
        rec["api"] = endpoint.api if endpoint else guess_api(request.path)
        where, token = find_token(request.headers, dict(request.query))
        route = self.route_for(token)
        if route is None:
            return self.refuse(rec, 401, "ptb gateway: missing or unknown API key for this run")
        rec["route"] = route.name
        if endpoint is None or not request.path.startswith(route.prefix):
            return self.refuse(
                rec, 404, f"ptb gateway: {request.method} {request.path} is not a model API call"
            )
        body = await request.read()
        data = None if endpoint.model_in_path else json_object(body)
        model = endpoint.model_in_path or model_from_body(data)
        rec["model"] = model
        if route.name in self.gates:
            headers = upstream_headers(request.headers, where, route.key)
            return await grade(self, request, endpoint, route, headers, data, rec)
        if endpoint.api != "meta":
            if model is None:
                return self.refuse(rec, 400, "ptb gateway: the request names no model")
            if model not in route.allow_models:
                allowed = ", ".join(route.allow_models)
                return self.refuse(
                    rec,
                    403,
                    f"ptb gateway: model '{model}' is not allowed in this run (allowed: "
                    f"{allowed}); this attempt has been recorded",
                )
            why = self.ledger.limit_reached()
            if why:
                return self.refuse(rec, 403, f"ptb gateway: {why}; no further requests pass")
        self.log.write_body(rec["ts"], model, body)
        return await self.forward(request, endpoint, route, where, body, data, rec)

    def is_probe(self, request: web.Request) -> bool:
        """A CLI checking that its base URL answers (Claude Code sends ``HEAD /`` without a
        key): answered here, nothing goes upstream."""
        roots = {"/"} | {r.prefix or "/" for r in self.settings.routes}
        return request.method in ("HEAD", "GET") and request.path in roots

    def refuse(self, rec: dict[str, Any], status: int, message: str) -> web.Response:
        rec["status"] = status
        rec["reason"] = message
        return web.json_response(error_body(rec["api"], status, message), status=status)

    async def forward(
        self,
        request: web.Request,
        endpoint: Endpoint,
        route: Route,
        where: str,
        body: bytes,
        data: dict[str, Any] | None,
        rec: dict[str, Any],
    ) -> web.StreamResponse:
        """Pass the request upstream with the real key; ``data`` is its body parsed."""
        assert self.session is not None
        headers = upstream_headers(request.headers, where, route.key)
        strip: UsageChunkFilter | None = None
        if endpoint.api == "openai_chat" and (asked := ask_for_usage(data)) is not None:
            body, strip = asked, UsageChunkFilter()  # usage is read, the client sees its stream
        url = URL(route.origin + request.raw_path, encoded=True)
        if where == "query:key":
            url = url.update_query(key=route.key)
        rec["allowed"] = True
        reader: UsageReader | None = None
        response: web.StreamResponse | None = None
        try:
            async with self.session.request(
                request.method,
                url,
                data=body if body else None,
                headers=headers,
                allow_redirects=False,
            ) as upstream:
                rec["status"] = upstream.status
                content_type = upstream.headers.get("Content-Type", "")
                rec["stream"] = content_type.startswith("text/event-stream")
                if not rec["stream"]:
                    strip = None
                reader = UsageReader(endpoint.api, content_type)
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for name, value in upstream.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        response.headers.add(name, value)
                if "Content-Length" in upstream.headers and strip is None:
                    response.content_length = int(upstream.headers["Content-Length"])
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    reader.feed(chunk)
                    out = strip.feed(chunk) if strip is not None else chunk
                    if out:
                        await response.write(out)
                if strip is not None and (rest := strip.flush()):
                    await response.write(rest)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            if response is None:  # nothing sent yet: a proper error the CLI can show
                return self.refuse_upstream(rec, exc)
            rec["reason"] = f"upstream failed mid-response: {type(exc).__name__}: {exc}"
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            rec["reason"] = "the client disconnected"
            raise
        finally:
            if reader is not None and endpoint.counts_usage:
                self._account(rec, reader.close())

    def refuse_upstream(self, rec: dict[str, Any], exc: BaseException) -> web.Response:
        response = self.refuse(rec, 502, f"ptb gateway: upstream unreachable ({exc})")
        rec["allowed"] = True  # allowed, but it failed: not a refusal
        return response

    def _account(self, rec: dict[str, Any], usage: Usage) -> None:
        rec.update(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            usage_reported=usage.reported,
        )
        rec["cost_usd"] = self.ledger.charge(rec["model"], usage)

    def _check_limit(self) -> None:
        why = self.ledger.limit_reached()
        if why and not self.limit_announced:
            self.limit_announced = True
            emit("limit", reason=why, totals=self.ledger.totals())


def upstream_headers(
    incoming: CIMultiDict[str] | CIMultiDictProxy[str], where: str, key: str
) -> CIMultiDict[str]:
    """The caller's headers, minus hop-by-hop ones, with the real key where the token was.

    ``Accept-Encoding: identity`` asks for an uncompressed body, so usage can be read from it.
    """
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        if name.lower() not in HOP_BY_HOP and name.lower() != "accept-encoding":
            headers.add(name, value)
    headers["Accept-Encoding"] = "identity"
    if not key:  # a local grader endpoint without a key: the token goes nowhere
        if where and where != "query:key":
            headers.pop(where, None)
    elif where == "authorization":
        headers["Authorization"] = f"Bearer {key}"
    elif where and where != "query:key":
        headers[where] = key
    return headers


def build_app(gateway: Gateway) -> web.Application:
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", gateway.handle)

    async def on_startup(_: web.Application) -> None:
        await gateway.start_session()

    async def on_cleanup(_: web.Application) -> None:
        if gateway.session is not None:
            await gateway.session.close()
        gateway.log.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    gateway = Gateway(settings)
    runner = web.AppRunner(build_app(gateway), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    await web.SockSite(runner, sock).start()
    emit("ready", port=sock.getsockname()[1])
    await stop.wait()
    await runner.cleanup()
    emit("stopped", totals=gateway.ledger.totals())


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for _ in sys.stdin.buffer:
        pass
    loop.call_soon_threadsafe(stop.set)


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    threading.Thread(target=_watch_stdin, args=(loop, stop), daemon=True).start()
    await serve(settings, stop)


def main() -> None:
    line = sys.stdin.buffer.readline()
    if not line.strip():
        sys.exit("ptb.gateway.server reads its settings as one JSON line on stdin")
    asyncio.run(_main(Settings.from_json(json.loads(line))))


if __name__ == "__main__":
    main()
