"""Starting and stopping the gateway process from the solve stage.

The settings, keys included, go to the child as one JSON line on its stdin; stdin then stays open
and its end is the signal to stop, so the gateway also ends when the solve stage dies. The child's
environment is the parent's minus every secret-named variable, and its argv names only the module.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ptb.secrets import is_secret_name


class GatewayError(RuntimeError):
    pass


class GatewayProcess:
    def __init__(self, settings: dict[str, Any], stderr_path: Path, start_timeout_s: float = 20.0):
        self.settings = settings
        self.stderr_path = stderr_path
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self.limit = threading.Event()
        """Set when the gateway reports a per-run limit reached."""
        self.limit_reason: str | None = None
        self.totals: dict[str, Any] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self._stderr: IO[bytes] | None = None

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not is_secret_name(k)}
        env["PYTHONUNBUFFERED"] = "1"
        self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = self.stderr_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "ptb.gateway.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(self.settings).encode() + b"\n")
        self._proc.stdin.flush()
        self._reader = threading.Thread(target=self._read_events, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.start_timeout_s) or self.port is None:
            self.stop()
            tail = self.stderr_path.read_text(errors="replace")[-2000:]
            raise GatewayError(
                f"the model-API gateway did not start within {self.start_timeout_s:.0f} s "
                f"(see {self.stderr_path}): {tail}"
            )

    def _read_events(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "ready":
                self.port = int(event["port"])
                self._ready.set()
            elif kind == "limit":
                self.limit_reason = str(event.get("reason"))
                self.limit.set()
            elif kind == "stopped":
                self.totals = event.get("totals")
        self._ready.set()  # ended before (or after) ready: unblock start()

    def stop(self, timeout_s: float = 10.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._stderr is not None:
            self._stderr.close()
        self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
