"""``python -m ptb.status <results_dir | experiment dir | run dir> [--json] [--no-scheduler]``:
stage states of every run below a folder, with counts, from the run directories and the
scheduler.

The manifest says what each stage did; for stages that are not finished, the SLURM job recorded
in the manifest says what the scheduler is doing about it (one ``squeue``/``sacct`` call for all
runs). A stage whose job waits behind a failed dependency (``DependencyNeverSatisfied``) will
never start: the run is flagged *stuck* (re-submit the sweep to resume it). A stage whose job is
gone without finishing it (cancelled, node failure, time limit) is *lost*: also resumed by
re-submitting. Without SLURM the scheduler columns stay empty.

Each run's *result* tells the two kinds of failure apart (``ptb.failures``): ``scored``;
``scored as base`` (the agent's failure — no final_model, a model that will not evaluate — or a
flagged run: the zero-shot base model's score); ``not scored (infra, retryable)`` (a stage
failed for a reason that is not the model's, or an older ptb recorded one as a result: re-run
to retry); ``unfinished``.

The egress column counts the connections the agent made through the egress proxy
(``solve/egress.jsonl``, ``sandbox.network=egress``) and how many were refused; ``--json`` has the
hosts with their counts and bytes. The fetched column counts the models and datasets the agent
downloaded into the HF cache and the packages it installed (``solve/provenance.json``); ``--json``
has the repo ids.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ptb.console import output_console
from ptb.failures import error_failure, metrics_failure
from ptb.fsutil import read_json
from ptb.launch import scheduler
from ptb.records import Manifest, MetricsRecord, ScoreRecord
from ptb.rundir import NEEDS, STAGES, RunDir, find_run_dirs
from ptb.sandbox.egress import read_log, summarize

UNFINISHED = ("pending", "running")
ABBREV = {"PENDING": "PD", "RUNNING": "R", "COMPLETED": "CD", "FAILED": "F", "CANCELLED": "CA",
          "TIMEOUT": "TO", "NODE_FAIL": "NF", "OUT_OF_MEMORY": "OOM", "PREEMPTED": "PR",
          "REQUEUED": "RQ", "COMPLETING": "CG", "CONFIGURING": "CF"}  # fmt: skip


@dataclass
class RunStatus:
    run_dir: str
    stages: dict[str, str]
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    """Stages that cannot run because a stage they need failed."""
    final: float | None = None
    error: str | None = None
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per unfinished stage: its job's ``id``, scheduler ``state`` and ``reason``."""
    stuck: list[str] = field(default_factory=list)
    """Stages whose job waits behind a failed dependency and will never start."""
    lost: list[str] = field(default_factory=list)
    """Unfinished stages whose job has ended (or is unknown to the scheduler)."""
    fallback: str | None = None
    """score.json's fallback (flagged, no_final_model, eval_failed, judge_failed)."""
    failure: dict[str, str] | None = None
    """``{"kind": agent | infra, "reason": ...}`` of the evaluation or the failed stage."""

    @property
    def result(self) -> str:
        """scored | scored_as_base | infra_failed | unfinished"""
        if self.failure and self.failure["kind"] == "infra":
            return "infra_failed"
        if self.final is not None:
            return "scored_as_base" if self.fallback else "scored"
        return "unfinished"

    egress: dict[str, Any] | None = None
    """The egress log's summary (``ptb.sandbox.egress.summarize``); None without a log."""
    fetched: dict[str, list[str]] | None = None
    """From ``solve/provenance.json``: repo ids of the models and datasets the agent downloaded,
    the packages it installed; None without a record."""

    @property
    def state(self) -> str:
        if self.failed:
            return "failed"
        if all(s in ("done", "skipped") for s in self.stages.values()):
            return "done"
        if self.stuck:
            return "stuck"
        if self.lost:
            return "lost"
        return "running" if "running" in self.stages.values() else "pending"


def find_runs(root: Path) -> list[Path]:
    """The run directories (by their manifest) at or below ``root``."""
    return find_run_dirs(root, ("manifest",))


