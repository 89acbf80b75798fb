"""The relay without a sandbox: host Unix socket → TCP, and the in-sandbox wrapper that listens
on loopback and then becomes the agent's command (same exit code)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ptb.sandbox.forward import Forward, Relays


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield int(srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def test_no_forwards_leave_the_command_alone() -> None:
    relays = Relays(())
    relays.start()
    assert relays.socket_dir is None
    assert relays.wrap("python3", ["agent", "--x"]) == ["agent", "--x"]


def test_wrapped_command_reaches_the_host_service_and_keeps_its_exit_code(server: int) -> None:
    inner = server + 1 if server < 65535 else server - 1  # another port: proves the relay
    fetch = (
        "import urllib.request, sys;"
        f"print(urllib.request.urlopen('http://127.0.0.1:{inner}/').read().decode());"
        "sys.exit(7)"
    )
    with Relays((Forward("127.0.0.1", server, sandbox_port=inner),)) as relays:
        assert (
            relays.socket_dir is not None
            and len(str(relays.sockets[next(iter(relays.sockets))])) < 100
        )
        argv = relays.wrap(sys.executable, [sys.executable, "-c", fetch])
        assert argv[:3] == [sys.executable, "-m", "ptb.sandbox.forward"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "hello", proc.stderr
    assert proc.returncode == 7
    assert relays.socket_dir is None  # removed on exit


def test_forward_needs_a_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ptb.sandbox.forward", "--listen", "1=/nonexistent"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "give the command to run" in proc.stderr
