"""``launcher=slurm``: each run becomes up to five SLURM jobs chained by dependencies.

    solve (prepare + solve) ──afterok──> evaluate ──┬──────────────────┐
                           │                        └─afterok─> retention ─┤
                           └─afterok──> judge ─────────────────────────────┴─afterok─> score
                                                                              (score + log)

(retention only with a suite: ``retention=general``).

A run's score job also waits for its zero-shot baseline's score job. Submission returns at once.

Runs that need the same jobs with the same resources and the same outside dependencies (the
usual case in a sweep: every run of one model and task shares one baseline) form a *group*; a
group of several runs is submitted as one job array per job kind, chained element by element
with ``aftercorr`` (task i of the evaluate array starts when task i of the solve array has
succeeded), so a sweep of N runs costs 4 ``sbatch`` calls per group instead of 4N. A group of
one run is submitted as plain jobs with ``afterok``.

Jobs whose stages are all done are not submitted again; a job still queued or running is reused;
when a job is (re)submitted, its queued dependents are cancelled and resubmitted behind it, so a
cancelled or failed stage resumes in the same run directory. Jobs named in
``launcher.requeue`` are submitted with ``--requeue``: after a preemption or node failure SLURM
requeues them and they resume in the same run directory (the solve stage turns the scheduler's
SIGTERM into an interruption, which is retried, not scored).
"""

from __future__ import annotations

import logging
import math
import shlex
import shutil
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ptb.config.launcher import StageResources
from ptb.config.root import RunConfig
from ptb.fsutil import one_sync
from ptb.launch import array_task
from ptb.launch.jobs import RESOURCES_FROM, run_job_stages
from ptb.launch.local import RunOutcome, ordered, retry_agent_failure
from ptb.launch.scheduler import JobState, cancel, queue_states
from ptb.plan import RunPlan, stage
from ptb.records import Manifest, StageEntry
from ptb.rundir import (
    JOB_NEEDS,
    JOB_STAGES,
    RunDir,
    clean_staging,
    now_iso,
    publish_run_dir,
)
from ptb.stages import output_valid

log = logging.getLogger("ptb")
DEFAULT_RESOURCES = StageResources()
SBATCH_THREADS = 4
"""Groups of runs whose ``sbatch`` calls run at once (each call waits ~10 ms on slurmctld)."""


def resources(cfg: RunConfig, job: str) -> StageResources:
    """The job's resources with ``-1`` entries taken from the budget."""
    jobs = cfg.launcher.jobs
    res = jobs.get(job) or jobs.get(RESOURCES_FROM.get(job, job), DEFAULT_RESOURCES)
    budget = cfg.budget
    return replace(
        res,
        cpus=budget.cpus if res.cpus < 0 else res.cpus,
        mem_gb=budget.mem_gb if res.mem_gb < 0 else res.mem_gb,
        gpus=budget.gpus if res.gpus < 0 else res.gpus,
        time_min=math.ceil(budget.limit_s / 60) + 10 if res.time_min < 0 else res.time_min,
    )


def job_parameters(cfg: RunConfig, job: str) -> dict[str, Any]:
    """submitit parameters of one job kind, without its name and dependencies."""
    res = resources(cfg, job)
    params: dict[str, Any] = {
        "timeout_min": res.time_min,
        "cpus_per_task": res.cpus,
        "mem_gb": res.mem_gb,
        "slurm_partition": res.partition or cfg.launcher.partition,
        "slurm_account": cfg.launcher.account,
        "slurm_qos": cfg.launcher.qos,
        "slurm_constraint": cfg.launcher.constraint,
        "slurm_setup": list(cfg.launcher.setup),
    }
    if res.gpus > 0:
        kind = f"{cfg.budget.gpu_type}:" if cfg.budget.gpu_type else ""
        params["slurm_gres"] = f"gpu:{kind}{res.gpus}"
    extra: dict[str, Any] = {}
    if job in cfg.launcher.requeue:
        extra["requeue"] = True
    if cfg.launcher.hold:
        extra["hold"] = True
    if extra:
        params["slurm_additional_parameters"] = extra
    return {k: v for k, v in params.items() if v not in (None, [])}


