"""``sandbox.network=egress``: the agent's internet access through a logging proxy on the host.

The sandbox has its own network namespace (only its own loopback). An HTTP(S) proxy runs in the
ptb process, outside the sandbox, on the host's 127.0.0.1; the relay of ``ptb.sandbox.forward``
makes it reachable on the sandbox's 127.0.0.1 at the same port, and the standard proxy variables
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and their lower-case forms) point the agent's
tools at it. ``NO_PROXY`` keeps the sandbox's own loopback (the model-API gateway's relay) direct.

The proxy speaks ``CONNECT host:port`` (HTTPS and anything else tunnelled; TLS stays end to end)
and absolute-form HTTP requests (``GET http://host/path``, sent on with ``Connection: close``).
For each connection it

- checks the host name against ``sandbox.egress.deny`` and ``allow`` (shell globs, matched
  case-insensitively against the name or IP literal the client asked for; deny wins; an empty
  allow list allows every host),
- lets through ``localhost``/``127.0.0.1`` only on the ports of the services already relayed into
  the sandbox (``SandboxSpec.forwards``: the gateway, a model endpoint), for clients that send
  even those through the proxy,
- resolves the name itself and refuses every address that is not globally routable (loopback,
  private, link-local, shared, reserved, multicast: the host's own services, the LAN, a name that
  resolves to 127.0.0.1), unless it lies in ``sandbox.egress.allow_networks`` (a site's package
  mirror on the LAN; the tests' stand-in "internet host"), and connects to the address it checked
  (no second lookup that a rebinding DNS server could answer differently),
- appends one JSON line to the log (``solve/egress.jsonl``) when the connection ends:
  ``{"t_start", "t_end", "method", "host", "port", "ip", "allowed", "reason", "status",
  "bytes_up", "bytes_down"}`` (times are Unix seconds; bytes as seen by the proxy, up = from the
  agent).

What does not go through it does not leave the sandbox: tools that ignore the proxy variables, raw
sockets, UDP and DNS have no route out.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
CHUNK = 256 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 30.0
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
NO_PROXY = "localhost,127.0.0.1,::1"

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[str, ...] = ()
    """Host globs the agent may reach; empty: every (public) host."""
    deny: tuple[str, ...] = ()
    """Host globs refused even when ``allow`` matches."""
    allow_networks: tuple[str, ...] = ()
    """CIDRs of non-public addresses that may be reached nonetheless."""

    @classmethod
    def from_config(cls, cfg: Any) -> EgressPolicy:
        """From ``sandbox.egress`` (a dataclass, a DictConfig or None)."""
        if cfg is None:
            return cls()

        def get(name: str) -> tuple[str, ...]:
            return tuple(str(x) for x in (getattr(cfg, name, None) or ()))

        policy = cls(get("allow"), get("deny"), get("allow_networks"))
        policy.networks()  # a malformed CIDR fails now, not at the first connection
        return policy

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.allow_networks]

    def check_host(self, host: str) -> str | None:
        """Why ``host`` is refused by name, or None."""
        if matches(host, self.deny):
            return "denied host"
        if self.allow and not matches(host, self.allow):
            return "host not in sandbox.egress.allow"
        return None

    def check_ip(self, ip: IP) -> str | None:
        """Why the address is refused, or None."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.networks()):
            return None
        if ip.is_global and not ip.is_multicast:
            return None
        kind = "loopback" if ip.is_loopback else "link-local" if ip.is_link_local else "private"
        return f"{kind} address {ip} (not globally routable)"


