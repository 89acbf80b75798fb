"""The sandbox interface: argv-list exec with a hard time limit, file staging, lifecycle.

A backend turns the agent's argv into the argv that runs it isolated (bubblewrap, Apptainer) and
is told what the agent's world is through a ``SandboxSpec``. Backends know nothing of agents or
benchmarks.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ptb.config.sandbox import SandboxConfig
from ptb.sandbox.egress import EgressPolicy, EgressProxy
from ptb.sandbox.forward import Forward, Relays
from ptb.sandbox.overlay import CacheOverlay, hf_cache, parse_bind
from ptb.sandbox.process import ExecResult, run_limited
from ptb.stages.provenance import harvest_overlay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxSpec:
    """What the agent's world is, and where the sandbox writes outside it. Every path of a run
    directory comes from the caller (the solve stage takes them from ``RunDir``); the sandbox
    names none itself."""

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
    """Host TCP services to make reachable on the sandbox's own loopback when it has its own
    network namespace (``none``, ``egress``; ``ptb.sandbox.forward``); ignored with ``host``,
    where the host's loopback is reachable anyway."""
    hide: tuple[Path, ...] = ()
    """Host paths the agent must not see even where a bind would include them (a read-only
    bind, the interpreter's prefix, a model or data folder, ``sandbox.binds``, the system
    folders): the solve stage passes the results root and the run directory. ``home`` and what
    lies inside it are never hidden: a hidden folder that holds HOME is emptied and HOME bound
    again on top. ``sandbox=none`` cannot hide anything."""
    egress_log: Path | None = None
    """Where ``network=egress`` logs each connection, outside the agent's view (the solve
    stage: ``RunDir.egress_log``); required with ``egress``."""
    cache_layers: Path | None = None
    """A folder outside HOME for the HF cache overlay's per-run layers (``RunDir.cache_layers``);
    without it the shared cache is not mounted."""
    cache_listing: Path | None = None
    """Where ``stop`` lists what the agent added to the HF cache overlay (``RunDir.hf_overlay``);
    None: not listed."""
    cache_datasets: Path | None = None
    """Where ``stop`` keeps the dataset files the agent downloaded into the cache
    (``RunDir.hf_datasets``); with ``cache_listing``."""


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


NETWORKS = ("egress", "none", "host")
ALIASES = {"open": "host"}
"""Deprecated names still accepted (saved configs load), with a warning."""
SCHEDULER_PREFIXES = ("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SCRON_", "MUNGE_", "PBS_",
                      "LSB_", "SGE_")  # fmt: skip
"""Variables of a batch scheduler: never passed into an isolating sandbox, even if allow-listed."""
HOST_NETWORK_WARNING = (
    "sandbox.network=host: the agent shares the host's network namespace — every service on the "
    "host's loopback and LAN, and every abstract Unix socket, is reachable, and its traffic is "
    "not logged. Use it for debugging only (sandbox.network=egress is the default)."
)


def network_mode(value: object) -> str:
    """``sandbox.network`` as one of ``NETWORKS`` (an enum's value or a string; ``open`` is
    the old name of ``host``)."""
    text = str(getattr(value, "value", value))
    if text in ALIASES:
        log.warning("sandbox.network=%s is deprecated: it is now called %r", text, ALIASES[text])
        text = ALIASES[text]
    if text not in NETWORKS:
        raise ValueError(f"sandbox.network={text!r}: expected one of {', '.join(NETWORKS)}")
    return text


def without_scheduler(env: dict[str, str]) -> dict[str, str]:
    """``env`` less the batch scheduler's variables (``SLURM_*``, ``SBATCH_*``, …)."""
    dropped = sorted(k for k in env if k.startswith(SCHEDULER_PREFIXES))
    if dropped:
        log.warning("not passed into the sandbox (scheduler variables): %s", ", ".join(dropped))
    return {k: v for k, v in env.items() if k not in dropped}


def hidden_paths(
    hide: tuple[Path, ...], home: Path, mounts: list[tuple[Path, Path]]
) -> list[tuple[Path, Path]]:
    """(host path, where it appears inside) for each hidden path that exists and that a mount
    ``(src, dst)`` shows; HOME and paths inside it are left out, and so is a path inside
    another hidden one (already covered)."""
    found: dict[Path, Path] = {}
    for path in dict.fromkeys(Path(os.path.abspath(p)) for p in hide):
        if path == home or home in path.parents or not os.path.lexists(path):
            continue
        for src, dst in mounts:
            if path == src or src in path.parents:
                found.setdefault(dst / path.relative_to(src), path)
    return [(host, inside) for inside, host in found.items()
            if not any(other in inside.parents for other in found)]  # fmt: skip


class IsolatedSandbox(Sandbox):
    """What the isolating backends (bwrap, apptainer) share: a checked network policy (with the
    egress proxy and the relays into the sandbox's own network namespace), the configured extra
    binds and the per-run overlay of the HF cache (started by the backend)."""

    def __init__(self, cfg: SandboxConfig, spec: SandboxSpec) -> None:
        super().__init__(cfg, spec)
        self.network = network_mode(cfg.network)
        if self.network == "host":
            self.warning = HOST_NETWORK_WARNING
        self.policy = EgressPolicy.from_config(getattr(cfg, "egress", None))
        self.binds = [parse_bind(b) for b in cfg.binds]
        self.binary = self.requires[0] if self.requires else ""
        cache = hf_cache(spec.env, os.environ)
        if cache and spec.cache_layers is None:
            log.info("HF cache %s not mounted: the spec names no folder for its layers", cache)
        layers = spec.cache_layers
        self.overlay = CacheOverlay(cache, layers) if cache and layers else None
        self.proxy: EgressProxy | None = None
        self.relays = Relays(())

    @property
    def own_netns(self) -> bool:
        """Whether the sandbox gets its own network namespace (only its own loopback)."""
        return self.network in ("none", "egress")

    def start(self) -> None:
        self.start_network()

    def stop(self) -> None:
        self.stop_network()
        if self.overlay:
            listing, datasets = self.spec.cache_listing, self.spec.cache_datasets
            try:  # what the agent fetched into the cache, before its layer is discarded
                if listing is not None and datasets is not None:
                    harvest_overlay(self.overlay.upper, listing, datasets, self.overlay.mode)
            except OSError as exc:
                log.warning("could not record the HF cache overlay's contents: %s", exc)
            self.overlay.stop()

    def start_network(self) -> None:
        """Start the egress proxy (``egress``) and the relays that carry it and the spec's
        forwards into the sandbox's own network namespace (``none``, ``egress``)."""
        if self.relays.socket_dir is not None:
            return
        forwards = self.spec.forwards if self.own_netns else ()
        if self.network == "egress":
            if self.spec.egress_log is None:
                raise ValueError("sandbox.network=egress needs SandboxSpec.egress_log (its log)")
            ports = [f.port for f in forwards if f.host in ("127.0.0.1", "localhost")]
            self.proxy = EgressProxy(self.policy, self.spec.egress_log, ports)
            self.proxy.start()
            forwards = (*forwards, Forward("127.0.0.1", self.proxy.port))
        self.relays = Relays(tuple(dict.fromkeys(forwards)))
        self.relays.start()

    def stop_network(self) -> None:
        self.relays.stop()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    def inside_env(self) -> dict[str, str]:
        """The agent's environment: the spec's, less scheduler variables, plus the proxy
        variables with ``egress``."""
        env = without_scheduler(dict(self.spec.env))
        if self.proxy is not None:
            env.update(self.proxy.env())
        return env
