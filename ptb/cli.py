"""What every ``python -m ptb...`` command shares: where the configs are and the Hydra entry."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    with _multirun_mode_known():
        hydra.main(config_path=CONF_DIR, config_name=config_name, version_base=None)(task)()


@contextmanager
def _multirun_mode_known() -> Iterator[None]:
    """With ``-m``/``--multirun`` on the command line, Hydra composes the whole config once
    only to read ``hydra.mode`` (``Hydra.get_mode``), then runs a multirun whatever it says
    (warning if it says RUN). Skip that compose (~0.3 s of every sweep's submission): Hydra
    then runs the multirun and records ``hydra.mode=MULTIRUN`` among its overrides."""
    from hydra._internal.hydra import Hydra

    if not any(a in ("-m", "--multirun") for a in sys.argv[1:]):
        yield
        return
    plain = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        Hydra.get_mode = plain  # type: ignore[method-assign]


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
