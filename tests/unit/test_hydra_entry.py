"""``ptb.cli.hydra_entry``: a multirun (``-m``) is one without Hydra's extra compose that only
reads ``hydra.mode``; everything else is Hydra's own entry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hydra._internal.hydra import Hydra
from omegaconf import DictConfig

from ptb import cli


def _app(tmp_path: Path, text: str) -> Path:
    (tmp_path / "conf").mkdir(parents=True)
    (tmp_path / "conf" / "app.yaml").write_text(text)
    return tmp_path / "conf"


def _run(
    monkeypatch: pytest.MonkeyPatch, conf: Path, tmp_path: Path, *argv: str
) -> tuple[list[str], int]:
    """Run ``hydra_entry('app')`` with ``argv``; returns the runs' ``x`` and the number of
    ``Hydra.get_mode`` composes."""
    seen: list[str] = []
    modes = []
    plain = Hydra.get_mode

    def counting(self: Hydra, config_name: str | None, overrides: list[str]) -> object:
        modes.append(1)
        return plain(self, config_name, overrides)

    monkeypatch.setattr(Hydra, "get_mode", counting)
    monkeypatch.setattr(cli, "CONF_DIR", str(conf))
    monkeypatch.setattr(sys, "argv", ["app", *argv, f"hydra.sweep.dir={tmp_path}/multirun",
                                      f"hydra.run.dir={tmp_path}/run"])  # fmt: skip

    def task(cfg: DictConfig) -> None:
        seen.append(str(cfg.x))

    cli.hydra_entry("app", task)
    assert Hydra.get_mode is counting  # put back as it was
    return seen, len(modes)


def test_a_multirun_skips_the_mode_compose(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = _app(tmp_path, "x: 1\n")
    seen, mode_composes = _run(monkeypatch, conf, tmp_path, "-m", "x=1,2")
    assert sorted(seen) == ["1", "2"] and mode_composes == 0


def test_a_multirun_is_one_whatever_the_config_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conf = _app(tmp_path, "x: 1\nhydra:\n  mode: RUN\n")
    seen, _ = _run(monkeypatch, conf, tmp_path, "--multirun", "x=3,4")
    assert sorted(seen) == ["3", "4"]


def test_without_m_hydra_reads_the_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = _app(tmp_path, "x: 1\nhydra:\n  mode: MULTIRUN\n")
    seen, mode_composes = _run(monkeypatch, conf, tmp_path, "x=5,6")
    assert sorted(seen) == ["5", "6"] and mode_composes == 1  # the config's MULTIRUN
    seen, mode_composes = _run(monkeypatch, _app(tmp_path / "b", "x: 7\n"), tmp_path / "b")
    assert seen == ["7"] and mode_composes == 1
