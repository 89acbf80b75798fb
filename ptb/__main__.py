"""``python -m ptb <overrides>``: compose → preflight → plan → submit (or run locally)."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ptb.cli import hydra_entry
from ptb.console import console, print_outcomes, print_problems, setup_logging
from ptb.launch import LAUNCHERS
from ptb.plan import RunConflict, plan_run
from ptb.preflight import preflight


def _compose(overrides: list[str]) -> DictConfig:
    return hydra.compose(config_name="config", overrides=overrides)


def run(node: DictConfig) -> int:
    """Plan, check and launch one composed run (one job of a multirun); returns an exit code."""
    setup_logging(verbose=False)
    overrides = list(HydraConfig.get().overrides.task)
    plan = plan_run(node, overrides, _compose)
    problems = []
    for p in (plan.baseline, plan):
        if p is not None and p.cfg.preflight:
            problems += [x for x in preflight(p.cfg) if x not in problems]
    if problems:
        print_problems(plan.run.run_id, problems)
        return 2
    launcher = LAUNCHERS.load(plan.cfg.launcher.impl)()
    try:
        outcomes = launcher.submit([plan])
    except RunConflict as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    print_outcomes(outcomes)
    return 0 if all(o.error is None for o in outcomes) else 1


def _hydra_task(node: DictConfig) -> None:
    code = run(node)
    if code:
        sys.exit(code)


def main() -> None:
    hydra_entry("config", _hydra_task)


if __name__ == "__main__":
    main()
