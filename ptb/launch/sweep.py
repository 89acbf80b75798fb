"""Multirun sweeps (``python -m ptb -m ...``): compose every run, check them all, then hand the
whole sweep to its launcher in one call.

Hydra's basic launcher composes and runs one job at a time (about 0.1 s to compose one run of
this config, so minutes for the paper grid), and its submitit launcher waits for every job to
end. ptb's Hydra launcher (``hydra_plugins/ptb_launcher``, selected in ``conf/config.yaml``)
calls ``launch_sweep`` instead, which

- composes each distinct set of config-group choices once (and most of them by substitution)
  and derives each run's typed and saved config from it by setting its value overrides
  (``seed=1``; ``ptb.launch.compose``): every run's config is exactly what
  ``python -m ptb <its overrides>`` composes;
- plans every run and its (shared) baseline and preflights each distinct configuration once;
  if any run has a problem, nothing is created or submitted;
- hands all runs to the launcher at once: ``launcher=slurm`` submits them as job arrays and
  returns, ``launcher=local`` runs them one after another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from ptb.launch import LAUNCHERS
from ptb.launch.compose import SweepComposer
from ptb.launch.local import RunOutcome
from ptb.plan import RunConflict, RunPlan, baseline_overrides, run_dir_for
from ptb.preflight import Problem, preflight

log = logging.getLogger("ptb")


PREFLIGHT_FREE = ("seed", "baseline_seed", "experiment", "force", "progress")
"""Run settings that no preflight check reads: runs differing only in these are checked once."""


def _preflight_key(plan: RunPlan) -> str:
    """Every setting a check may read (the whole config but ``PREFLIGHT_FREE``): two runs that
    differ in ``judge``, ``gateway``, ``task.data`` or ``task.eval`` are both checked."""
    c = plan.cfg
    return repr({k: v for k, v in vars(c).items() if k not in PREFLIGHT_FREE})


def check(plans: list[RunPlan]) -> dict[str, list[Problem]]:
    """Preflight problems by run id; each distinct configuration is checked once."""
    seen: dict[str, list[Problem]] = {}
    found: dict[str, list[Problem]] = {}
    for plan in plans:
        for p in (plan.baseline, plan):
            if p is None or not p.cfg.preflight:
                continue
            key = _preflight_key(p)
            if key not in seen:
                seen[key] = preflight(p.cfg)
            if seen[key]:
                found.setdefault(plan.run.run_id, [])
                found[plan.run.run_id] += [x for x in seen[key] if x not in found[plan.run.run_id]]
    return found


def plan_sweep(composer: SweepComposer, job_overrides: Sequence[Sequence[str]]) -> list[RunPlan]:
    """``plan_run`` for every job, with each distinct baseline planned once."""
    composer.prepare(job_overrides)
    composer.use_cache()
    composer.precompose([r for o in job_overrides for r in (o, baseline_overrides(list(o), 0))])
    baselines: dict[tuple[str, ...], RunPlan] = {}
    plans = []
    for overrides in job_overrides:
        plan = _plan(composer, list(overrides))
        if plan.cfg.agent.kind != "baseline":
            b_over = tuple(baseline_overrides(list(overrides), plan.cfg.baseline_seed))
            if b_over not in baselines:
                baselines[b_over] = _plan(composer, list(b_over))
            plan.baseline = baselines[b_over]
        plans.append(plan)
    composer.save_cache()
    return plans


def _plan(composer: SweepComposer, overrides: list[str]) -> RunPlan:
    """``plan_run(node, overrides, None)``, without a config node per run."""
    cfg, saved, text = composer.resolve(overrides)
    return RunPlan(cfg, None, overrides, run_dir_for(cfg), None, saved, text)


def launch_sweep(composer: SweepComposer, job_overrides: Sequence[Sequence[str]]) -> int:
    """Compose, check and launch every run of a multirun; returns the exit code."""
    from ptb.console import console, print_outcomes, print_problems

    t0 = time.monotonic()
    plans = plan_sweep(composer, job_overrides)
    log.info("%d runs composed (%d distinct group choices) in %.1f s", len(plans),
             composer.composed, time.monotonic() - t0)  # fmt: skip
    problems = check(plans)
    if problems:
        for run_id, found in list(problems.items())[:20]:
            print_problems(run_id, found)
        if len(problems) > 20:
            console.print(f"... and {len(problems) - 20} more runs with problems")
        return 2
    outcomes: list[RunOutcome] = []
    by_launcher: dict[str, list[RunPlan]] = {}
    for plan in plans:
        by_launcher.setdefault(plan.cfg.launcher.impl, []).append(plan)
    try:
        for impl, group in by_launcher.items():
            outcomes += LAUNCHERS.load(impl)().submit(group)
    except RunConflict as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    log.info("sweep of %d runs handled in %.1f s", len(plans), time.monotonic() - t0)
    if len(outcomes) <= 50:
        print_outcomes(outcomes)
    else:
        queued = sum(1 for o in outcomes if any(v.startswith("job ") for v in o.stages.values()))
        console.print(f"{len(outcomes)} runs: {queued} with jobs queued; see python -m ptb.status")
    return 0 if all(o.error is None for o in outcomes) else 1