def matches(host: str, patterns: Iterable[str]) -> bool:
    """Whether ``host`` matches one of the globs (case-insensitive)."""
    name = host.lower().rstrip(".")
    return any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class EgressProxy:
    """The proxy, on the host's 127.0.0.1 in a thread of its own (``start``/``stop``)."""

    def __init__(self, policy: EgressPolicy, log_path: Path, forwarded: Iterable[int] = ()) -> None:
        self.policy = policy
        self.log_path = log_path
        self.forwarded = frozenset(forwarded)
        """Ports of the host-loopback services relayed into the sandbox anyway (the gateway, a
        model endpoint): a client that sends even those through the proxy (some CLIs ignore
        NO_PROXY) reaches them on the host's 127.0.0.1, and nothing else on loopback."""
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._write_lock = threading.Lock()

    def __enter__(self) -> EgressProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables that point the agent's tools at the proxy (inside the sandbox the relay
        listens on the same port)."""
        env = dict.fromkeys(PROXY_VARS, self.url)
        env.update(NO_PROXY=NO_PROXY, no_proxy=NO_PROXY, NODE_USE_ENV_PROXY="1")
        return env

    def start(self) -> None:
        if self._thread is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=256)
                )
                self.port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as exc:  # reported to start()'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="ptb-egress-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the egress proxy could not start: {errors[0]}") from errors[0]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=5)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    # ------------------------------------------------------------------ per connection

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        entry: dict[str, Any] = {"t_start": round(time.time(), 3), "method": None, "host": None,
                                 "port": None, "ip": None, "allowed": False, "reason": None,
                                 "status": None, "bytes_up": 0, "bytes_down": 0}  # fmt: skip
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            method, host, port, first = self._parse(head)
            entry.update(method=method, host=host, port=port)
            self._check_name(host)
            ip = await self._resolve(host, port)
            entry["ip"] = str(ip)
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(str(ip), port), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError) as exc:
                raise Refused(502, f"cannot connect: {exc.__class__.__name__}") from exc
            upstream = up_writer
            entry.update(allowed=True, status=200)
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                up_writer.write(first)
                entry["bytes_up"] += len(first)
            await asyncio.gather(
                self._pipe(reader, up_writer, entry, "bytes_up"),
                self._pipe(up_reader, writer, entry, "bytes_down"),
            )
        except Refused as exc:
            entry.update(reason=exc.reason, status=exc.status)
            with contextlib.suppress(Exception):
                body = f"ptb egress proxy: {exc.reason}\n".encode()
                writer.write(
                    f"HTTP/1.1 {exc.status} Refused\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            entry.update(reason="malformed or no request", status=400)
        except asyncio.CancelledError:
            entry["reason"] = entry["reason"] or "stopped with the sandbox"
        except OSError as exc:
            entry["reason"] = entry["reason"] or f"connection error: {exc.__class__.__name__}"
        finally:
            for w in (writer, upstream):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()
            entry["t_end"] = round(time.time(), 3)
            self._write(entry)
            self._tasks.discard(task)

    def _parse(self, head: bytes) -> tuple[str, str, int, bytes]:
        """(method, host, port, the request head to send on, empty for CONNECT)."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise Refused(400, "malformed request line")
        method, target, version = parts
        if method.upper() == "CONNECT":
            host, sep, port_text = target.rpartition(":")
            if not sep or not port_text.isdigit():
                raise Refused(400, "CONNECT needs host:port")
            host = host.strip("[]")
            return "CONNECT", host, int(port_text), b""
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            raise Refused(400, "only CONNECT and absolute http:// requests are proxied")
        host, port = url.hostname, url.port or 80
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        headers = [h for h in lines[1:] if h and not _hop_header(h)]
        out = [f"{method} {path} {version}", *headers, "Connection: close", "", ""]
        return method, host, port, "\r\n".join(out).encode("latin-1")

    def _check_name(self, host: str) -> None:
        reason = self.policy.check_host(host)
        if reason:
            raise Refused(403, f"{reason}: {host}")

    async def _resolve(self, host: str, port: int) -> IP:
        """The first address of ``host`` the policy allows; refuses if there is none."""
        loop = asyncio.get_running_loop()
        if port in self.forwarded and host.lower() in ("localhost", "127.0.0.1", "::1"):
            return ipaddress.ip_address("127.0.0.1")  # what the relay reaches anyway
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(502, f"cannot resolve {host}: {exc}") from exc
        reasons = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            reason = self.policy.check_ip(ip)
            if reason is None:
                return ip
            reasons.append(reason)
        raise Refused(403, f"{host}: {reasons[0] if reasons else 'no address'}")

    @staticmethod
    async def _pipe(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, entry: dict[str, Any], key: str
    ) -> None:
        try:
            while data := await src.read(CHUNK):
                entry[key] += len(data)
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if dst.can_write_eof():
                    dst.write_eof()

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=False) + "\n"
        with self._write_lock, self.log_path.open("a", encoding="utf-8") as f:
            f.write(line)


def _hop_header(line: str) -> bool:
    name = line.split(":", 1)[0].strip().lower()
    return name in ("proxy-connection", "proxy-authorization", "connection", "keep-alive")


def read_log(path: Path) -> list[dict[str, Any]]:
    """The entries of an egress log (missing file: none; a torn last line is skipped)."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            entries.append(json.loads(line))
    return entries


def summarize(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Connections, refused ones, bytes and the hosts contacted (for status and reports)."""
    hosts: dict[str, dict[str, int]] = {}
    for e in entries:
        h = hosts.setdefault(str(e.get("host")), {"allowed": 0, "refused": 0, "bytes": 0})
        h["allowed" if e.get("allowed") else "refused"] += 1
        h["bytes"] += int(e.get("bytes_up") or 0) + int(e.get("bytes_down") or 0)
    return {
        "connections": len(entries),
        "refused": sum(1 for e in entries if not e.get("allowed")),
        "bytes_down": sum(int(e.get("bytes_down") or 0) for e in entries),
        "bytes_up": sum(int(e.get("bytes_up") or 0) for e in entries),
        "hosts": hosts,
    }
