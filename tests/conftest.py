"""Shared fixtures: run ``python -m ptb`` as users do, in a scratch results folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            text=True,
            capture_output=True,
            env=env or ptb_env(tmp_path),
            timeout=timeout,
        )

    return _run


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` run only where CUDA is available (e.g. on a lent GPU machine)."""
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (run on a GPU machine: pytest -m gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
