"""The run directory: ids, paths, the stage table, the manifest and per-stage status (see
docs/design.md).

Every stage, check, launcher and reader builds the run directory's paths only through
``RunDir``, so the layout is defined once; the stages are defined once in ``STAGE_TABLE``. What
the files hold is typed in ``ptb.records``. The manifest is updated under an exclusive lock
because stages of one run may run concurrently (judge and evaluate on a cluster).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ptb.fsutil import defer_sync, read_json, write_json


@dataclass(frozen=True)
class Stage:
    """One stage of a run: the single table of stages (``STAGE_TABLE``) that the stage runner,
    the launchers, ``ptb.status`` and the docs derive from."""

    name: str
    needs: tuple[str, ...]
    """Stages that must be done (or skipped) first."""
    output: str
    """The ``RunDir`` attribute of the file whose existence marks the stage done."""
    func: str
    """``module:function`` that runs it (``run(ctx: StageContext)``)."""
    job: str
    """The scheduler job that runs it (``JOBS``)."""

    def output_of(self, run: RunDir) -> Path:
        path: Path = getattr(run, self.output)
        return path


STAGE_TABLE = (
    Stage("prepare", (), "prompt", "ptb.stages.prepare:run", "solve"),
    Stage("solve", ("prepare",), "exit_file", "ptb.stages.solve:run", "solve"),
    Stage("evaluate", ("solve",), "metrics", "ptb.stages.evaluate:run", "evaluate"),
    Stage("judge", ("solve",), "verdict", "ptb.stages.judge:run", "judge"),
    Stage("score", ("evaluate", "judge"), "score", "ptb.stages.score:run", "score"),
    Stage("retention", ("evaluate",), "retention", "ptb.stages.retention:run", "retention"),
    Stage("log", ("score", "retention"), "tracker", "ptb.stages.log:run", "score"),
)
"""In dependency order; the local launcher runs them so (retention after score: its failure
does not hold back the score)."""

JOBS = ("solve", "evaluate", "retention", "judge", "score")
"""The scheduler jobs of one run, in submission order (a job after the jobs it waits for)."""

STAGES = tuple(s.name for s in STAGE_TABLE)
STAGE_BY_NAME = {s.name: s for s in STAGE_TABLE}
NEEDS = {s.name: s.needs for s in STAGE_TABLE}
"""Each stage's dependencies."""
JOB_STAGES = {job: tuple(s.name for s in STAGE_TABLE if s.job == job) for job in JOBS}
"""The stages each job runs, in order."""
JOB_NEEDS = {
    job: tuple(
        dict.fromkeys(
            STAGE_BY_NAME[n].job
            for s in STAGE_TABLE
            if s.job == job
            for n in s.needs
            if STAGE_BY_NAME[n].job != job
        )
    )
    for job in JOBS
}
"""A job's dependencies among the run's jobs, from its stages' needs: the score job (score +
log) waits for retention because log sends the retention numbers to the tracker."""

PROTECTED = ("evaluate.py", "templates")
"""Task-folder paths the agent may read but not change."""
STATUSES = ("pending", "running", "done", "failed", "skipped")
MANIFEST_SCHEMA = 1
"""``ptb.records.SCHEMA``, written into a new manifest (this module imports nothing of ptb but
fsutil, so it names the version itself; a unit test keeps the two equal). The manifest is
typed as ``ptb.records.Manifest`` and ``StageEntry``; it is written here, as a dict under the
lock, so that keys another version or a launcher added are kept."""
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
_STAGING = re.compile(r"^\..+\.(?P<pid>\d+)-[0-9a-f]{8}(?:\.(?P<host>[A-Za-z0-9_-]+))?\.new$")
"""A hidden folder a new run directory is staged in: ``.<run_id>.<pid>-<random>.<host>.new``
(``stage_run_dir``; without the host when written before it was named)."""
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "_"


@dataclass(frozen=True)
class TranscriptFiles:
    """The three files of an agent's transcript (``ptb.scaffolds.transcript.Transcript``): the
    scaffold's raw stream, the normalised events and the readable rendering. The solve stage's
    are ``RunDir.transcripts``; an LLM judge's vote keeps its own in its folder."""

    raw: Path
    events: Path
    md: Path

    @classmethod
    def in_folder(cls, folder: Path) -> TranscriptFiles:
        return cls(
            folder / "transcript.raw.jsonl", folder / "transcript.jsonl", folder / "transcript.md"
        )

    @property
    def folder(self) -> Path:
        return self.events.parent


