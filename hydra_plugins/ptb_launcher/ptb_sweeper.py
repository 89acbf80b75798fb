"""``hydra/sweeper=ptb`` (the default in ``conf/config.yaml``): Hydra's basic sweeper without its
up-front check, which composes every job of the sweep once more before launching (minutes for
the paper grid). ptb's launcher composes and preflights every run before it creates or submits
anything, so a bad override still fails before any work starts.

(No ``from __future__ import annotations``: see ``ptb_launcher.py``.)
"""

from collections.abc import Sequence
from dataclasses import dataclass

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore


@dataclass
class PtbSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.ptb_launcher.ptb_sweeper.PtbSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="ptb", node=PtbSweeperConf, provider="ptb")


class PtbSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Skipped: ``ptb.launch.sweep`` composes every run before anything is launched."""
