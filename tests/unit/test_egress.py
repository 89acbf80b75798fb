"""The egress proxy without a sandbox: policy (allow/deny globs, non-public addresses), CONNECT
and absolute-form HTTP, and its log."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ptb.sandbox.egress import EgressPolicy, EgressProxy, read_log, summarize

INET = "127.0.0.2"
"""The "internet host" of these tests: a loopback address the policy is told to allow
(``allow_networks``); 127.0.0.1 stays refused as the host's own loopback."""


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _server(host: str) -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer((host, 0), Hello)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


@pytest.fixture
def servers() -> Iterator[tuple[int, int]]:
    """(port on INET, port on 127.0.0.1)."""
    a, b = _server(INET), _server("127.0.0.1")
    yield a.server_address[1], b.server_address[1]
    for s in (a, b):
        s.shutdown()
        s.server_close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[EgressProxy]:
    policy = EgressPolicy(deny=("denied.*", "127.0.0.3"), allow_networks=(f"{INET}/32",))
    with EgressProxy(policy, tmp_path / "egress.jsonl") as p:
        yield p


def _get(proxy: EgressProxy, url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy.url, "https": proxy.url})
    )
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _connect(proxy: EgressProxy, target: str) -> tuple[str, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return head.decode().split("\r\n")[0], sock


def test_policy_globs_and_addresses() -> None:
    policy = EgressPolicy(allow=("*.huggingface.co", "pypi.org"), deny=("evil.huggingface.co",))
    assert policy.check_host("cdn-lfs.huggingface.co") is None
    assert policy.check_host("PyPI.org.") is None
    assert policy.check_host("evil.huggingface.co") == "denied host"
    assert "not in sandbox.egress.allow" in str(policy.check_host("github.com"))
    for addr in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1",
                 "100.64.0.1", "::ffff:127.0.0.1", "224.0.0.1", "0.0.0.0"):  # fmt: skip
        assert policy.check_ip(ipaddress.ip_address(addr)) is not None, addr
    assert policy.check_ip(ipaddress.ip_address("8.8.8.8")) is None
    lan = EgressPolicy(allow_networks=("10.1.2.0/24",))
    assert lan.check_ip(ipaddress.ip_address("10.1.2.9")) is None
    assert lan.check_ip(ipaddress.ip_address("10.1.3.9")) is not None


def test_bad_cidr_fails_when_configured() -> None:
    class Cfg:
        allow: list[str] = []
        deny: list[str] = []
        allow_networks = ["10.0.0.0/33"]

    with pytest.raises(ValueError):
        EgressPolicy.from_config(Cfg())


def test_http_and_connect_reach_an_allowed_host(
    proxy: EgressProxy, servers: tuple[int, int]
) -> None:
    inet, _ = servers
    assert _get(proxy, f"http://{INET}:{inet}/a?b=1") == (200, "hello /a?b=1")
    status, sock = _connect(proxy, f"{INET}:{inet}")
    assert status == "HTTP/1.1 200 Connection established"
    sock.sendall(f"GET /tunnel HTTP/1.1\r\nHost: {INET}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    assert data.endswith(b"hello /tunnel")
    proxy.stop()
    entries = read_log(proxy.log_path)
    assert [e["method"] for e in entries] == ["GET", "CONNECT"]
    for e in entries:
        assert e["allowed"] and e["host"] == INET and e["port"] == inet and e["ip"] == INET
        assert e["bytes_down"] > 0 and e["bytes_up"] > 0 and e["t_end"] >= e["t_start"]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("loopback", "loopback address 127.0.0.1"),
        ("localhost", "loopback address"),
        ("127.0.0.3", "denied host"),
        ("denied.example", "denied host"),
        ("10.9.9.9", "private address"),
    ],
)
def test_refused_destinations(
    proxy: EgressProxy, servers: tuple[int, int], target: str, reason: str
) -> None:
    _, local = servers
    host = "127.0.0.1" if target == "loopback" else target
    status, body = _get(proxy, f"http://{host}:{local}/")
    assert status == 403 and reason in body
    line, sock = _connect(proxy, f"{host}:{local}")
    sock.close()
    assert line.startswith("HTTP/1.1 403")
    proxy.stop()
    entries = read_log(proxy.log_path)
    assert len(entries) == 2 and not any(e["allowed"] for e in entries)
    assert all(reason in e["reason"] and e["bytes_down"] == 0 for e in entries)
    assert {e["host"] for e in entries} == {host}
    assert {e["method"] for e in entries} == {"GET", "CONNECT"}


def test_garbage_is_logged_and_dropped(proxy: EgressProxy) -> None:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(b"HELLO\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 400")
    sock.close()
    proxy.stop()
    (entry,) = read_log(proxy.log_path)
    assert entry["status"] == 400 and not entry["allowed"]


def test_summary_counts_hosts(tmp_path: Path) -> None:
    log = tmp_path / "egress.jsonl"
    rows = [{"host": "a", "allowed": True, "bytes_up": 1, "bytes_down": 10},
            {"host": "b", "allowed": False, "bytes_up": 0, "bytes_down": 0}]  # fmt: skip
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    summary = summarize(read_log(log))
    assert summary["connections"] == 2 and summary["refused"] == 1
    assert summary["bytes_down"] == 10 and summary["hosts"]["a"]["allowed"] == 1


def test_forwarded_loopback_ports_pass(tmp_path: Path, servers: tuple[int, int]) -> None:
    """A client that sends even the relayed gateway's requests through the proxy reaches that
    one host-loopback service, and no other loopback port."""
    _, local = servers
    with EgressProxy(EgressPolicy(), tmp_path / "egress.jsonl", forwarded=[local]) as proxy:
        assert _get(proxy, f"http://localhost:{local}/v1") == (200, "hello /v1")
        assert _get(proxy, f"http://127.0.0.1:{local + 1 if local < 65535 else 1}/")[0] == 403
    first, second = read_log(proxy.log_path)
    assert first["allowed"] and first["ip"] == "127.0.0.1" and not second["allowed"]
