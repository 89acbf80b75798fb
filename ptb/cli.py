"""What every ``python -m ptb...`` command shares: where the configs are and the Hydra entry."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ptb.config import register_configs

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
REPO_DIR = Path(__file__).resolve().parents[1]
CONF_DIR = os.environ.get("PTB_CONF_DIR") or str(REPO_DIR / "conf")
# conf/config.yaml adds this folder to Hydra's search path, which makes the repo's sweeps/
# folder a config group: python -m ptb -m +sweeps=toy_grid
os.environ.setdefault("PTB_REPO_DIR", str(REPO_DIR))


def hydra_entry(config_name: str, task: Callable[[DictConfig], None]) -> None:
    """Register the schemas and run ``task`` as a Hydra app on ``conf/<config_name>.yaml``."""
    register_configs()
    hydra.main(config_path=CONF_DIR, config_name=config_name, version_base=None)(task)()


def compose_config(
    overrides: Sequence[str], conf_dir: str | Path = CONF_DIR, *, hydra_config: bool = False
) -> DictConfig:
    """The config node that ``python -m ptb <overrides>`` composes (with its ``hydra`` node if
    asked), outside a Hydra app: the schemas registered, Hydra initialised on ``conf_dir`` for
    this one call."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra_config)
