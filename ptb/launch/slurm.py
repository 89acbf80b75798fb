"""``launcher=slurm``: each run becomes up to four SLURM jobs chained by dependencies.

    solve (prepare + solve) ──afterok──> evaluate ──┐
                           └─afterok──> judge ─────┴─afterok──> score (score + log)

A run's score job also waits for its zero-shot baseline's score job. Submission returns at once.
Jobs whose stages are all done are not submitted again; a job still queued or running is reused;
when a job is (re)submitted, its queued dependents are cancelled and resubmitted behind it, so a
cancelled or failed stage resumes in the same run directory.
"""

from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import replace
from typing import Any

from ptb.config.launcher import StageResources
from ptb.config.root import RunConfig
from ptb.launch.jobs import JOB_NEEDS, JOB_STAGES, run_job_stages
from ptb.launch.local import RunOutcome, ordered
from ptb.plan import RunPlan, materialize
from ptb.rundir import RunDir
from ptb.stages import is_done

log = logging.getLogger("ptb")
DEFAULT_RESOURCES = StageResources()
LIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING"}


def resources(cfg: RunConfig, job: str) -> StageResources:
    """The job's resources with ``-1`` entries taken from the budget."""
    res = cfg.launcher.jobs.get(job, DEFAULT_RESOURCES)
    budget = cfg.budget
    return replace(
        res,
        cpus=budget.cpus if res.cpus < 0 else res.cpus,
        mem_gb=budget.mem_gb if res.mem_gb < 0 else res.mem_gb,
        gpus=budget.gpus if res.gpus < 0 else res.gpus,
        time_min=math.ceil(budget.limit_s / 60) + 10 if res.time_min < 0 else res.time_min,
    )


def executor_parameters(cfg: RunConfig, run: RunDir, job: str, deps: list[str]) -> dict[str, Any]:
    res = resources(cfg, job)
    params: dict[str, Any] = {
        "name": f"{run.run_id}.{job}",
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
    if deps:
        params["slurm_additional_parameters"] = {"dependency": "afterok:" + ":".join(deps)}
    return {k: v for k, v in params.items() if v not in (None, [])}


def is_live(job_id: str) -> bool:
    """Whether a job is still queued or running and can still start (its dependencies can be
    met); a job left behind a failed or cancelled parent is not."""
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    state, _, reason = out.stdout.strip().partition(" ")
    return state in LIVE_STATES and reason != "DependencyNeverSatisfied"


def cancel(job_id: str) -> None:
    subprocess.run(["scancel", job_id], capture_output=True, timeout=30)


class SlurmLauncher:
    def submit(self, plans: list[RunPlan]) -> list[RunOutcome]:
        score_jobs: dict[str, str] = {}
        outcomes = []
        for plan in ordered(plans):
            materialize(plan)
            base = plan.baseline.run.run_id if plan.baseline else None
            ids = self.submit_run(plan, score_jobs.get(base) if base else None)
            if "score" in ids:
                score_jobs[plan.run.run_id] = ids["score"]
            outcome = RunOutcome(plan.run, {job: f"job {i}" for job, i in ids.items()})
            outcomes.append(outcome)
            summary = ", ".join(f"{j}={i}" for j, i in ids.items()) or "nothing to do (all done)"
            log.info("%s: %s", plan.run.run_id, summary)
        return outcomes

    def submit_run(self, plan: RunPlan, baseline_job: str | None) -> dict[str, str]:
        import submitit

        run, cfg = plan.run, plan.cfg
        recorded = {s: e.get("job_id") for s, e in run.read_manifest().get("stages", {}).items()}
        ids: dict[str, str] = {}
        resubmitted: set[str] = set()
        for job, stages in JOB_STAGES.items():
            todo = [s for s in stages if not is_done(s, run)]
            if not todo:
                continue
            old = recorded.get(todo[0])
            upstream_new = any(d in resubmitted for d in JOB_NEEDS[job])
            if old and is_live(str(old)) and not upstream_new:
                ids[job] = str(old)
                continue
            if old:
                cancel(str(old))  # stuck or behind a resubmitted job: replace it
            deps = [ids[d] for d in JOB_NEEDS[job] if d in ids]
            if job == "score" and baseline_job:
                deps.append(baseline_job)
            executor = submitit.AutoExecutor(folder=run.path / "slurm", cluster="slurm")
            executor.update_parameters(**executor_parameters(cfg, run, job, deps))
            submitted = executor.submit(run_job_stages, str(run.path), todo)
            ids[job] = str(submitted.job_id)
            resubmitted.add(job)
            for stage in todo:
                run.update_stage(stage, status="pending", job_id=ids[job])
        return ids
