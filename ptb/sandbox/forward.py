"""A host service in a sandbox without network: a Unix socket bound in, a port on its loopback.

With ``sandbox.network=none`` the sandbox has its own, empty loopback. A service on the host (the
model-API gateway) listens on a Unix socket too; the backend binds the socket's folder into the
sandbox at the same path and starts the agent's command under this forwarder:

    python .../ptb/sandbox/forward.py --unix /tmp/ptb-gw-x/gw.sock --port 4100 -- <agent argv>

which listens on 127.0.0.1:4100 inside the sandbox, pipes every connection to the socket, runs
the command, passes TERM/INT on to it and exits with its status. Standard library only: it runs
with whatever Python the sandbox (or the agent image) has.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Forward:
    socket: Path
    """Host path of the Unix socket; bound into the sandbox at the same path."""
    port: int
    """TCP port on the sandbox's loopback."""

    def argv(self, python: str) -> list[str]:
        """The prefix that runs a command under the forwarder: this file run as a script (not
        ``-m``), so that nothing but the standard library is imported inside the sandbox."""
        script = str(Path(__file__).resolve())
        return [python, script, "--unix", str(self.socket), "--port", str(self.port), "--"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(unix: str, port: int, ready: threading.Event) -> None:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(unix)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(on_client, "127.0.0.1", port)
    ready.set()
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="forward.py")
    parser.add_argument("--unix", required=True, help="Unix socket to forward to")
    parser.add_argument("--port", type=int, required=True, help="loopback TCP port to listen on")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    ready = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(_serve(args.unix, args.port, ready)), daemon=True
    )
    thread.start()
    if not ready.wait(10):
        print(f"ptb.sandbox.forward: could not listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 70
    child = subprocess.Popen(command)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
