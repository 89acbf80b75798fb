"""On a GPU machine: the in-sandbox GPU check and GPU generation (``pytest -m gpu``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu
SCRIPT = Path(__file__).resolve().parents[2] / "ptb" / "sandbox" / "gpu_check.py"


def _check(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def test_one_idle_gpu_passes() -> None:
    code, report = _check("--count", "1")
    assert code == 0 and report["ok"], report
    assert report["gpus"][0]["total_gib"] > 10


def test_wrong_kind_fails_with_the_name() -> None:
    code, report = _check("--count", "1", "--kind", "tpu-v9")
    assert code == 1 and "expected tpu-v9" in report["reason"]


def test_too_many_gpus_fails() -> None:
    code, report = _check("--count", "64")
    assert code == 1 and "expected 64 GPU(s)" in report["reason"]


def test_busy_gpu_fails() -> None:
    import torch

    hog = torch.empty(3 * 2**30, dtype=torch.uint8, device="cuda:0")
    try:
        code, report = _check("--count", "1", "--max-used-gib", "2")
    finally:
        del hog
    assert code == 1 and "busy" in report["reason"]
