"""``sandbox=bwrap``: bubblewrap on a local machine (Debian: ``apt-get install bubblewrap``).

The agent's file system is an allow-list, not the host's ``/``: the system's programs and
libraries (``/usr`` and its merged-usr links, ``/etc`` less the scheduler's and the host's
credentials, ``/opt``), ``/sys`` read-only, a fresh /dev, /proc and /tmp, the interpreter and its
environment, ptb's package, the spec's read-only paths (base model, scaffold CLI, data), the HF
cache overlay and its job directory at the same path as on the host (so paths in logs match).
Everything else — ``/run``, ``/var``, ``/home``, ``/root``, the results, the host's Unix sockets,
SLURM's and munge's files — is simply not there; the root itself is read-only. All capabilities
are dropped (a root-run bwrap keeps them otherwise and can remount read-write).

The environment is not put on the command line (``--setenv`` values land in /proc/*/cmdline):
``host_env`` returns exactly the allow-listed env, bwrap inherits it and passes it on.

bwrap dies on SIGTERM without forwarding it, and ``--die-with-parent`` then kills the whole
sandbox at once. So bwrap runs with TERM ignored (``env --ignore-signal``) and the agent's command
with TERM restored: the time limit's TERM reaches the agent, which gets the grace period.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ptb.sandbox.base import IsolatedSandbox, hidden_paths
from ptb.sandbox.forward import RELAY_SCRIPT

TERM_SHIM_OUTER = ["env", "--ignore-signal=TERM"]
TERM_SHIM_INNER = ["env", "--default-signal=TERM"]

SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
"""The host's programs, libraries and configuration, read-only (a symlink, as in merged-usr
systems, is recreated as a symlink). The CUDA toolkit and driver libraries live below these."""
HIDDEN_PATHS = (
    "/etc/slurm", "/etc/slurm-llnl", "/etc/munge", "/etc/shadow", "/etc/shadow-", "/etc/gshadow",
    "/etc/gshadow-", "/etc/ssh", "/etc/sudoers", "/etc/sudoers.d", "/etc/docker",
    "/etc/containerd", "/etc/krb5.keytab", "/etc/pki/tls/private", "/etc/ssl/private",
)  # fmt: skip
"""Inside the system paths and hidden (an empty read-only folder, or /dev/null for a file): the
scheduler's configuration and keys, the host's password hashes, SSH host keys, TLS private keys."""


def gpu_devices() -> list[Path]:
    """NVIDIA device files present on this host (/dev/nvidia0, /dev/nvidiactl, /dev/nvidia-uvm…)."""
    return [Path(p) for p in sorted(glob.glob("/dev/nvidia*"))]


@functools.cache
def supports_overlay(binary: str) -> bool:
    """Whether this bubblewrap has ``--overlay`` (0.9+; Debian 12 ships 0.8)."""
    proc = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return "--overlay-src" in proc.stdout + proc.stderr


Probe = tuple[str, str]
"""("dir" | "file" | "link" | "", the link's target)."""


def probe(path: str) -> Probe:
    """What ``path`` is on the host (a seam for the golden tests)."""
    if os.path.islink(path):
        return "link", os.readlink(path)
    if os.path.isdir(path):
        return "dir", ""
    return ("file", "") if os.path.exists(path) else ("", "")


def system_args() -> tuple[list[str], list[str]]:
    """(mount arguments for ``SYSTEM_PATHS`` and ``HIDDEN_PATHS``, the folders to remount
    read-only at the end)."""
    args: list[str] = []
    emptied: list[str] = []
    for path in SYSTEM_PATHS:
        kind, target = probe(path)
        if kind == "link":
            args += ["--symlink", target, path]
        elif kind:
            args += ["--ro-bind", path, path]
    for path in HIDDEN_PATHS:
        kind, _ = probe(path)
        if kind == "dir":
            args += ["--tmpfs", path]
            emptied.append(path)
        elif kind:  # a file (or a link: the masked name is what the agent would open)
            args += ["--ro-bind", "/dev/null", path]
    return args, emptied


def python_paths() -> list[Path]:
    """What the host's interpreter needs inside: its prefixes and every folder on ``sys.path``
    (a layered venv's ``.pth`` entries included) — except folders that hold ptb's package (a
    source checkout: only the package itself is bound, by the spec) and the current directory."""
    cwd = Path.cwd().resolve()
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent]
    for entry in sys.path:
        if not entry or not os.path.exists(entry):
            continue
        path = Path(entry).resolve()
        if path == cwd or (path / "ptb" / "__init__.py").exists():
            continue
        found.append(path)
    return list(dict.fromkeys(p for p in found if not in_system(p)))


