"""A stand-in "internet host" for the egress tests: an HTTP server in a network namespace of its
own, reached from the host over a veth pair (``ip netns``, needs root and iproute2).

There is no internet on the development machines. The namespace answers on two private
addresses, ``ip`` (``10.231.N.2``) and ``denied_ip`` (``.3``), both refused by the egress proxy by
default; a test that means to reach them names ``network`` (``.2/31``, exactly those two) in
``sandbox.egress.allow_networks`` — what a site does for a package mirror on its LAN — and puts
``denied_ip`` in ``sandbox.egress.deny``. The host's end of the veth pair (``lan_ip``, ``.1``)
stands for a LAN service of the host and stays refused, as does the host's loopback.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InetHost:
    ip: str
    denied_ip: str
    lan_ip: str
    """The host's own address on the veth pair."""
    port: int
    network: str
    """``ip`` and ``denied_ip`` (for ``sandbox.egress.allow_networks``)."""
    root: Path
    """The folder it serves."""

    def url(self, path: str = "") -> str:
        return f"http://{self.ip}:{self.port}/{path}"


def available() -> str | None:
    """Why the fixture cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextmanager
def internet_host(root: Path, port: int = 8080) -> Iterator[InetHost]:
    """Serve ``root`` over HTTP from a fresh network namespace; removed afterwards."""
    tag = f"{os.getpid() % 100000}{random.randrange(100, 999)}"
    ns, outer, inner = f"ptb-inet-{tag}", f"pti{tag}a", f"pti{tag}b"
    octet = random.randrange(1, 250)
    base = f"10.231.{octet}"
    host_ip, ip, denied_ip = f"{base}.1", f"{base}.2", f"{base}.3"
    server: subprocess.Popen[bytes] | None = None
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        _ip("addr", "add", f"{host_ip}/29", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("-n", ns, "addr", "add", f"{ip}/29", "dev", inner)
        _ip("-n", ns, "addr", "add", f"{denied_ip}/29", "dev", inner)
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", "--bind", "0.0.0.0",
             "--directory", str(root), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((ip, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the stand-in internet host did not start") from None
                time.sleep(0.1)
        yield InetHost(ip, denied_ip, host_ip, port, f"{ip}/31", root)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