def dependency(after_ok: Sequence[str], after_corr: Sequence[str] = ()) -> str | None:
    """``--dependency``: every listed job (``afterok``), and for an array the corresponding task
    of every listed array (``aftercorr``); all must hold."""
    parts = [f"aftercorr:{a}" for a in after_corr]
    if after_ok:
        parts.append("afterok:" + ":".join(after_ok))
    return ",".join(parts) or None


def executor_parameters(
    cfg: RunConfig, name: str, job: str, after_ok: Sequence[str], after_corr: Sequence[str] = ()
) -> dict[str, Any]:
    params = {"name": name, **job_parameters(cfg, job)}
    dep = dependency(after_ok, after_corr)
    if dep:
        params["slurm_additional_parameters"] = {
            **params.get("slurm_additional_parameters", {}),
            "dependency": dep,
        }
    return params


def make_executor(folder: Path, params: dict[str, Any]) -> Any:
    """The submitit executor that writes and submits the ``sbatch`` script."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(**params)
    return executor


def array_command(python: str, folder: Path, calls: Path) -> str:
    """The command of every task of a job array that ``submit_array`` submits."""
    args = (shlex.quote(str(folder)), shlex.quote(str(calls)))
    return f"{python} -u -m ptb.launch.array_task {args[0]} {args[1]}"


def submit_array(executor: Any, calls: Sequence[tuple[str, list[str]]]) -> list[str]:
    """Submit one job array whose task ``i`` runs ``run_job_stages(*calls[i])``; returns the
    tasks' job ids (``<array>_<i>``).

    What submitit's ``executor.batch()`` does, but with one pickle for the whole array (in the
    executor's folder, named by a uuid, written before ``sbatch``) instead of one pickle, rename
    and ``mkdir`` per task: a sweep of 1,372 runs wrote 5,432 of them. Each task writes its own
    ``<array>_<i>_submitted.pkl`` from it when it starts (``ptb.launch.array_task``) and then
    runs as submitit's job, so logs, results and requeues keep submitit's layout."""
    from submitit.core import utils
    from submitit.slurm.slurm import SlurmExecutor

    slurm = executor._executor
    delayed = []
    for call in calls:
        d = utils.DelayedSubmission(run_job_stages, *call)
        d.set_timeout(slurm.parameters.get("time", 5), slurm.max_num_timeout)
        delayed.append(d)
    folder = Path(slurm.folder)
    folder.mkdir(parents=True, exist_ok=True)
    shared = folder / f"array_{uuid.uuid4().hex}.pkl"
    utils.cloudpickle_dump(delayed, shared)
    array = SlurmExecutor(folder, slurm.max_num_timeout, python=slurm.python)
    array.update_parameters(**slurm.parameters)
    array.parameters["map_count"] = len(calls)
    try:
        first = array._submit_command(array_command(array.python, folder, shared))
    except Exception:
        shared.unlink(missing_ok=True)
        raise
    return [f"{first.job_id}_{i}" for i in range(len(calls))]


@dataclass
class RunJobs:
    """What one run needs from the scheduler."""

    plan: RunPlan
    todo: dict[str, list[str]] = field(default_factory=dict)
    """Jobs to submit and the stages each runs."""
    ids: dict[str, str] = field(default_factory=dict)
    """Every job of the run that is queued or running after submission (kept or new)."""
    replaced: list[str] = field(default_factory=list)
    """Queued jobs of an earlier submission to cancel (stuck, or behind a resubmitted job)."""
    baseline_job: str | None = None

    def outside_deps(self, job: str) -> list[str]:
        deps = [self.ids[d] for d in JOB_NEEDS[job] if d in self.ids and d not in self.todo]
        if job == "score" and self.baseline_job:
            deps.append(self.baseline_job)
        return deps


def plan_jobs(
    plan: RunPlan, queued: dict[str, JobState], manifest: Manifest | None = None
) -> RunJobs:
    """Which of the run's jobs to submit, which queued ones to keep and which to replace
    (``manifest``: the run's manifest when the caller has just read or written it)."""
    run = plan.run
    entries = (Manifest.read(run.manifest) if manifest is None else manifest).stages
    rj = RunJobs(plan)
    for job, stages in JOB_STAGES.items():
        todo = [s for s in stages if not _done(s, run, entries.get(s))]
        if not todo:
            continue
        first = entries.get(todo[0])
        old = str(first.job_id or "") if first is not None else ""
        state = queued.get(old)
        upstream_new = any(d in rj.todo for d in JOB_NEEDS[job])
        if state is not None and state.live and not upstream_new:
            rj.ids[job] = old
            continue
        if state is not None:
            rj.replaced.append(old)
        rj.todo[job] = todo
    return rj


def _done(stage: str, run: RunDir, entry: StageEntry | None) -> bool:
    """``ptb.stages.is_done`` from a manifest already read (one read per run, not per stage)."""
    status = entry.status if entry is not None else None
    return status == "skipped" or (status == "done" and output_valid(stage, run))


def _shape(rj: RunJobs) -> tuple[Any, ...]:
    """Runs of one shape can share arrays: same jobs, resources, folder and outside deps."""
    cfg = rj.plan.cfg
    jobs = tuple(rj.todo)
    return (
        str(rj.plan.run.path.parent),
        jobs,
        tuple(tuple(rj.outside_deps(j)) for j in jobs),
        tuple(repr(sorted(job_parameters(cfg, j).items())) for j in jobs),
    )


class SlurmLauncher:
    def submit(self, plans: list[RunPlan]) -> list[RunOutcome]:
        import submitit  # noqa: F401  (fail here, before any run directory changes)

        with one_sync():
            return self._submit(ordered(plans))

    def _submit(self, runs: list[RunPlan]) -> list[RunOutcome]:
        for folder in sorted({p.run.path.parent for p in runs}):
            for left in clean_staging(folder, array_task.WAIT_S):
                log.warning("removed %s, staged by a submission that did not finish", left)
        manifests: dict[Path, dict[str, Any]] = {}
        self._staged: dict[Path, tuple[Path, dict[str, Any]]] = {}
        self._jobs: dict[Path, RunJobs] = {}
        try:
            outcomes = self._submit_staged(runs, manifests)
            while self._staged:  # nothing to submit: published as materialize would have
                path, (staging, manifest) = self._staged.popitem()
                publish_run_dir(RunDir(path), staging, manifest)
            return outcomes
        finally:  # a submission that failed leaves none of its staged folders behind,
            # and no job queued for one (it would wait for a run directory that never comes,
            # or find the one a resubmission makes and run beside that one's own jobs)
            orphans = [i for path in self._staged if path in self._jobs
                       for i in self._jobs[path].ids.values()]  # fmt: skip
            if orphans:
                log.warning("cancelling %d jobs queued for runs this failed submission did not "
                            "create", len(orphans))  # fmt: skip
                cancel(orphans)
            for staging, _ in self._staged.values():
                shutil.rmtree(staging, ignore_errors=True)
            self._staged = {}
            self._jobs = {}

    def _submit_staged(
        self, runs: list[RunPlan], manifests: dict[Path, dict[str, Any]]
    ) -> list[RunOutcome]:
        """New run directories stay staged (``ptb.plan.stage``) until their jobs are queued,
        then are published with the job ids: one manifest write per new run, no lock, no
        rewrite. The tasks of an array wait for their run directory (``array_task``)."""
        for plan in runs:
            manifests[plan.run.path], staging = stage(plan)
            if staging is not None:
                self._staged[plan.run.path] = (staging, manifests[plan.run.path])
            elif plan.cfg.launcher.retry_agent_failures:
                retry_agent_failure(plan)  # may archive an attempt: read the manifest again
                manifests[plan.run.path] = plan.run.read_manifest()
        # Planned from the typed manifests; the dicts are what is written (job ids added).
        typed = {path: Manifest.from_json(m) for path, m in manifests.items()}
        recorded = [str(e.job_id) for m in typed.values() for e in m.stages.values() if e.job_id]
        queued = queue_states(recorded)
        # Baselines first: the score jobs of agent runs wait for their baseline's score job.
        first = [p for p in runs if p.baseline is None]
        rest = [p for p in runs if p.baseline is not None]
        done: dict[Path, RunJobs] = {}
        for layer in (first, rest):
            batch = []
            for plan in layer:
                rj = plan_jobs(plan, queued, typed[plan.run.path])
                if plan.baseline is not None and plan.baseline.run.path in done:
                    rj.baseline_job = done[plan.baseline.run.path].ids.get("score")
                batch.append(rj)
            cancel([old for rj in batch for old in rj.replaced])
            self._jobs.update((rj.plan.run.path, rj) for rj in batch)
            self.submit_jobs(batch)
            done.update({rj.plan.run.path: rj for rj in batch})
        outcomes = []
        for plan in runs:
            ids = done[plan.run.path].ids
            outcomes.append(RunOutcome(plan.run, {job: f"job {i}" for job, i in ids.items()}))
            if len(runs) <= 20:
                summary = ", ".join(f"{j}={i}" for j, i in ids.items()) or "nothing to do"
                log.info("%s: %s", plan.run.run_id, summary)
        return outcomes

    def submit_jobs(self, batch: list[RunJobs]) -> None:
        """Submit the jobs of ``batch``: one array per job kind for each group of runs of one
        shape (plain jobs for a group of one)."""
        groups: dict[tuple[Any, ...], list[RunJobs]] = defaultdict(list)
        for rj in batch:
            if rj.todo:
                groups[_shape(rj)].append(rj)
        units: list[list[RunJobs]] = []
        for group in groups.values():
            if len(group) > 1 and group[0].plan.cfg.launcher.arrays:
                units.append(group)
            else:
                units += [[rj] for rj in group]
        # Units are independent (their dependencies on other units were submitted in an earlier
        # batch): their sbatch calls overlap, each unit's own in order. The manifests are
        # written here, in this thread (``one_sync`` defers the fsyncs of this thread only).
        for unit in units:  # submitit's own jobs do not wait for their run directory
            if len(unit) == 1 and unit[0].plan.run.path in self._staged:
                staging, manifest = self._staged.pop(unit[0].plan.run.path)
                publish_run_dir(unit[0].plan.run, staging, manifest)
        with ThreadPoolExecutor(min(SBATCH_THREADS, len(units) or 1)) as pool:
            futures = [pool.submit(self._submit_array, unit) for unit in units]
        failed: BaseException | None = None
        for unit, future in zip(units, futures, strict=True):
            if future.exception() is not None:
                failed = failed or future.exception()
                continue
            folder, submitted = future.result()
            for rj in unit:
                staged = self._staged.pop(rj.plan.run.path, None)
                if staged is None:
                    _record(rj, folder, submitted)
                else:
                    _note_jobs(staged[1], rj, folder, submitted)
                    publish_run_dir(rj.plan.run, *staged)
        if failed is not None:
            raise failed

    def _submit_array(self, group: list[RunJobs]) -> tuple[Path, str]:
        """Submit the group's jobs (in a worker thread); returns their folder and the time."""
        first = group[0]
        cfg, run = first.plan.cfg, first.plan.run
        single = len(group) == 1
        folder = run.slurm_dir if single else run.path.parent / ".slurm"
        new: dict[str, str] = {}  # job kind -> job id (single) or array id
        submitted = now_iso()
        for job in first.todo:
            inside = [new[d] for d in JOB_NEEDS[job] if d in new]
            outside = first.outside_deps(job)
            name = f"{run.run_id}.{job}" if single else f"ptb.{run.path.parent.name}.{job}"
            params = executor_parameters(
                cfg, name, job, outside + inside if single else outside, [] if single else inside
            )
            if not single:
                params["slurm_array_parallelism"] = cfg.launcher.array_parallelism
            executor = make_executor(folder, params)
            calls = [(str(rj.plan.run.path), rj.todo[job]) for rj in group]
            if single:
                ids = [str(executor.submit(run_job_stages, *calls[0]).job_id)]
            else:
                ids = submit_array(executor, calls)
            new[job] = ids[0] if single else ids[0].split("_")[0]
            for rj, job_id in zip(group, ids, strict=True):
                rj.ids[job] = job_id
            what = f"job {ids[0]}" if single else f"array {new[job]} ({len(ids)} runs)"
            log.info("%s: %s", job, what)
        return folder, submitted


def _record(rj: RunJobs, folder: Path, submitted: str) -> None:
    """Note each stage's new job in the manifest. A job may already have started (and marked
    its stage running or done): only entries older than this submission become pending."""
    with rj.plan.run.editing() as data:
        _note_jobs(data, rj, folder, submitted)


def _note_jobs(data: dict[str, Any], rj: RunJobs, folder: Path, submitted: str) -> None:
    for job, stages in rj.todo.items():
        for name in stages:
            entry = data.setdefault("stages", {}).setdefault(name, {})
            entry.update(job_id=rj.ids[job], slurm_dir=str(folder))
            if (entry.get("started") or "") < submitted:
                entry["status"] = "pending"
