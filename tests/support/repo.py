"""The repository's paths and ``python -m ptb``'s config composition, for every test.

``compose_node("model=tiny")`` is the config node that ``python -m ptb model=tiny`` composes;
``compose_run(...)`` is its typed ``RunConfig``. Both register ptb's schemas and point Hydra at
``conf/`` (or ``conf_dir``) for the one call.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra import initialize_config_dir
from omegaconf import DictConfig

from ptb.cli import compose_config
from ptb.config import register_configs
from ptb.config.root import RunConfig
from ptb.plan import to_run_config

REPO = Path(__file__).resolve().parents[2]
CONF_DIR = REPO / "conf"


@contextmanager
def hydra_conf(conf_dir: Path = CONF_DIR) -> Iterator[None]:
    """Hydra initialised on ``conf_dir`` with ptb's schemas registered, for ``hydra.compose``."""
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
        yield


def compose_node(
    *overrides: str, conf_dir: Path = CONF_DIR, hydra_config: bool = False
) -> DictConfig:
    """The config node of ``python -m ptb <overrides>`` (with its ``hydra`` node if asked)."""
    return compose_config(overrides, conf_dir, hydra_config=hydra_config)


def compose_run(*overrides: str, conf_dir: Path = CONF_DIR) -> RunConfig:
    """The typed ``RunConfig`` of ``python -m ptb <overrides>``."""
    return to_run_config(compose_node(*overrides, conf_dir=conf_dir))


def run_cli(
    env: dict[str, str], *args: str, module: str = "ptb", timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` from the repository, as a user runs it; output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        env=env,
        timeout=timeout,
    )
