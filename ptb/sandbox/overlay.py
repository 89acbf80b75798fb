"""Mount helpers shared by the backends: the HF-cache overlay and extra binds.

The shared HF cache is read-only for the agent; what it writes there (a model it downloads, lock
files) lands in a per-run upper layer that ``stop`` deletes. Three ways, best first:

- ``fuse``: fuse-overlayfs mounted on the host in ``start`` (root, or a user who may open
  /dev/fuse); the backend binds the merged folder over the cache path.
- ``kernel``: the kernel's overlayfs, mounted by bubblewrap itself (``--overlay``, bubblewrap 0.9+)
  inside the sandbox's mount namespace.
- ``ro``: a read-only bind, with a warning; writes into the cache fail.

The cache's token files are masked by an empty file: the agent must not read the HF token.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MASKED = ("token", "stored_tokens")
"""Files in HF_HOME that hold credentials."""
MODES = ("fuse", "kernel", "ro")


@dataclass(frozen=True)
class Bind:
    src: Path
    dst: Path
    readonly: bool


def parse_bind(text: str) -> Bind:
    """``src[:dst][:ro|rw]`` (the ``sandbox.binds`` syntax) → ``Bind``; paths must be absolute."""
    parts = text.split(":")
    mode = parts.pop() if len(parts) > 1 and parts[-1] in ("ro", "rw") else "rw"
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"sandbox.binds entry {text!r}: expected 'src[:dst][:ro|rw]'")
    src, dst = (Path(os.path.expanduser(p)) for p in (parts[0], parts[-1]))
    if not (src.is_absolute() and dst.is_absolute()):
        raise ValueError(f"sandbox.binds entry {text!r}: paths must be absolute")
    return Bind(src, dst, mode == "ro")


def hf_cache(spec_env: Mapping[str, str], host_env: Mapping[str, str]) -> Path | None:
    """The shared cache to overlay: HF_HOME of the agent's env, else of the host; if it exists."""
    value = spec_env.get("HF_HOME") or host_env.get("HF_HOME")
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    return path if path.is_dir() else None


def fuse_available() -> bool:
    return shutil.which("fuse-overlayfs") is not None and os.access("/dev/fuse", os.R_OK | os.W_OK)


@dataclass
class CacheOverlay:
    """The cache ``lower`` seen writable through a throw-away layer kept under ``root``."""

    lower: Path
    root: Path
    """Per-run folder outside the agent's HOME: upper/, work/, merged/, empty."""
    mode: str = "ro"

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def empty(self) -> Path:
        """An empty file bound over the cache's token files."""
        return self.root / "empty"

    def masked(self) -> list[Path]:
        return [self.lower / name for name in MASKED if (self.lower / name).exists()]

    def start(self, *, kernel: bool = False) -> str:
        """Prepare the layers and pick the mode (``kernel``: the backend can mount overlayfs)."""
        self._clear()
        for path in (self.upper, self.work, self.merged):
            path.mkdir(parents=True)
        self.empty.write_bytes(b"")
        if fuse_available() and self._mount_fuse():
            self.mode = "fuse"
        elif kernel:
            self.mode = "kernel"
        else:
            self.mode = "ro"
            log.warning(
                "HF cache %s is shared READ-ONLY (no fuse-overlayfs and no overlay support in "
                "the sandbox): the agent cannot add files to it",
                self.lower,
            )
        return self.mode

    def stop(self) -> None:
        """Unmount and delete the upper layer: nothing the agent wrote to the cache survives."""
        self._clear()
        self.mode = "ro"

    def _mount_fuse(self) -> bool:
        dirs = (self.lower, self.upper, self.work)
        if any(c in str(p) for p in dirs for c in ",:"):
            return False
        opts = f"lowerdir={self.lower},upperdir={self.upper},workdir={self.work}"
        proc = subprocess.run(
            ["fuse-overlayfs", "-o", opts, str(self.merged)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            log.warning("fuse-overlayfs failed (%s): %s", proc.returncode, proc.stderr.strip())
        return proc.returncode == 0

    def _clear(self) -> None:
        if os.path.ismount(self.merged):
            _unmount(self.merged)
        if self.root.exists():
            shutil.rmtree(self.root)


def _unmount(path: Path) -> None:
    for argv in (["fusermount3", "-u"], ["fusermount", "-u"], ["umount"], ["umount", "-l"]):
        if shutil.which(argv[0]) is None:
            continue
        with contextlib.suppress(OSError):
            if subprocess.run([*argv, str(path)], capture_output=True).returncode == 0:
                return
    raise RuntimeError(f"could not unmount the HF-cache overlay at {path}")
