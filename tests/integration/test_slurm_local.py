"""A real single-node SLURM cluster from ``launchers/slurm-local``: jobs, fake GPUs, dependencies.

The module brings the cluster up once with ``start.sh`` (installing the Debian packages if they are
missing), runs short jobs through ``sbatch`` and reads their states back through ``sacct``, then
stops it with ``stop.sh`` and checks that no daemon is left. It uses its own folder and ports, so a
development cluster started with the defaults is left alone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.slurm_cluster import fresh_cluster, run_script

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = 6917  # its own ports, next to a development cluster on the default 6817
DAEMON_PID_FILES = {
    "slurmd": "run/slurmd.pid",
    "slurmctld": "run/slurmctld.pid",
    "slurmdbd": "run/slurmdbd.pid",
    "mariadbd": "mariadb/mariadb.pid",
    "munged": "munge/munged.pid",
}
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


@dataclass(frozen=True)
class Cluster:
    folder: Path
    env: dict[str, str]
    work: Path
    start_stdout: str

    def run(self, *argv: str, timeout: float = 30) -> str:
        done = subprocess.run(
            argv, env=self.env, text=True, capture_output=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout.strip()

    def sbatch(self, *args: str) -> str:
        return self.run("sbatch", "--parsable", f"--chdir={self.work}", *args).split(";")[0]

    def state(self, job_id: str) -> str:
        """The job's state in accounting ("" until slurmctld has told slurmdbd about it)."""
        out = self.run("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State")
        return out.split()[0] if out else ""

    def wait_finished(self, job_id: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.state(job_id)) not in FINISHED:
            assert time.monotonic() < deadline, f"job {job_id} still {state!r} after {timeout} s"
            time.sleep(0.2)
        return state


def start(folder: Path) -> subprocess.CompletedProcess[str]:
    return run_script("start.sh", folder, PORT, timeout=600)  # apt-get install on a fresh machine


def daemon_pids(folder: Path) -> dict[str, int]:
    pids = {}
    for name, rel in DAEMON_PID_FILES.items():
        file = folder / rel
        if file.exists():
            pids[name] = int(file.read_text().strip())
    return pids


