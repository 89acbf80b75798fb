"""A fresh single-node SLURM cluster (launchers/slurm-local) for one test module.

Each module gets a new folder under /var/tmp, so a test never recovers job state from an earlier
run: a killed session or CI job can leave jobs that the controller still counts as running, and a
cluster restarted on that state queues everything behind them. Clusters that an earlier run of
the same module left behind are stopped and deleted first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.repo import REPO

SCRIPTS = REPO / "launchers" / "slurm-local"
BASE = Path("/var/tmp")


@dataclass(frozen=True)
class LocalCluster:
    folder: Path
    port: int
    start_stdout: str

    @property
    def script_env(self) -> dict[str, str]:
        return script_env(self.folder, self.port)

    @property
    def slurm_conf(self) -> str:
        return str(self.folder / "etc" / "slurm.conf")

    def start(self) -> subprocess.CompletedProcess[str]:
        return run_script("start.sh", self.folder, self.port, timeout=600)  # apt-get on a new VM

    def stop(self) -> subprocess.CompletedProcess[str]:
        return run_script("stop.sh", self.folder, self.port, timeout=120)


def script_env(folder: Path, port: int) -> dict[str, str]:
    """The environment start.sh and stop.sh read (which folder, which ports)."""
    return {**os.environ, "PTB_SLURM_DIR": str(folder), "PTB_SLURM_PORT": str(port)}


def run_script(name: str, folder: Path, port: int, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPTS / name)], env=script_env(folder, port), text=True,
                          capture_output=True, timeout=timeout, check=False)  # fmt: skip


def _remove_leftovers(prefix: str, port: int) -> None:
    for old in BASE.glob(f"{prefix}*"):
        if old.is_dir() and (old / "etc").is_dir():
            run_script("stop.sh", old, port, timeout=120)
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def fresh_cluster(name: str, port: int, *, stop: bool = True) -> Iterator[LocalCluster]:
    """Start a new cluster in /var/tmp/ptb-slurm-<name>-<random>; stop and delete it afterwards.

    ``stop=False`` leaves stopping to the caller (a test that checks stop.sh itself)."""
    prefix = f"ptb-slurm-{name}-"
    _remove_leftovers(prefix, port)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=BASE))
    folder.chmod(0o755)  # munged and MariaDB run as their own users and walk through it
    done = run_script("start.sh", folder, port, timeout=600)
    assert done.returncode == 0, f"start.sh failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    cluster = LocalCluster(folder, port, done.stdout)
    try:
        yield cluster
    finally:
        if stop:
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
