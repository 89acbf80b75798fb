"""The relay that lets a sandbox without network reach one host service (``ptb.sandbox.forward``):
through bubblewrap with ``network=none``, the forwarded port answers and nothing else does."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ptb.config.sandbox import SandboxConfig
from ptb.sandbox import SandboxSpec
from ptb.sandbox.bwrap import BwrapSandbox
from ptb.sandbox.forward import Forward

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]

FETCH = """
import sys, urllib.request
for port in sys.argv[1:]:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=5).read().decode()
        print(port, "ok", body)
    except OSError as exc:
        print(port, "refused", type(exc).__name__)
"""


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers() -> Iterator[tuple[int, int]]:
    a, b = _server(), _server()
    yield a.server_address[1], b.server_address[1]
    for s in (a, b):
        s.shutdown()
        s.server_close()


def _run(
    tmp_path: Path, network: str, forwards: tuple[Forward, ...], ports: list[int]
) -> list[str]:
    home = tmp_path / "run" / "solve" / "job"
    home.mkdir(parents=True)
    spec = SandboxSpec(
        home=home,
        workdir=home,
        env={"PATH": "/usr/bin:/bin"},
        extra_ro_binds=(Path(sys.prefix), Path(sys.base_prefix)),
        forwards=forwards,
    )
    lines: list[str] = []
    sandbox = BwrapSandbox(SandboxConfig(name="bwrap", impl="bwrap", network=network), spec)
    with sandbox:
        argv = [sys.executable, "-c", FETCH, *map(str, ports)]
        result = sandbox.exec(
            argv, limit_s=60, kill_after_s=5, on_line=lambda _s, line: lines.append(line)
        )
    assert result.exit_code == 0, lines
    assert sandbox.relays.socket_dir is None  # stopped and removed
    return lines


def test_only_the_forwarded_port_is_reachable_without_network(
    tmp_path: Path, servers: tuple[int, int]
) -> None:
    wanted, other = servers
    lines = _run(tmp_path, "none", (Forward("127.0.0.1", wanted),), [wanted, other])
    assert f"{wanted} ok hello from the host" in lines
    assert any(line.startswith(f"{other} refused") for line in lines)


def test_without_forwards_nothing_is_reachable(tmp_path: Path, servers: tuple[int, int]) -> None:
    wanted, _ = servers
    lines = _run(tmp_path, "none", (), [wanted])
    assert lines[0].startswith(f"{wanted} refused")


def test_open_network_needs_no_relay(tmp_path: Path, servers: tuple[int, int]) -> None:
    wanted, other = servers
    lines = _run(tmp_path, "open", (Forward("127.0.0.1", wanted),), [wanted, other])
    assert f"{wanted} ok hello from the host" in lines
    assert f"{other} ok hello from the host" in lines
