from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.config import RunConfig, register_configs
from ptb.plan import to_run_config
from ptb.prefetch import data_for, repos_for
from ptb.preflight import check_task_data

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _repos(model: str) -> list[tuple[str, str | None]]:
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return repos_for(compose("config", overrides=[f"model={model}"]))


def test_prefetch_lists_base_and_instruct() -> None:
    assert _repos("gemma3_4b") == [("google/gemma-3-4b-pt", None), ("google/gemma-3-4b-it", None)]


def test_local_model_needs_no_download() -> None:
    assert _repos("tiny") == []


def _run_config(*overrides: str) -> RunConfig:
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return to_run_config(compose("config", overrides=list(overrides)))


def test_prefetch_lists_the_tasks_hub_data_only() -> None:
    gsm8k = data_for(_run_config("task=gsm8k"))
    assert gsm8k == [
        "hf://openai/gsm8k/main/test-00000-of-00001.parquet",
        "hf://openai/gsm8k/main/train-00000-of-00001.parquet",
    ]
    assert data_for(_run_config("task=bfcl")) == []  # ships in the bfcl-eval package


def test_preflight_names_missing_task_data_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problems = check_task_data(_run_config("task=gpqa"))
    assert len(problems) == 1 and "ptb.prefetch task=gpqa" in problems[0].fix
    assert check_task_data(_run_config("task=bfcl")) == []
