"""The sandbox interface: argv-list exec with a hard time limit, file staging, lifecycle.

A backend turns the agent's argv into the argv that runs it isolated (bubblewrap, Apptainer) and
is told what the agent's world is through a ``SandboxSpec``. Backends know nothing of agents or
benchmarks.
"""

from __future__ import annotations

import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ptb.config.sandbox import SandboxConfig
from ptb.sandbox.forward import Forward, Relays
from ptb.sandbox.overlay import CacheOverlay, hf_cache, parse_bind
from ptb.sandbox.process import ExecResult, run_limited


@dataclass(frozen=True)
class SandboxSpec:
    home: Path
    """The job directory: the agent's HOME and its only writable place."""
    workdir: Path
    """Starting directory (the task folder, inside ``home``)."""
    env: dict[str, str]
    """The complete environment the agent gets (already cleared and allow-listed)."""
    readonly: tuple[Path, ...] = ()
    """Paths inside ``home`` the agent may read but not change (evaluate.py, templates/)."""
    gpus: int = 0
    extra_ro_binds: tuple[Path, ...] = field(default_factory=tuple)
    forwards: tuple[Forward, ...] = ()
    """Host TCP services to make reachable on the sandbox's own loopback when its network is
    off (``ptb.sandbox.forward``); ignored with an open network, where the host's loopback is
    reachable anyway."""


class Sandbox(ABC):
    """One isolated world for one solve. Use as a context manager."""

    requires: tuple[str, str] | None = None
    """(executable, how to install it) checked by the preflight; None if nothing is needed."""

    python: str = sys.executable
    """The Python interpreter as seen inside the sandbox (an image brings its own)."""

    warning: str | None = None
    """A message the solve stage shows before starting (e.g. for ``sandbox=none``)."""

    def __init__(self, cfg: SandboxConfig, spec: SandboxSpec) -> None:
        self.cfg = cfg
        self.spec = spec

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare the backend (overlays, images). Default: nothing to do."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what ``start`` made. Default: nothing to do."""

    @abstractmethod
    def wrap(self, argv: list[str]) -> list[str]:
        """The host argv that runs ``argv`` inside the sandbox."""

    def host_env(self) -> dict[str, str]:
        """Environment of the host process that starts the sandbox."""
        return dict(self.spec.env)

    def exec(
        self,
        argv: list[str],
        *,
        limit_s: float,
        kill_after_s: float,
        on_line: Callable[[str, str], None],
        stop: threading.Event | None = None,
    ) -> ExecResult:
        """Run ``argv`` inside the sandbox; stdin closed; TERM then KILL at the limit or once
        ``stop`` is set."""
        return run_limited(
            self.wrap(argv),
            env=self.host_env(),
            cwd=self.spec.workdir,
            limit_s=limit_s,
            kill_after_s=kill_after_s,
            on_line=on_line,
            stop=stop,
        )

    def write_file(self, relpath: str, content: str | bytes, *, mode: int = 0o644) -> Path:
        """Stage a file into the agent's HOME (before start)."""
        path = self.spec.home / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def read_file(self, relpath: str) -> str:
        return (self.spec.home / relpath).read_text(encoding="utf-8")


NETWORKS = ("open", "none")


class IsolatedSandbox(Sandbox):
    """What the isolating backends (bwrap, apptainer) share: a checked network policy, the
    configured extra binds and the per-run overlay of the HF cache (started by the backend)."""

    def __init__(self, cfg: SandboxConfig, spec: SandboxSpec) -> None:
        super().__init__(cfg, spec)
        if cfg.network not in NETWORKS:
            raise ValueError(
                f"sandbox.network={cfg.network!r}: expected one of {', '.join(NETWORKS)}"
            )
        self.binds = [parse_bind(b) for b in cfg.binds]
        self.binary = self.requires[0] if self.requires else ""
        cache = hf_cache(spec.env, os.environ)
        self.overlay = CacheOverlay(cache, spec.home.parent / "overlay") if cache else None
        self.relays = Relays(spec.forwards if cfg.network == "none" else ())

    def start(self) -> None:
        self.relays.start()

    def stop(self) -> None:
        self.relays.stop()
        if self.overlay:
            self.overlay.stop()
