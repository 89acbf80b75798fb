"""When the gateway is on, where it points, and the problems the preflight reports."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ptb.config import RunConfig
from ptb.eval.agent_entry import use_grader_route
from ptb.gateway.run import (
    GRADER_TOKEN_ENV,
    GRADER_URL_ENV,
    agent_route,
    allowed_models,
    check,
    gateway_settings,
    grader_route,
    is_enabled,
    stop_on_limit,
    upstream_url,
)
from ptb.preflight import check_task_grader
from tests.support.repo import compose_run


def cfg(*overrides: str) -> RunConfig:
    return compose_run(*overrides)


@pytest.mark.parametrize(
    ("overrides", "on"),
    [
        (["agent=opus46"], True),  # auto: a provider key
        (["agent=gpt52", "gateway.enabled=false"], False),
        (["agent=recipe_sft"], False),  # scripted: no key
        (["agent=baseline_zeroshot", "gateway.enabled=true"], False),  # no agent at work
        (["agent=custom", "gateway.enabled=true"], True),
        (["agent=recipe_sft", "task=healthbench"], True),  # a model-graded task: the grader route
        (["agent=recipe_sft", "task=healthbench", "gateway.enabled=false"], False),
        (["agent=baseline_zeroshot", "task=arenahard_writing"], False),
    ],
)
def test_enabled(overrides: list[str], on: bool) -> None:
    assert is_enabled(cfg(*overrides)) is on


def test_routes_follow_the_agent_and_the_task() -> None:
    graded = cfg("agent=opus46", "task=arenahard_writing")
    assert agent_route(graded) and grader_route(graded)
    login_file = cfg("agent=gpt52", "agent.login=subscription",
                     "agent.credentials_file=/a/auth.json", "task=arenahard_writing")  # fmt: skip
    assert not agent_route(login_file) and grader_route(login_file)
    assert check(login_file) == []  # a grader route alone needs no agent key
    token = cfg(
        "agent=opus46", "agent.login=subscription", "agent.api_key_env=CLAUDE_CODE_OAUTH_TOKEN"
    )
    assert agent_route(token)  # a subscription token is held like a key
    plain = cfg("agent=opus46", "task=gsm8k")
    assert agent_route(plain) and not grader_route(plain)


def test_the_grader_route_carries_the_task_and_its_own_key() -> None:
    run = cfg("agent=opus46", "task=healthbench")
    keys = {"agent": "sk-agent", "grader": "sk-grader"}
    settings = gateway_settings(run, Path("g.jsonl"), keys, {"agent": "t1", "grader": "t2"})
    agent, grader = settings["routes"]
    assert (agent["name"], agent["key"], agent["token"]) == ("agent", "sk-agent", "t1")
    assert (grader["name"], grader["key"], grader["token"]) == ("grader", "sk-grader", "t2")
    assert grader["upstream"] == "https://api.openai.com/v1"
    assert grader["allow_models"] == ["gpt-5-mini"]
    assert grader["grader"]["task"]["impl"] == "healthbench"
    assert grader["grader"]["max_tokens"] == run.task.eval.grader_max_tokens


def test_a_cost_limit_needs_the_grader_models_price_too() -> None:
    graded = ("agent=opus46", "task=healthbench", "gateway.max_cost_usd=20")
    assert check(cfg(*graded)) == []  # gpt-5-mini is priced in conf/gateway/default.yaml
    (problem,) = check(cfg(*graded, "task.eval.grader_model=judge-x"))
    assert "needs a price for judge-x" in problem[0]


def test_a_login_file_cannot_be_held_by_the_gateway() -> None:
    run = cfg("agent=gpt52", "agent.login=subscription", "agent.credentials_file=/a/auth.json",
              "gateway.enabled=true")  # fmt: skip
    (problem,) = check(run)
    assert "logs in with a file" in problem[0] and "gateway.enabled=false" in problem[1]


def test_a_grader_model_on_a_task_without_grader_requests_is_a_problem() -> None:
    (problem,) = check(cfg("agent=recipe_sft", "task=gsm8k", "task.eval.grader_model=gpt-5-mini"))
    assert "has no grader requests" in problem[0]


def test_a_graded_tasks_key_is_checked_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (problem,) = check_task_grader(cfg("agent=recipe_sft", "task=arenahard_writing"))
    assert "OPENAI_API_KEY is unset" in problem.what and "grader_api_key_env=null" in problem.fix
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert check_task_grader(cfg("agent=recipe_sft", "task=arenahard_writing")) == []
    local = cfg("agent=recipe_sft", "task=healthbench", "task.eval.grader_api_key_env=null")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert check_task_grader(local) == []


def test_evaluate_py_in_the_sandbox_uses_the_grader_route() -> None:
    task = cfg("task=arenahard_writing").task
    assert use_grader_route(task, {GRADER_URL_ENV: "http://127.0.0.1:9/v1"}) is None
    assert task.eval.grader_base_url == "http://127.0.0.1:9/v1"
    assert task.eval.grader_api_key_env == GRADER_TOKEN_ENV
    why = use_grader_route(cfg("task=arenahard_writing").task, {})
    assert why is not None and "gateway.enabled=false" in why


def test_bad_mode_fails_when_the_config_is_built_before_the_preflight() -> None:
    with pytest.raises(ValueError, match=r"gateway.enabled='maybe': expected one of auto"):
        cfg("agent=opus46", "gateway.enabled=maybe")


@pytest.mark.parametrize(
    ("agent", "url"),
    [
        ("opus46", "https://api.anthropic.com"),
        ("gpt52", "https://api.openai.com/v1"),
        ("gemini31pro", "https://generativelanguage.googleapis.com"),
        ("glm5", "https://api.z.ai/api/anthropic"),
    ],
)
def test_upstream_keeps_the_providers_base_path(agent: str, url: str) -> None:
    assert upstream_url(cfg(f"agent={agent}")) == url


def test_allow_list_is_the_agents_model_plus_extras() -> None:
    run = cfg("agent=opus46", "gateway.allow_models=[claude-haiku-4-5,claude-opus-4-6]")
    assert allowed_models(run) == ["claude-opus-4-6", "claude-haiku-4-5"]


def test_cost_limit_needs_prices_and_prices_need_their_fields() -> None:
    assert check(cfg("agent=opus46", "gateway.max_cost_usd=20")) == []
    (problem,) = check(cfg("agent=glm5", "gateway.max_cost_usd=20"))
    assert "needs a price for glm-5" in problem[0] and "gateway.prices" in problem[1]
    (problem,) = check(cfg("agent=glm5", "+gateway.prices.glm-5={input:1,ouput:2}"))
    assert problem[0] == (
        "gateway.prices.glm-5: unknown ouput; missing output "
        "(fields: cache_write, cached_input, input, output)"
    )


def test_unknown_provider_needs_a_base_url() -> None:
    run = cfg("agent=custom", "gateway.enabled=true", "agent.api_key_env=X_API_KEY")
    whats = [what for what, _ in check(run)]
    assert any("no upstream for agent custom" in w for w in whats)
    assert any("allow no model" in w for w in whats)


def _gateway(limit: threading.Event, running: bool = True) -> Any:
    process = SimpleNamespace(limit=limit, limit_reason="token limit", running=running)
    return SimpleNamespace(process=process)


def test_stop_on_limit_waits_the_grace_then_stops() -> None:
    limit = threading.Event()
    with stop_on_limit(_gateway(limit), grace_s=0.3) as stop:
        assert not stop.wait(0.6)  # no limit, no stop
        limit.set()
        t0 = time.monotonic()
        assert stop.wait(5)
        assert time.monotonic() - t0 >= 0.25


def test_stop_on_limit_does_nothing_if_the_agent_ends_in_the_grace() -> None:
    limit = threading.Event()
    limit.set()
    with stop_on_limit(_gateway(limit), grace_s=30) as stop:
        time.sleep(0.7)
    assert not stop.is_set()


def test_no_gateway_no_stop() -> None:
    with stop_on_limit(None, grace_s=0) as stop:
        time.sleep(0.1)
    assert not stop.is_set()


def test_a_dead_gateway_stops_the_agent_at_once() -> None:
    gateway = _gateway(threading.Event())
    with stop_on_limit(gateway, grace_s=30) as stop:
        assert not stop.wait(0.3)
        gateway.process.running = False
        assert stop.wait(3)