def in_system(path: Path) -> bool:
    """Whether ``path`` is visible anyway, below one of ``SYSTEM_PATHS``."""
    return any(path == s or s in path.parents for s in map(Path, SYSTEM_PATHS))


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
        env = {**self.inside_env(), "HOME": str(self.spec.home)}
        if self.overlay:
            env.setdefault("HF_HOME", str(self.overlay.lower))
        return env

    def wrap(self, argv: list[str]) -> list[str]:
        spec = self.spec
        args = [*TERM_SHIM_OUTER, self.binary, "--die-with-parent"]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if self.own_netns:
            args.append("--unshare-net")
        system, emptied = system_args()
        args += ["--cap-drop", "ALL", *system]
        if self.network == "host":  # DNS: /etc/resolv.conf may point into /run (not bound)
            resolv = os.path.realpath("/etc/resolv.conf")
            if resolv != "/etc/resolv.conf" and not resolv.startswith(("/usr/", "/etc/")):
                args += ["--ro-bind-try", resolv, "/etc/resolv.conf"]
        args += ["--ro-bind", "/sys", "/sys", "--dev", "/dev"]
        if spec.gpus > 0:
            args += _pairs("--dev-bind", gpu_devices())
        args += ["--proc", "/proc", "--tmpfs", "/tmp"]
        args += ["--bind", str(spec.home), str(spec.home)]
        args += self._cache_args()
        for bind in self.binds:
            args += ["--ro-bind" if bind.readonly else "--bind", str(bind.src), str(bind.dst)]
        ro = [p for p in dict.fromkeys([*python_paths(), *spec.extra_ro_binds])
              if p != spec.home and p not in spec.home.parents and not in_system(p)]  # fmt: skip
        args += _pairs("--ro-bind-try", ro)  # absent ones are skipped
        hide_args, hidden = self._hide_args([p for p in ro if p.exists()])
        args += hide_args
        emptied += hidden
        args += _pairs("--ro-bind", list(spec.readonly))
        if self.relays.socket_dir is not None:
            args += ["--bind", str(self.relays.socket_dir), str(self.relays.socket_dir)]
            args += ["--ro-bind", str(RELAY_SCRIPT), str(RELAY_SCRIPT)]
        for path in emptied:
            args += ["--remount-ro", path]
        args += ["--remount-ro", "/"]
        inner = self.relays.wrap(self.python, argv, script=True)
        args += ["--chdir", str(spec.workdir), "--", *TERM_SHIM_INNER, *inner]
        return args

    def _hide_args(self, ro: list[Path]) -> tuple[list[str], list[str]]:
        """(mount arguments that hide the spec's ``hide`` paths where the binds before them
        would show them, the emptied folders to remount read-only at the end).

        A hidden folder gets an empty tmpfs, a hidden file ``/dev/null``: the later mount covers
        the earlier. What is bound on purpose inside a hidden folder — HOME (the results root
        and the run directory hold it), a base model or data folder, a configured bind, the HF
        cache — is bound again on top, so the agent sees it and nothing beside it. HOME and what
        lies inside it are never hidden."""
        home = self.spec.home
        binds = [(b.src, b.dst) for b in self.binds]
        mounts = [(Path(p), Path(p)) for p in SYSTEM_PATHS if probe(p)[0] in ("dir", "file")]
        mounts += [(Path("/sys"), Path("/sys")), *binds, *((p, p) for p in ro)]
        if self.overlay:
            mounts.append((self.overlay.lower, self.overlay.lower))
        args: list[str] = []
        emptied: list[Path] = []
        for host, inside in hidden_paths(self.spec.hide, home, mounts):
            if host.is_dir():
                args += ["--tmpfs", str(inside)]
                emptied.append(inside)
            else:
                args += ["--ro-bind", "/dev/null", str(inside)]

        def covered(dst: Path) -> bool:
            return any(e in dst.parents for e in emptied)

        if covered(home):
            args += ["--bind", str(home), str(home)]
        if self.overlay and covered(self.overlay.lower):
            args += self._cache_args()
        for bind in self.binds:
            if covered(bind.dst):
                args += ["--ro-bind" if bind.readonly else "--bind", str(bind.src), str(bind.dst)]
        args += _pairs("--ro-bind", [p for p in ro if covered(p)])
        return args, [str(p) for p in emptied]

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