def running(pid: int) -> bool:
    """Alive and not a zombie (this machine's init does not always reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_mentioning(folder: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or not running(int(proc.name)):
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(folder) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("start.sh needs root: it installs packages, runs the daemons and calls mknod")
    with fresh_cluster("local", PORT, stop=False) as local:
        folder = local.folder
        pids = daemon_pids(folder)
        assert set(pids) == set(DAEMON_PID_FILES), pids
        env = {**local.script_env, "SLURM_CONF": local.slurm_conf}
        try:
            yield Cluster(folder, env, tmp_path_factory.mktemp("slurm-jobs"), local.start_stdout)
        finally:
            stop = local.stop()
            assert stop.returncode == 0, f"stop.sh failed:\n{stop.stdout}\n{stop.stderr}"
            assert not [name for name, pid in pids.items() if running(pid)]
            assert not processes_mentioning(folder)


def test_start_prints_slurm_conf(cluster: Cluster) -> None:
    last = cluster.start_stdout.splitlines()[-1]
    assert last == f"export SLURM_CONF={cluster.env['SLURM_CONF']}"
    assert (cluster.folder / "env.sh").read_text().strip() == last


def test_wrapped_job_completes(cluster: Cluster) -> None:
    job = cluster.sbatch("--output=hello-%j.out", "--wrap=echo hello from $SLURM_JOB_ID")
    assert cluster.wait_finished(job) == "COMPLETED"
    assert (cluster.work / f"hello-{job}.out").read_text() == f"hello from {job}\n"


def test_gpu_job_sees_cuda_visible_devices(cluster: Cluster) -> None:
    job = cluster.sbatch(
        "--gres=gpu:1", "--output=gpu-%j.out", "--wrap=echo CVD=$CUDA_VISIBLE_DEVICES"
    )
    assert cluster.wait_finished(job) == "COMPLETED"
    assert re.fullmatch(r"CVD=[01]\n", (cluster.work / f"gpu-{job}.out").read_text())


def test_afterok_chain_runs_in_order(cluster: Cluster) -> None:
    log = cluster.work / "chain.log"
    first = cluster.sbatch("--output=/dev/null", f"--wrap=sleep 1; echo first >> {log}")
    second = cluster.sbatch(
        "--output=/dev/null", f"--dependency=afterok:{first}", f"--wrap=echo second >> {log}"
    )
    third = cluster.sbatch(
        "--output=/dev/null", f"--dependency=afterok:{second}", f"--wrap=echo third >> {log}"
    )
    assert cluster.wait_finished(third) == "COMPLETED"
    assert [cluster.state(job) for job in (first, second)] == ["COMPLETED", "COMPLETED"]
    assert log.read_text().split() == ["first", "second", "third"]


def test_failed_parent_leaves_child_pending(cluster: Cluster) -> None:
    parent = cluster.sbatch("--output=/dev/null", "--wrap=exit 3")
    child = cluster.sbatch("--output=/dev/null", f"--dependency=afterok:{parent}", "--wrap=true")
    assert cluster.wait_finished(parent) == "FAILED"
    deadline = time.monotonic() + 20
    while (queued := cluster.run("squeue", "-h", "-j", child, "-o", "%T %r")) != (
        "PENDING DependencyNeverSatisfied"
    ):
        assert time.monotonic() < deadline, f"child {child}: {queued!r}"
        time.sleep(0.2)
    cluster.run("scancel", child)
    assert cluster.wait_finished(child) == "CANCELLED"


def test_second_start_is_fast_and_keeps_the_daemons(cluster: Cluster) -> None:
    before = daemon_pids(cluster.folder)
    t0 = time.monotonic()
    done = start(cluster.folder)
    took = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    assert took < 10, f"second start.sh took {took:.1f} s"
    assert done.stdout.splitlines()[-1] == f"export SLURM_CONF={cluster.env['SLURM_CONF']}"
    assert daemon_pids(cluster.folder) == before
    assert "is UP" in cluster.run("scontrol", "ping")
    assert cluster.run("sinfo", "-h", "-o", "%T") == "idle"


def _job_processes(cluster: Cluster, job: str) -> set[int]:
    """The job's processes and the slurmstepd that carries them."""
    rows = cluster.run("scontrol", "listpids", job).splitlines()[1:]
    pids = {int(row.split()[0]) for row in rows}
    for pid in list(pids):
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        parent = int(stat[1])
        if Path(f"/proc/{parent}/comm").read_text().strip() == "slurmstepd":
            pids.add(parent)
    return pids


def test_start_after_the_jobs_died_clears_them_from_the_node(cluster: Cluster) -> None:
    """The cluster is stopped, then the machine reboots (or the session that ran it is killed):
    the saved state still counts the jobs as running, and without start.sh clearing them they
    would hold the node's CPUs for ever. Requeueable jobs go back to the queue, others end."""
    again = cluster.sbatch(
        "--requeue", "--cpus-per-task=1", "--output=/dev/null", "--wrap=sleep 300"
    )
    once = cluster.sbatch(
        "--no-requeue", "--cpus-per-task=1", "--output=/dev/null", "--wrap=sleep 300"
    )
    deadline = time.monotonic() + 30
    while (
        cluster.run("squeue", "-h", "-j", f"{again},{once}", "-o", "%T").split() != ["RUNNING"] * 2
    ):
        assert time.monotonic() < deadline, "the two jobs did not start"
        time.sleep(0.2)
    doomed = _job_processes(cluster, again) | _job_processes(cluster, once)
    stop = run_script("stop.sh", cluster.folder, PORT, timeout=120)
    assert stop.returncode == 0, stop.stderr
    for pid in doomed:
        os.kill(pid, signal.SIGKILL)

    done = start(cluster.folder)
    assert done.returncode == 0, done.stderr
    assert f"job {again} was running when the node went down; requeued it" in done.stderr
    assert f"job {once} was running when the node went down and cannot be requeued" in done.stderr
    assert cluster.wait_finished(once) == "CANCELLED"
    assert "Restarts=1" in cluster.run("scontrol", "-o", "show", "job", again)
    cluster.run("scancel", again)
    assert cluster.wait_finished(again) == "CANCELLED"
    # The node takes new work again.
    job = cluster.sbatch("--cpus-per-task=2", "--output=/dev/null", "--wrap=true")
    assert cluster.wait_finished(job) == "COMPLETED"
