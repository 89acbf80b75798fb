"""Every sweep preset names only options that exist, and composes."""

from pathlib import Path

import pytest
import yaml
from hydra import compose

from tests.support.repo import REPO, hydra_conf

PRESETS = sorted((REPO / "sweeps").glob("*.yaml"))
GROUPS = {"agent", "scaffold", "model", "task", "budget", "launcher", "sandbox", "judge", "tracker"}


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_names_real_options(preset: Path) -> None:
    text = preset.read_text()
    assert text.startswith("# @package _global_") and "python -m ptb -m +sweeps=" in text
    params = yaml.safe_load(text)["hydra"]["sweeper"]["params"]
    for key, values in params.items():
        if key in GROUPS:
            for option in str(values).split(","):
                assert (REPO / "conf" / key / f"{option}.yaml").exists(), f"{key}={option}"


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_composes(preset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    with hydra_conf():
        cfg = compose("config", overrides=[f"+sweeps={preset.stem}"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params


def test_budget_ablation_keeps_budgets_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ids carry no budget: each budget must get its own experiment folder."""
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    with hydra_conf():
        cfg = compose("config", overrides=["+sweeps=budget_ablation", "budget=h100_2h"])
    assert cfg.experiment == "ablation_h100_2h"
