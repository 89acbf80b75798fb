"""Reaching one host TCP service from a sandbox with its own network namespace
(``sandbox.network=none`` or ``egress``).

With its own network namespace the sandbox has only its own loopback, so a server on the host's
127.0.0.1 (the fake model server of the tests, ptb's gateway, the egress proxy) is out of reach.
A relay bridges exactly that one service and nothing else:

    host 127.0.0.1:PORT  <-TCP-  HostRelay  <-Unix socket (bound into the sandbox)-
        <-  in-sandbox listener on the sandbox's 127.0.0.1:PORT  <-TCP-  the agent

The API, for sandbox backends:

- ``Forward(host, port)`` in ``SandboxSpec.forwards`` asks for it (``sandbox_port`` defaults to
  ``port``, so URLs like ``http://127.0.0.1:PORT/v1`` stay valid inside).
- ``Relays(forwards)``: a context manager on the host; ``.start()`` binds one Unix socket per
  forward in a short private folder (``.socket_dir``, to be bound into the sandbox at the same
  path) and relays each connection to the host TCP service; ``.stop()`` closes them.
- ``Relays.wrap(python, argv)``: the argv to run inside the sandbox instead of ``argv``:
  ``python -m ptb.sandbox.forward --listen PORT=SOCKET ... -- argv``. It forks a listener that
  ignores TERM (the agent keeps its API through the grace period) and exits with the agent, then
  execs ``argv``, so the agent keeps the process id, signals and exit code it would have had.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RELAY_SCRIPT = Path(__file__).resolve()
"""This module as a file: it needs only the standard library, so it runs by its path."""

CHUNK = 65536


@dataclass(frozen=True)
class Forward:
    host: str
    port: int
    sandbox_port: int | None = None

    @property
    def inner_port(self) -> int:
        return self.sandbox_port or self.port


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both sides are done, then close both."""
    t = threading.Thread(target=_pipe, args=(b, a), daemon=True)
    t.start()
    _pipe(a, b)
    t.join()
    a.close()
    b.close()


def _serve(listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = connect()
        except OSError:
            conn.close()
            continue
        threading.Thread(target=_splice, args=(conn, upstream), daemon=True).start()


class Relays:
    """Host side: one Unix socket per forward, each relayed to its host TCP service."""

    def __init__(self, forwards: tuple[Forward, ...]) -> None:
        self.forwards = forwards
        self.socket_dir: Path | None = None
        self.sockets: dict[Forward, Path] = {}
        self._listeners: list[socket.socket] = []

    def __enter__(self) -> Relays:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not self.forwards or self.socket_dir is not None:
            return
        # Short path: AF_UNIX paths are limited to 107 bytes.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="ptb-relay-"))
        for i, fwd in enumerate(self.forwards):
            path = self.socket_dir / f"{i}.sock"
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            listener.listen(64)
            self._listeners.append(listener)
            self.sockets[fwd] = path

            def connect(fwd: Forward = fwd) -> socket.socket:
                return socket.create_connection((fwd.host, fwd.port), timeout=30)

            threading.Thread(target=_serve, args=(listener, connect), daemon=True).start()

    def stop(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._listeners.clear()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = None
        self.sockets.clear()

    def wrap(self, python: str, argv: list[str], script: bool = False) -> list[str]:
        """The in-sandbox argv. ``script``: run this file by its path (stdlib only; the backend
        binds ``RELAY_SCRIPT``), for sandboxes where ptb is not importable; otherwise
        ``-m ptb.sandbox.forward`` (an image with ptb installed)."""
        if not self.sockets:
            return argv
        listen = [f"{fwd.inner_port}={path}" for fwd, path in self.sockets.items()]
        pairs = [a for spec in listen for a in ("--listen", spec)]
        # By its path: -S -I (no site-packages, no .pth files, no PYTHON* variables) starts it
        # in a fraction of the time; it needs only the standard library.
        entry = ["-S", "-I", str(RELAY_SCRIPT)] if script else ["-m", "ptb.sandbox.forward"]
        return [python, *entry, *pairs, "--", *argv]


# ---------------------------------------------------------------- inside the sandbox


def _bind_inner(specs: list[str]) -> list[tuple[socket.socket, str]]:
    bound = []
    for spec in specs:
        port, _, path = spec.partition("=")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(port)))
        listener.listen(64)
        bound.append((listener, path))
    return bound


def _serve_inner(bound: list[tuple[socket.socket, str]]) -> None:
    for listener, path in bound:

        def connect(path: str = path) -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            return sock

        threading.Thread(target=_serve, args=(listener, connect), daemon=True).start()


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", action="append", default=[], help="PORT=UNIX_SOCKET")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
    if not argv:
        parser.error("give the command to run after --")
    bound = _bind_inner(ns.listen)  # bound before the agent starts: no race
    agent_pid = os.getpid()
    if os.fork() == 0:  # the listener (threads do not survive fork: started here)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _serve_inner(bound)
        while os.getppid() == agent_pid:  # lives as long as the agent
            time.sleep(0.5)
        os._exit(0)
    for listener, _ in bound:  # the agent does not hold the listening sockets
        listener.close()
    sys.stdout.flush()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
