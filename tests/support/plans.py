"""A run planned and materialised in-process from command-line overrides, for tests that drive
the stages one by one (``ptb.stages.run_stage``)."""

from __future__ import annotations

from ptb.plan import RunPlan, materialize, plan_run
from tests.support.repo import compose_node


def planned_run(overrides: list[str]) -> RunPlan:
    node = compose_node(*overrides)
    plan = plan_run(node, overrides, None)
    materialize(plan)
    return plan