def _blocked(stages: dict[str, str]) -> list[str]:
    bad = {s for s, st in stages.items() if st == "failed"}
    blocked: list[str] = []
    for stage in STAGES:  # in dependency order, so blocking propagates
        if stages.get(stage) == "pending" and any(d in bad for d in NEEDS[stage]):
            blocked.append(stage)
            bad.add(stage)
    return blocked


def run_status(run: Path) -> RunStatus:
    rd = RunDir(run)
    manifest = Manifest.read(rd.manifest)
    # a manifest from before the retention stage has no entry for it: nothing to run
    stages = {s: manifest.status(s, "skipped" if s == "retention" else "pending") for s in STAGES}
    status = RunStatus(str(run), stages, [s for s, st in stages.items() if st == "failed"])
    status.blocked = _blocked(stages)
    for stage, st in stages.items():
        job = manifest.entry(stage).job_id
        if st in UNFINISHED and job:
            status.jobs[stage] = {"id": str(job), "state": "", "reason": ""}
    if rd.score.exists():
        try:
            score = ScoreRecord.read(rd.score)
        except ValueError as exc:  # malformed (no `final`): a failed score, never a 0
            status.failed.append("score")
            status.error = f"score.json: {exc}"
        else:
            status.final, status.fallback = score.final, score.fallback
    if rd.egress_log.exists():
        status.egress = summarize(read_log(rd.egress_log))
    if rd.provenance.exists():
        prov = read_json(rd.provenance)
        status.fetched = {
            "models": [m["repo_id"] for m in prov.get("models", [])],
            "datasets": [d["repo_id"] for d in prov.get("datasets", [])],
            "packages": sorted({p["spec"] for p in prov.get("packages", [])}),
        }
    _add_failure(rd, status)
    return status


def _fetched_cell(fetched: dict[str, list[str]] | None) -> str:
    if fetched is None:
        return ""
    return ", ".join(f"{len(v)} {k}" for k, v in fetched.items() if v) or "none"


def _add_failure(run: RunDir, status: RunStatus) -> None:
    metrics = run.metrics
    failure = metrics_failure(MetricsRecord.read(metrics)) if metrics.exists() else None
    if failure is not None:
        status.failure = failure.to_json()
    if failure is not None and failure.kind == "infra" and status.stages["evaluate"] == "done":
        status.failed.append("evaluate")  # an older ptb's result that is no result: retried
        status.error = (
            f"evaluate: an infrastructure failure recorded as a result ({failure.reason})"
        )
        return
    for stage in status.failed:
        err = run.error_file(stage)
        if err.exists():
            data = read_json(err)
            status.failure = error_failure(data).to_json()
            status.error = f"{stage}: {data.get('type')}: {data.get('message')}"[:300]
            break
    else:
        if status.failed:
            status.failure = {"kind": "infra", "reason": "stage"}


RESULTS = {
    "scored": "scored",
    "scored_as_base": "scored as base (agent's failure / flagged)",
    "infra_failed": "not scored yet (infrastructure failure, retryable)",
    "unfinished": "unfinished",
}


def result_cell(st: RunStatus) -> str:
    if st.result == "scored_as_base":
        why = st.fallback or ""
        if (
            st.failure
            and st.failure["kind"] == "agent"
            and why in ("eval_failed", "no_final_model")
        ):
            why += f": {st.failure['reason']}" if st.failure["reason"] != why else ""
        return f"base ({why})"
    if st.result == "infra_failed":
        return f"infra: {(st.failure or {}).get('reason', '?')} (retryable)"
    return st.result


