"""``sandbox=bwrap``: bubblewrap on a local machine (Debian: ``apt-get install bubblewrap``).

The agent sees the host's file system read-only, a fresh /tmp, /dev and /proc, empty /home and
/root, and its job directory at the same path as on the host (so paths in logs match). The
results root is an empty tmpfs, so no other run of any experiment is visible. All capabilities are
dropped (a root-run bwrap keeps them otherwise and can remount / read-write).

The environment is not put on the command line (``--setenv`` values land in /proc/*/cmdline):
``host_env`` returns exactly the allow-listed env, bwrap inherits it and passes it on.

bwrap dies on SIGTERM without forwarding it, and ``--die-with-parent`` then kills the whole
sandbox at once. So bwrap runs with TERM ignored (``env --ignore-signal``) and the agent's command
with TERM restored: the time limit's TERM reaches the agent, which gets the grace period.
"""

from __future__ import annotations

import functools
import glob
import shutil
import subprocess
from pathlib import Path

from ptb.sandbox.base import IsolatedSandbox
from ptb.sandbox.forward import RELAY_SCRIPT

TERM_SHIM_OUTER = ["env", "--ignore-signal=TERM"]
TERM_SHIM_INNER = ["env", "--default-signal=TERM"]


def gpu_devices() -> list[Path]:
    """NVIDIA device files present on this host (/dev/nvidia0, /dev/nvidiactl, /dev/nvidia-uvm…)."""
    return [Path(p) for p in sorted(glob.glob("/dev/nvidia*"))]


@functools.cache
def supports_overlay(binary: str) -> bool:
    """Whether this bubblewrap has ``--overlay`` (0.9+; Debian 12 ships 0.8)."""
    proc = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return "--overlay-src" in proc.stdout + proc.stderr


def hidden_root(home: Path) -> Path:
    """The folder replaced by an empty tmpfs: the results root of the run that holds HOME
    (``<results>/<experiment>/<run>/solve/job``, the LLM judge's ``.../<run>/judge/llm/job``),
    so no other run of any experiment is visible.

    The run is the nearest folder above HOME with a ``manifest.json``; failing that, the solve
    layout is assumed; for a HOME outside both, its parent (so at least siblings are hidden).
    """
    for run in home.parents:
        if len(run.parents) >= 2 and (run / "manifest.json").is_file():
            return run.parents[1]
    in_layout = home.parent.name == "solve" and len(home.parents) > 4
    return home.parents[3] if in_layout else home.parent


class BwrapSandbox(IsolatedSandbox):
    requires = ("bwrap", "apt-get install bubblewrap fuse-overlayfs")

    def start(self) -> None:
        found = shutil.which(self.binary)
        if found is None:
            raise RuntimeError(
                "sandbox=bwrap needs bubblewrap (`bwrap` is not on PATH): "
                "apt-get install bubblewrap fuse-overlayfs"
            )
        self.binary = found
        super().start()
        for path in self.spec.readonly:
            if not path.exists():
                raise FileNotFoundError(f"read-only path {path} does not exist")
        if self.overlay:
            self.overlay.start(kernel=supports_overlay(found))

    def host_env(self) -> dict[str, str]:
        env = {**self.spec.env, "HOME": str(self.spec.home)}
        if self.overlay:
            env.setdefault("HF_HOME", str(self.overlay.lower))
        return env

    def wrap(self, argv: list[str]) -> list[str]:
        spec = self.spec
        args = [*TERM_SHIM_OUTER, self.binary, "--die-with-parent"]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if self.cfg.network == "none":
            args.append("--unshare-net")
        args += ["--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev"]
        if spec.gpus > 0:
            args += _pairs("--dev-bind", gpu_devices())
        args += ["--proc", "/proc", "--tmpfs", "/tmp"]
        emptied = [Path("/home"), Path("/root"), hidden_root(spec.home)]
        for path in emptied:
            args += ["--tmpfs", str(path)]
        args += ["--bind", str(spec.home), str(spec.home)]
        args += self._cache_args()
        for bind in self.binds:
            args += ["--ro-bind" if bind.readonly else "--bind", str(bind.src), str(bind.dst)]
        args += _pairs("--ro-bind-try", list(spec.extra_ro_binds))  # absent ones are skipped
        args += _pairs("--ro-bind", list(spec.readonly))
        if self.relays.socket_dir is not None:
            args += ["--bind", str(self.relays.socket_dir), str(self.relays.socket_dir)]
            args += ["--ro-bind", str(RELAY_SCRIPT), str(RELAY_SCRIPT)]
        for path in emptied:
            args += ["--remount-ro", str(path)]
        inner = self.relays.wrap(self.python, argv, script=True)
        args += ["--chdir", str(spec.workdir), "--", *TERM_SHIM_INNER, *inner]
        return args

    def _cache_args(self) -> list[str]:
        ov = self.overlay
        if not ov:
            return []
        lower = str(ov.lower)
        if ov.mode == "fuse":
            args = ["--bind", str(ov.merged), lower]
        elif ov.mode == "kernel":
            args = ["--overlay-src", lower, "--overlay", str(ov.upper), str(ov.work), lower]
        else:
            args = ["--ro-bind", lower, lower]
        for path in ov.masked():
            args += ["--ro-bind", str(ov.empty), str(path)]
        return args


def _pairs(flag: str, paths: list[Path]) -> list[str]:
    """``flag p p`` for each path: mounted at the same place as on the host."""
    return [a for p in paths for a in (flag, str(p), str(p))]