@dataclass(frozen=True)
class SandboxFiles:
    """What a sandbox writes beside the agent's HOME (``ptb.sandbox.SandboxSpec``'s fields of
    the same names): the egress log, the HF cache overlay's layers, its listing and the dataset
    files kept from it. The solve stage's are ``RunDir.sandbox_files``; an LLM judge's vote
    keeps its own in its folder."""

    egress_log: Path
    cache_layers: Path
    cache_listing: Path
    cache_datasets: Path

    @classmethod
    def in_folder(cls, folder: Path) -> SandboxFiles:
        return cls(folder / "egress.jsonl", folder / "overlay", folder / "hf_overlay.json",
                   folder / "hf_datasets")  # fmt: skip


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_run_id(agent: str, scaffold: str, model: str, task: str, seed: int) -> str:
    parts = (agent, scaffold, model, task)
    for part in parts:
        if not _SAFE.match(part) or "__" in part:
            raise ValueError(f"run-id part {part!r} must match [A-Za-z0-9_.-]+ without '__'")
    return "__".join(parts) + f"__s{seed}"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run: ``<results_root>/<experiment>/<run_id>/``."""

    path: Path

    @classmethod
    def at(cls, results_root: Path | str, experiment: str, run_id: str) -> RunDir:
        return cls(Path(results_root).expanduser().resolve() / experiment / run_id)

    @property
    def run_id(self) -> str:
        return self.path.name

    # top-level files
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def overrides(self) -> Path:
        return self.path / "overrides.yaml"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def score(self) -> Path:
        return self.path / "score.json"

    @property
    def final_model(self) -> Path:
        return self.path / "final_model"

    @property
    def log_file(self) -> Path:
        return self.path / "ptb.log"

    # stage folders
    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def error_file(self, stage: str) -> Path:
        return self.stage_dir(stage) / "error.json"

    @property
    def solve(self) -> Path:
        return self.path / "solve"

    @property
    def job_dir(self) -> Path:
        """The agent's HOME while it runs; pruned into ``solve/workspace`` afterwards."""
        return self.solve / "job"

    @property
    def task_dir(self) -> Path:
        return self.job_dir / "task"

    @property
    def submitted_model(self) -> Path:
        """Where the agent saves its model (``task/final_model`` in HOME); moved to
        ``final_model/`` when it ends."""
        return self.task_dir / "final_model"

    @property
    def workspace(self) -> Path:
        return self.solve / "workspace"

    @property
    def prompt(self) -> Path:
        return self.solve / "prompt.txt"

    @property
    def exit_file(self) -> Path:
        return self.solve / "exit.json"

    @property
    def prepared(self) -> Path:
        """Base model reference, protected-file hashes, context files (prepare)."""
        return self.solve / "prepared.json"

    @property
    def command(self) -> Path:
        """The agent's argv and the names of its environment variables."""
        return self.solve / "command.json"

    @property
    def monitor(self) -> Path:
        return self.solve / "monitor.jsonl"

    @property
    def gpu_check(self) -> Path:
        return self.solve / "gpu_check.json"

    @property
    def clock(self) -> Path:
        """The agent time used across the jobs of the solve stage (``AgentClock``)."""
        return self.solve / "clock.json"

    @property
    def transcripts(self) -> TranscriptFiles:
        """The agent's transcript files (raw stream, events, rendering)."""
        return TranscriptFiles.in_folder(self.solve)

    @property
    def transcript_raw(self) -> Path:
        return self.transcripts.raw

    @property
    def transcript(self) -> Path:
        """The normalised events, one a line."""
        return self.transcripts.events

    @property
    def transcript_md(self) -> Path:
        return self.transcripts.md

    @property
    def usage(self) -> Path:
        return self.solve / "usage.json"

    @property
    def gateway_log(self) -> Path:
        """One line per model-API request through the gateway."""
        return self.solve / "gateway.jsonl"

    @property
    def gateway_stderr(self) -> Path:
        return self.solve / "gateway.log"

    @property
    def sandbox_files(self) -> SandboxFiles:
        """What the solve stage's sandbox writes beside HOME."""
        return SandboxFiles.in_folder(self.solve)

    @property
    def egress_log(self) -> Path:
        """The egress proxy's log (``sandbox.network=egress``)."""
        return self.sandbox_files.egress_log

    @property
    def live(self) -> Path:
        """Live monitoring's record (``judge.live``)."""
        return self.solve / "live.json"

    @property
    def provenance(self) -> Path:
        return self.solve / "provenance.json"

    @property
    def cache_layers(self) -> Path:
        """The HF cache overlay's per-run layers (upper, work, merged), outside HOME; deleted
        when the sandbox stops."""
        return self.sandbox_files.cache_layers

    @property
    def hf_overlay(self) -> Path:
        """The raw listing of the HF cache overlay's upper layer."""
        return self.sandbox_files.cache_listing

    @property
    def hf_datasets(self) -> Path:
        """Dataset files the agent downloaded, kept for the contamination check."""
        return self.sandbox_files.cache_datasets

    @property
    def evaluate(self) -> Path:
        return self.path / "evaluate"

    @property
    def metrics(self) -> Path:
        return self.evaluate / "metrics.json"

    @property
    def samples(self) -> Path:
        return self.evaluate / "samples.jsonl"

    @property
    def retention_dir(self) -> Path:
        return self.path / "retention"

    @property
    def retention(self) -> Path:
        return self.retention_dir / "metrics.json"

    @property
    def judge(self) -> Path:
        return self.path / "judge"

    @property
    def findings(self) -> Path:
        return self.judge / "findings.json"

    @property
    def verdict(self) -> Path:
        return self.judge / "verdict.json"

    @property
    def llm_judges(self) -> Path:
        """The LLM judges' HOMEs, prompts and transcripts (``<judge>/vote-<i>/``)."""
        return self.judge / "llm"

    @property
    def log_dir(self) -> Path:
        """The log stage's folder (W&B's files)."""
        return self.path / "log"

    @property
    def tracker(self) -> Path:
        """The log stage's record of the tracker run."""
        return self.log_dir / "tracker.json"

    @property
    def attempts(self) -> Path:
        """Runs retried after an agent failure keep each failed attempt in ``attempts/<n>/``."""
        return self.path / "attempts"

    @property
    def stage_outputs(self) -> tuple[Path, ...]:
        """Everything the stages wrote (``solve/`` holds prepare's files too): what a retried
        attempt moves aside to ``attempts/<n>/``."""
        return (
            self.solve,
            self.final_model,
            self.evaluate,
            self.judge,
            self.retention_dir,
            self.log_dir,
            self.score,
        )

    @property
    def slurm_dir(self) -> Path:
        """submitit's folder for the jobs of a run submitted on its own."""
        return self.path / "slurm"

    # manifest
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / ".manifest.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as written, for the locked writers here and the launchers (``{}`` when
        there is none); readers take the typed ``ptb.records.Manifest.read(run.manifest)``."""
        if not self.manifest.exists():
            return {}
        data: dict[str, Any] = read_json(self.manifest)
        return data

    def init_manifest(self, stages: dict[str, str], info: dict[str, Any]) -> dict[str, Any]:
        """Create the manifest, or add missing stages to an existing one (never reset done work)."""
        with self._locked():
            data = self.read_manifest() or new_manifest(self, {}, {})
            data.update(info)
            for name, status in stages.items():
                entry = data["stages"].setdefault(name, _stage_entry(status))
                if status == "skipped" or entry["status"] == "skipped":
                    entry["status"] = status  # a stage turned on later (retention) runs
            write_json(self.manifest, data)
            return data

    def update_stage(self, stage: str, **fields: Any) -> dict[str, Any]:
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"bad stage status {fields['status']!r}")
        with self._locked():
            data = self.read_manifest()
            entry = data.setdefault("stages", {}).setdefault(stage, _stage_entry("pending"))
            entry.update(fields)
            write_json(self.manifest, data)
            return dict(entry)

    @contextmanager
    def editing(self) -> Iterator[dict[str, Any]]:
        """The manifest under the lock; what the block changes in it is written back."""
        with self._locked():
            data = self.read_manifest()
            yield data
            write_json(self.manifest, data)

    def stage_status(self, stage: str) -> str:
        entry = self.read_manifest().get("stages", {}).get(stage)
        return str(entry["status"]) if entry else "pending"


SKIP_DIRS = frozenset({".git", "wandb", "__pycache__"})
"""Folders never searched for run directories."""


def find_run_dirs(root: Path, markers: tuple[str, ...] = ("manifest",)) -> list[Path]:
    """The run directories at or below ``root``, sorted: every folder holding one of
    ``markers`` (``RunDir`` attributes: ``manifest``, ``score``). A run directory is not
    searched further (its ``solve/workspace`` and ``attempts/<n>/`` are the run's), nor are
    ``SKIP_DIRS`` and the hidden folders a sweep stages new run directories in."""
    names = {getattr(RunDir(root), m).name for m in markers}
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if names.intersection(filenames):
            found.append(Path(dirpath))
            dirnames.clear()
        else:
            dirnames[:] = sorted(
                d for d in dirnames if d not in SKIP_DIRS and not _STAGING.match(d)
            )
    return sorted(found)


def _stage_entry(status: str) -> dict[str, Any]:
    """A new manifest entry: ``ptb.records.StageEntry(status).to_json()`` (a unit test checks)."""
    return {
        "status": status,
        "job_id": None,
        "started": None,
        "ended": None,
        "attempts": 0,
    }


def create_run_dir(
    run: RunDir, files: dict[str, str], stages: dict[str, str], info: dict[str, Any]
) -> dict[str, Any] | None:
    """Create a new run directory holding ``files`` (name -> text) and the manifest that
    ``init_manifest(stages, info)`` would create there; returns that manifest, or None when the
    directory exists already (then nothing is written). Submitting a sweep creates thousands:
    the files are written into a hidden folder beside it (``stage_run_dir``), which one rename
    then makes the run directory (``publish_run_dir``), so a reader (or a crash) never sees a
    half-written one and no per-file temporary, rename or lock is needed."""
    staging = stage_run_dir(run, files)
    if staging is None:
        return None
    data = new_manifest(run, stages, info)
    return data if publish_run_dir(run, staging, data) else None


def new_manifest(run: RunDir, stages: dict[str, str], info: dict[str, Any]) -> dict[str, Any]:
    """The manifest ``init_manifest(stages, info)`` creates in a run directory without one."""
    data: dict[str, Any] = {
        "schema": MANIFEST_SCHEMA,
        "run_id": run.run_id,
        "created": now_iso(),
        "stages": {},
    }
    data.update(info)
    for name, status in stages.items():
        data["stages"].setdefault(name, _stage_entry(status))
    return data


def stage_run_dir(run: RunDir, files: dict[str, str]) -> Path | None:
    """A hidden folder beside the new run directory holding ``files``, or None when the run
    directory exists (nothing is written)."""
    if run.path.exists():
        return None
    staging = run.path.parent / f".{run.run_id}.{os.getpid()}-{os.urandom(4).hex()}.{_HOST}.new"
    try:
        staging.mkdir()
    except FileNotFoundError:  # the first run of its experiment folder (one mkdir, not 1,000)
        run.path.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    try:
        _write_files(staging, files)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def publish_run_dir(run: RunDir, staging: Path, manifest: dict[str, Any]) -> bool:
    """Write ``manifest`` into the staged folder and rename it into the run directory; False
    (and the folder removed) when the run directory appeared meanwhile."""
    try:
        _write_files(
            staging, {run.manifest.name: json.dumps(manifest, indent=2, default=str) + "\n"}
        )
        os.rename(staging, run.path)  # fails when the run directory appeared meanwhile
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if run.path.exists():
            return False
        raise
    return True


def clean_staging(folder: Path, max_age_s: float, now: float | None = None) -> list[Path]:
    """Remove the hidden folders in ``folder`` that a submission staged new run directories in
    and left behind (it died between staging and publishing): those older than ``max_age_s``
    (no job waits for them any longer) and those made on this host by a process that is gone.
    Returns the folders removed."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = _STAGING.match(entry.name) if entry.name.startswith(".") else None
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > max_age_s
        except FileNotFoundError:
            continue  # published or removed meanwhile
        here = match["host"] == _HOST
        if old or (here and not _alive(int(match["pid"]))):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def _write_files(folder: Path, files: dict[str, str]) -> None:
    sync = not defer_sync(folder)
    for name, text in files.items():
        with open(folder / name, "w", encoding="utf-8") as fh:
            fh.write(text)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