def add_scheduler_states(statuses: list[RunStatus]) -> bool:
    """Fill in each unfinished stage's job state; False when SLURM cannot be asked."""
    if not scheduler.available():
        return False
    ids = [j["id"] for st in statuses for j in st.jobs.values()]
    states = scheduler.job_states(ids)
    for st in statuses:
        for stage, job in st.jobs.items():
            js = states.get(job["id"])
            if js is None:
                job["state"] = "UNKNOWN"
            else:
                job["state"], job["reason"] = js.state, js.reason
            if js is not None and js.stuck:
                st.stuck.append(stage)
            elif js is None or js.state not in scheduler.LIVE_STATES:
                st.lost.append(stage)
        # SLURM marks only the direct dependents of a failed job; what waits on them is stuck too.
        for stage in STAGES:
            if (
                stage in st.jobs
                and stage not in st.stuck
                and any(d in st.stuck for d in NEEDS[stage])
            ):
                st.stuck.append(stage)
    return True


def _cell(st: RunStatus, stage: str, value: str) -> str:
    marks = {"done": "✓", "skipped": "-", "failed": "✗", "running": "…", "pending": "·"}
    cell = marks.get(value, value)
    job = st.jobs.get(stage)
    if job and job["state"]:
        cell += f" {ABBREV.get(job['state'], job['state'])}"
    if stage in st.stuck:
        cell += " (stuck)"
    elif stage in st.blocked:
        cell += " (blocked)"
    return cell


def _egress_cell(egress: dict[str, Any] | None) -> str:
    if egress is None:
        return ""
    refused = f" ({egress['refused']} refused)" if egress["refused"] else ""
    return f"{egress['connections']}{refused}, {egress['bytes_down'] / 1e6:.1f} MB"


def render(statuses: list[RunStatus], console: Console, asked: bool) -> None:
    table = Table(title=f"{len(statuses)} run(s)")
    table.add_column("run", overflow="fold")
    for stage in STAGES:
        table.add_column(stage)
    table.add_column("final")
    table.add_column("result", overflow="fold")
    table.add_column("egress")
    table.add_column("fetched")
    for st in statuses:
        final = "" if st.final is None else f"{100 * st.final:.1f}"
        cells = [_cell(st, s, v) for s, v in st.stages.items()]
        table.add_row(
            Path(st.run_dir).name,
            *cells,
            final,
            result_cell(st),
            _egress_cell(st.egress),
            _fetched_cell(st.fetched),
        )
    console.print(table)
    counts = Counter(st.state for st in statuses)
    console.print("runs: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    results = Counter(st.result for st in statuses)
    console.print("results: " + ", ".join(f"{results[k]} {v}" for k, v in RESULTS.items()))
    if not asked:
        console.print("(no scheduler states: SLURM's squeue is not on PATH or was not asked)")
    for st in statuses:
        if st.failed:
            blocked = f"; blocked: {', '.join(st.blocked)}" if st.blocked else ""
            console.print(f"[red]✗[/red] {st.run_dir}: {st.error or 'failed'}{blocked}")
        if st.stuck:
            jobs = ", ".join(f"{s} (job {st.jobs[s]['id']})" for s in st.stuck)
            console.print(f"[red]stuck[/red] {st.run_dir}: {jobs} wait behind a failed "
                          "dependency and will never start; re-submit to resume")  # fmt: skip
        elif st.lost and not st.failed:
            jobs = ", ".join(f"{s} (job {st.jobs[s]['id']} {st.jobs[s]['state']})"
                             for s in st.lost)  # fmt: skip
            console.print(f"[yellow]lost[/yellow] {st.run_dir}: {jobs} ended without "
                          "finishing; re-submit to resume")  # fmt: skip


def _as_json(st: RunStatus) -> dict[str, Any]:
    return {**asdict(st), "state": st.state, "result": st.result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ptb.status",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, help="results dir, experiment dir or run dir")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-scheduler", action="store_true",
                        help="read the run directories only; do not ask SLURM")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.path.exists():
        parser.error(f"{args.path} does not exist")
    statuses = [run_status(r) for r in find_runs(args.path)]
    asked = False if args.no_scheduler else add_scheduler_states(statuses)
    if args.json:
        print(json.dumps([_as_json(s) for s in statuses], indent=2))
    else:
        render(statuses, output_console(), asked)
    return 1 if any(s.failed or s.stuck or s.lost for s in statuses) else 0


if __name__ == "__main__":
    sys.exit(main())
