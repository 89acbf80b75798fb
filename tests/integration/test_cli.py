"""``python -m ptb`` as a user types it: composition errors and the preflight."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import RunPtb, ptb_env

pytestmark = pytest.mark.integration


def test_cfg_job_prints_the_composed_paper_run(run_ptb: RunPtb) -> None:
    out = run_ptb("agent=opus46", "model=gemma3_4b", "task=bfcl", "--cfg", "job")
    assert out.returncode == 0, out.stderr
    assert "name: claude_code" in out.stdout
    assert "name: h100_10h" in out.stdout and "hours: 10" in out.stdout
    assert "api_key_env: ANTHROPIC_API_KEY" in out.stdout


def test_preflight_names_each_missing_thing_and_submits_nothing(
    run_ptb: RunPtb, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    # no agent CLIs on PATH nor installed by scripts/install-clis.sh
    env = ptb_env(tmp_path, PATH="/usr/bin:/bin", PTB_TOOLS_DIR=str(tmp_path / "no-tools"))
    t0 = time.monotonic()
    out = run_ptb("agent=opus46", "model=gemma3_4b", "task=bfcl", f"results_dir={results}", env=env)
    elapsed = time.monotonic() - t0
    assert out.returncode == 2
    text = out.stderr + out.stdout
    assert "ANTHROPIC_API_KEY is unset" in text
    assert "google/gemma-3-4b-pt are not in the HF cache" in text
    assert "python -m ptb.prefetch model=gemma3_4b" in text
    assert "CLI 'claude' is not installed" in text
    assert "bash scripts/install-clis.sh claude_code" in text
    assert "CUDA" not in text or "GPU" in text
    assert "needs 1 GPU(s)" in text
    assert not results.exists(), "preflight failures must not create run directories"
    assert elapsed < 30


def test_misspelt_key_fails_at_compose_time(run_ptb: RunPtb) -> None:
    out = run_ptb("model.hf_idd=x")
    assert out.returncode != 0
    assert "hf_idd" in out.stderr


def test_wrong_type_names_the_key(run_ptb: RunPtb) -> None:
    out = run_ptb("budget.hours=ten")
    assert out.returncode != 0
    assert "budget.hours" in out.stderr and "ten" in out.stderr


def test_unknown_option_lists_valid_ones(run_ptb: RunPtb) -> None:
    out = run_ptb("task=bfcll")
    assert out.returncode != 0
    assert "bfcll" in out.stderr
    for valid in ("bfcl", "gsm8k", "toy_calls", "humaneval"):
        assert valid in out.stderr


def test_wrong_choice_fails_at_compose_naming_key_and_values(
    run_ptb: RunPtb, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    out = run_ptb("sandbox.network=off", "launcher=slurm", f"results_dir={results}")
    assert out.returncode != 0
    assert "sandbox.network" in out.stderr and "'off'" in out.stderr
    assert "[none, egress, host, open]" in out.stderr
    assert not results.exists(), "nothing may be planned or queued"
