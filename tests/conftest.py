"""Shared fixtures: run ``python -m ptb`` as users do, in a scratch results folder."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.repo import REPO, run_cli  # noqa: F401  (test files import REPO from here)

FAKE_SECRET = "sk-ptb-test-0123456789abcdefSECRET"


def ptb_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a ptb subprocess: no real keys, offline, a private cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not any(s in k for s in ("API_KEY", "TOKEN", "WANDB"))
    }
    env.update(
        HF_HOME=str(tmp / "hf"),
        HF_HUB_OFFLINE="1",
        WANDB_MODE="offline",
        PTB_CACHE=os.environ.get("PTB_TEST_CACHE", str(tmp / "ptb-cache")),
    )
    env.update(extra)
    return env


RunPtb = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_ptb(tmp_path: Path) -> RunPtb:
    def _run(
        *args: str, env: dict[str, str] | None = None, module: str = "ptb", timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(env or ptb_env(tmp_path), *args, module=module, timeout=timeout)

    return _run


TIERS = {"unit": "unit", "integration": "integration", "parity": "parity", "gpu": "gpu"}
"""``tests/<folder>`` -> the marker every test in it gets: a test's tier is where it lives."""
FAST_INTEGRATION = {
    "integration/test_cli.py",  # 6 tests, ~8 s on 2 cores
    "integration/test_forward.py",  # 3 tests, ~3 s
}
"""Integration files in plain ``pytest``; every other integration test is ``slow`` (measured
2026-12-02 on 2 quiet cores: the other integration files took ~11 minutes together, the unit
tier ~130 s). Add a file here only with its measured time, keeping plain ``pytest`` < 3 min."""
OUT_OF_DEFAULT = ("slow", "parity", "gpu")
"""Markers that plain ``pytest`` leaves out (``--all`` or any ``-m`` brings them back)."""
HERE = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all",
        action="store_true",
        help="run every tier (unit, integration, slow, parity, gpu); scripts/test.sh does",
    )


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def tier_of(path: Path) -> tuple[str | None, bool]:
    """``(tier marker, slow)`` of a test file, from where it lives under ``tests/``."""
    try:
        rel = path.resolve().relative_to(HERE)
    except ValueError:
        return None, False
    tier = TIERS.get(rel.parts[0])
    return tier, tier == "integration" and rel.as_posix() not in FAST_INTEGRATION


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier (and integration tests outside
    ``FAST_INTEGRATION`` ``slow``); plain
    ``pytest`` then deselects the ``OUT_OF_DEFAULT`` tiers. Tests marked ``gpu`` run only where
    CUDA is available (e.g. on a lent GPU machine)."""
    for item in items:
        tier, slow = tier_of(Path(str(item.fspath)))
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
        if slow:
            item.add_marker(pytest.mark.slow)
    if not config.getoption("--all") and not config.option.markexpr:
        keep = [i for i in items if not any(m in i.keywords for m in OUT_OF_DEFAULT)]
        dropped = [i for i in items if any(m in i.keywords for m in OUT_OF_DEFAULT)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (run on a GPU machine: pytest -m gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
