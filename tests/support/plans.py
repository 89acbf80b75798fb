"""A run planned and materialised in-process from command-line overrides, for tests that drive
the stages one by one (``ptb.stages.run_stage``)."""

from __future__ import annotations

from hydra import compose, initialize_config_dir

import ptb.config
from ptb.plan import RunPlan, materialize, plan_run
from tests.conftest import REPO


def planned_run(overrides: list[str]) -> RunPlan:
    ptb.config.register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        node = compose(config_name="config", overrides=overrides)
    plan = plan_run(node, overrides, None)
    materialize(plan)
    return plan
