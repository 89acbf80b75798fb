"""Multirun sweeps (``python -m ptb -m ...``): compose every run, check them all, then hand the
whole sweep to its launcher in one call.

Hydra's basic launcher composes and runs one job at a time (about 0.1 s to compose one run of
this config, so minutes for the paper grid), and its submitit launcher waits for every job to
end. ptb's Hydra launcher (``hydra_plugins/ptb_launcher``, selected in ``conf/config.yaml``)
calls ``launch_sweep`` instead, which

- composes each distinct set of config-group choices once and applies the plain value overrides
  (``seed=1``, ``budget.hours=2``) to a copy: the two steps Hydra's compose takes, in its order,
  so every run's config is exactly what ``python -m ptb <its overrides>`` composes;
- plans every run and its (shared) baseline and preflights each distinct configuration once;
  if any run has a problem, nothing is created or submitted;
- hands all runs to the launcher at once: ``launcher=slurm`` submits them as job arrays and
  returns, ``launcher=local`` runs them one after another.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, open_dict, read_write

from ptb.launch import LAUNCHERS
from ptb.launch.local import RunOutcome
from ptb.plan import RunConflict, RunPlan, plan_run
from ptb.preflight import Problem, preflight

log = logging.getLogger("ptb")


class SweepComposer:
    """``overrides -> run config`` for the runs of one multirun, memoised by group choices."""

    def __init__(self, loader: Any, master: DictConfig) -> None:
        self.loader = loader
        self.master = master
        self.parser = OverridesParser.create()
        self.groups = set(master.hydra.runtime.choices.keys())
        self._bases: dict[tuple[str, ...], DictConfig] = {}
        self.composed = 0

    def _is_group(self, o: Override) -> bool:
        key = o.key_or_group
        if key.startswith("hydra") or o.package is not None:
            return True
        if isinstance(o.value(), dict):
            return False
        return key in self.groups or bool(self.loader.repository.group_exists(key))

    def __call__(self, overrides: Sequence[str]) -> DictConfig:
        parsed = self.parser.parse_overrides(overrides=list(overrides))
        is_group = [self._is_group(o) for o in parsed]
        groups = tuple(text for text, g in zip(overrides, is_group, strict=True) if g)
        values = [o for o, g in zip(parsed, is_group, strict=True) if not g]
        base = self._bases.get(groups)
        if base is None:
            base = self.loader.load_sweep_config(self.master, list(groups))
            with read_write(base), open_dict(base):
                del base["hydra"]
            self._bases[groups] = base
            self.composed += 1
        cfg = copy.deepcopy(base)
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        return cfg


def _preflight_key(plan: RunPlan) -> str:
    c = plan.cfg
    return repr((c.agent, c.scaffold, c.model, c.sandbox, c.task.impl, c.tracker.impl,
                 c.launcher.impl, c.budget))  # fmt: skip


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
    return [plan_run(composer(o), list(o), composer) for o in job_overrides]


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
