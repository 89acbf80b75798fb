"""Every shipped config option composes, validates against its schema and documents its command."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf

import ptb.config
from ptb.config import RunConfig
from ptb.secrets import redact_mapping
from tests.support.repo import CONF_DIR, compose_node

SKIPPED_GROUPS = {"site"}
"""``site`` holds git-ignored, machine-specific files; they are not shipped."""
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _options() -> list[tuple[str, str]]:
    return sorted(
        (path.parent.name, path.stem)
        for path in CONF_DIR.glob("*/*.yaml")
        if path.parent.name not in SKIPPED_GROUPS
    )


OPTIONS = _options()


def _options_of(group: str) -> list[str]:
    return [option for g, option in OPTIONS if g == group]


def _compose(*overrides: str, conf_dir: Path = CONF_DIR) -> DictConfig:
    return compose_node(*overrides, conf_dir=conf_dir)


def _to_run_config(cfg: DictConfig) -> RunConfig:
    run = OmegaConf.to_object(cfg)
    assert isinstance(run, RunConfig)
    return run


def test_options_found() -> None:
    groups = {group for group, _ in OPTIONS}
    assert set(ptb.config.GROUP_SCHEMAS) <= groups


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_validates(group: str, option: str) -> None:
    run = _to_run_config(_compose(f"{group}={option}"))
    assert getattr(run, group).name == option


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_saved_config_keeps_every_setting(group: str, option: str) -> None:
    """Shipped configs hold no secret values, so redacting the saved config.yaml must change
    nothing: SLURM jobs load their config back from it (agent.login, credentials_file, ...)."""
    node = OmegaConf.to_container(_compose(f"{group}={option}"), resolve=True)
    assert redact_mapping(node) == node


@pytest.mark.parametrize(
    "path",
    [CONF_DIR / "config.yaml", *(CONF_DIR / g / f"{o}.yaml" for g, o in OPTIONS)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_file_starts_with_its_command(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("#") and "python -m ptb" in first, first


@pytest.mark.parametrize("option", _options_of("agent"))
def test_llm_agent_names_its_key(option: str) -> None:
    agent = _to_run_config(_compose(f"agent={option}")).agent
    if agent.kind != "llm":
        return
    assert agent.provider
    assert agent.model_id
    assert agent.api_key_env and ENV_NAME.match(agent.api_key_env), agent.api_key_env


@pytest.mark.parametrize("option", _options_of("task"))
def test_task_judge_key_is_a_name(option: str) -> None:
    spec = _to_run_config(_compose(f"task={option}")).task.eval
    assert spec.ladder, "every task needs a max-token ladder"
    if spec.grader_model is not None:
        assert spec.grader_api_key_env and ENV_NAME.match(spec.grader_api_key_env)


def test_paper_cell_composes() -> None:
    run = _to_run_config(_compose("agent=opus46", "model=gemma3_4b", "task=bfcl"))
    assert (run.agent.name, run.scaffold.name, run.budget.name) == (
        "opus46",
        "claude_code",
        "h100_10h",
    )
    assert run.budget.hours == 10


def test_default_compose() -> None:
    run = _to_run_config(_compose())
    picked = {g: getattr(run, g).name for g in ("agent", "scaffold", "model", "task", "budget")}
    assert picked == {
        "agent": "recipe_sft",
        "scaffold": "recipe",
        "model": "tiny",
        "task": "toy_calls",
        "budget": "cpu_smoke",
    }


@pytest.mark.parametrize("option", [o for o in _options_of("agent") if o.startswith("baseline_")])
def test_baselines_have_no_scaffold(option: str) -> None:
    run = _to_run_config(_compose(f"agent={option}", "model=qwen3_4b", "task=gsm8k"))
    assert run.agent.kind == "baseline"
    assert run.agent.baseline == option.removeprefix("baseline_")
    assert run.scaffold.name == "none"


def test_cli_scaffold_beats_agent_default() -> None:
    run = _to_run_config(_compose("agent=opus46", "scaffold=opencode"))
    assert run.scaffold.name == "opencode"


@pytest.mark.parametrize(
    ("override", "key"),
    [("budget.hours=ten", "hours"), ("model.hf_idd=x", "hf_idd")],
)
def test_bad_value_or_key_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigCompositionException) as info:
        _compose(override)
    assert key in str(info.value)
    assert f"full_key: {override.split('=')[0]}" in str(info.value.__cause__)


def test_unknown_option_lists_valid_ones() -> None:
    with pytest.raises(ConfigCompositionException) as info:
        _compose("task=bfcll")
    message = str(info.value)
    assert "bfcll" in message
    assert "bfcl" in message.replace("bfcll", "") and "gsm8k" in message


def test_optional_site_may_be_absent(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf, ignore=shutil.ignore_patterns("site"))
    assert _to_run_config(_compose(conf_dir=conf)).agent.name == "recipe_sft"


CHOICES = {
    "sandbox.network": ["none", "egress", "host", "open"],
    "task.eval.backend": ["auto", "vllm", "hf"],
    "task.eval.code_sandbox": ["bwrap", "apptainer", "enclosing"],
    "agent.kind": ["llm", "scripted", "baseline"],
    "agent.login": ["api_key", "subscription"],
    "agent.baseline": ["zeroshot", "fewshot", "instruct"],
    "tracker.mode": ["offline", "online", "disabled"],
    "judge.llm_rule": ["any", "record"],
    "protocol.name": ["paper", "strict"],
    "protocol.decoding": ["model", "task"],
    "protocol.fallback": ["paper", "strict"],
}
"""Every setting with a fixed set of values (``ptb/config/choices.py``) and those values."""


@pytest.mark.parametrize("key", sorted(CHOICES))
def test_a_wrong_choice_fails_at_compose_naming_key_and_values(key: str) -> None:
    with pytest.raises(ConfigCompositionException) as err:
        _compose(f"{key}=off")
    text = f"{err.value} {err.value.__cause__}"
    assert key in text and "'off'" in text, text
    assert f"[{', '.join(CHOICES[key])}]" in text, text


@pytest.mark.parametrize(
    ("key", "value"), [(k, v) for k, vs in sorted(CHOICES.items()) for v in vs]
)
def test_every_valid_choice_composes_and_compares_as_a_string(key: str, value: str) -> None:
    run = _to_run_config(_compose(f"{key}={value}"))
    node: object = run
    for part in key.split("."):
        node = getattr(node, part)
    assert node == value and isinstance(node, str)
    saved = OmegaConf.to_container(_compose(f"{key}={value}"), resolve=True, enum_to_str=True)
    assert isinstance(saved, dict)


@pytest.mark.parametrize("value", ["true", "false", "auto", "True"])
def test_gateway_enabled_accepts_its_modes(value: str) -> None:
    assert _to_run_config(_compose(f"gateway.enabled={value}")).gateway.enabled == value.lower()


def test_gateway_enabled_rejects_others_when_the_config_is_built() -> None:
    with pytest.raises(ValueError, match=r"gateway.enabled='off': expected one of auto, true"):
        _to_run_config(_compose("gateway.enabled=off"))


def test_saved_config_with_choices_loads_back(tmp_path: Path) -> None:
    """config.yaml (what SLURM jobs load) writes choices as plain words and reads them back."""
    from ptb.plan import load_saved_config, materialize, plan_run

    overrides = [f"results_dir={tmp_path}", "sandbox.network=none", "tracker.mode=disabled"]
    plan = plan_run(_compose(*overrides), overrides, None)
    materialize(plan)
    text = plan.run.config.read_text()
    assert "network: none" in text and "!!python" not in text
    loaded = load_saved_config(plan.run)
    assert loaded.sandbox.network == "none" and loaded.tracker.mode == "disabled"


def test_a_run_saved_with_the_old_judge_keys_loads_and_replans_as_itself(tmp_path: Path) -> None:
    """config.yaml of a run planned before task.eval.judge_* became grader_* (and task.data's
    judge_prompt / judge_config): it loads with the new names and re-plans without a conflict."""
    from ptb.plan import load_saved_config, materialize
    from tests.support.plans import planned_run

    overrides = [f"results_dir={tmp_path}", "tracker=none", "task=arenahard_writing"]
    plan = planned_run(overrides)
    text = plan.run.config.read_text(encoding="utf-8")
    assert "grader_model: gpt-5-mini" in text and "grader_prompt:" in text
    plan.run.config.write_text(re.sub(r"\bgrader_", "judge_", text), encoding="utf-8")
    cfg = load_saved_config(plan.run)
    assert cfg.task.eval.grader_model == "gpt-5-mini"
    assert cfg.task.eval.grader_max_tokens == plan.cfg.task.eval.grader_max_tokens
    assert cfg.task.data["grader_prompt"] == plan.cfg.task.data["grader_prompt"]
    materialize(plan)  # the same run: no RunConflict


def test_an_older_task_folders_evaluate_py_config_loads() -> None:
    """The task config an older ptb froze into evaluate.py (task.eval.judge_*) still loads."""
    from ptb.config.task import TaskConfig, upgrade_task
    from ptb.eval.agent_entry import _load
    from tests.support.tasks import task_config

    new = task_config("arenahard_writing")
    data = OmegaConf.to_container(OmegaConf.structured(new), enum_to_str=True)
    assert isinstance(data, dict)
    data["eval"] = {re.sub(r"^grader_", "judge_", k): v for k, v in data["eval"].items()}
    data["data"] = {re.sub(r"^grader_", "judge_", k): v for k, v in data["data"].items()}
    loaded = _load(TaskConfig, upgrade_task(data))
    assert loaded == new
