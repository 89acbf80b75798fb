"""``hydra/launcher=ptb`` (the default in ``conf/config.yaml``): hands a whole multirun to
``ptb.launch.sweep.launch_sweep`` instead of running one job after another.

Hydra finds this class because it lives in the ``hydra_plugins`` namespace package; the config
node below is what ``override hydra/launcher: ptb`` selects. (No ``from __future__ import
annotations``: Hydra imports plugin modules outside ``sys.modules``, where dataclasses cannot
resolve string annotations.)
"""

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class PtbLauncherConf:
    _target_: str = "hydra_plugins.ptb_launcher.ptb_launcher.PtbLauncher"


ConfigStore.instance().store(
    group="hydra/launcher", name="ptb", node=PtbLauncherConf, provider="ptb"
)


class PtbLauncher(Launcher):
    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from ptb.console import setup_logging
        from ptb.launch.sweep import SweepComposer, launch_sweep

        assert self.config is not None and self.hydra_context is not None
        setup_logging(verbose=False)
        composer = SweepComposer(self.hydra_context.config_loader, self.config)
        code = launch_sweep(composer, job_overrides)
        if code:
            sys.exit(code)
        return [
            JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=code)
            for o in job_overrides
        ]
