"""The gateway's grader route (evaluate.py's, on model-graded tasks) against a fake grader: the
task's own grader requests pass with the real key and score as a direct call does; anything else
is refused, logged and counted as API misuse; only the verdict comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from ptb.gateway.process import GatewayProcess
from ptb.judge.api_misuse import gateway_violations
from ptb.tasks import load_task
from ptb.tasks.arenahard import ArenaHardWriting
from tests.integration.test_gateway import TOKEN, log_lines, post
from tests.support.fake_grader import FakeGrader
from tests.support.fake_upstream import FakeUpstream
from tests.support.tasks import task_config

pytestmark = pytest.mark.integration

GRADER_TOKEN = "ptb-gw-grader-dummy-token-9876543210"
GRADER_KEY = "sk-real-grader-key-never-in-the-sandbox"
AUTH = {"Authorization": f"Bearer {GRADER_TOKEN}"}


def pairwise_messages(prompt: str, a: str, b: str) -> list[dict[str, str]]:
    task = load_task(task_config("arenahard_writing"))
    assert isinstance(task, ArenaHardWriting)
    return task.prompt.messages(prompt, a, b)


def grader_route(grader: FakeGrader, task: Any, protocol: str) -> dict[str, Any]:
    """The gateway's grader route to ``grader`` for ``task`` under ``protocol`` (as run.py)."""
    return {
        "name": "grader",
        "token": GRADER_TOKEN,
        "upstream": grader.base_url,
        "key": GRADER_KEY,
        "allow_models": ["gpt-5-mini"],
        "grader": {
            "task": OmegaConf.to_container(OmegaConf.structured(task)),
            "protocol": protocol,
            "max_tokens": 512,
            "reasoning_effort": "medium",
        },
    }


@pytest.fixture(params=["paper", "strict"])
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    protocol = request.param
    task = task_config("arenahard_writing")
    with FakeGrader() as grader, FakeUpstream() as agent_api:
        settings = {
            "routes": [
                {"name": "agent", "token": TOKEN, "upstream": agent_api.url, "key": agent_api.key,
                 "allow_models": ["good-model"]},
                grader_route(grader, task, protocol),
            ],
            "log_path": str(tmp_path / "solve" / "gateway.jsonl"),
        }  # fmt: skip
        gateway = GatewayProcess(settings, tmp_path / "solve" / "gateway.log")
        gateway.start()
        try:
            yield {"gateway": gateway, "grader": grader, "task": task, "tmp": tmp_path,
                   "protocol": protocol}  # fmt: skip
        finally:
            gateway.stop()


def _ask(world: dict[str, Any], body: dict[str, Any], headers: dict[str, str] = AUTH) -> Any:
    status, data, _ = post(world["gateway"].port, "/v1/chat/completions", body, headers)
    return status, json.loads(data)


def test_the_tasks_own_request_passes_and_only_the_verdict_comes_back(world: dict) -> None:
    item = load_task(world["task"]).test_items()[0]
    messages = pairwise_messages(item.prompt, item.target, " ".join(f"w{i}" for i in range(400)))
    body = {"model": "gpt-5-mini", "messages": messages, "max_completion_tokens": 99999,
            "temperature": 1.7, "n": 5, "reasoning_effort": "high"}  # fmt: skip
    status, reply = _ask(world, body)
    assert status == 200, reply
    assert reply["choices"][0]["message"]["content"] == "[[B>>A]]"  # no "Both are fine..."
    (seen,) = world["grader"].requests
    assert seen["auth"] == f"Bearer {GRADER_KEY}"
    # The gateway rebuilt the request: the template's messages, its own token limit and
    # reasoning effort, nothing else
    assert {k: v for k, v in seen.items() if k not in ("path", "auth")} == {
        "model": "gpt-5-mini",
        "messages": messages,
        "max_completion_tokens": 512,
        "reasoning_effort": "medium",
    }
    (rec,) = log_lines(world["tmp"])
    assert (rec["route"], rec["allowed"], rec["status"], rec["gate"]) == ("grader", True, 200, None)


def test_anything_else_on_the_grader_route_is_refused_and_counted(world: dict) -> None:
    ask = [{"role": "user", "content": "Write 200 creative-writing prompts."}]
    free = {"model": "gpt-5-mini", "messages": ask}
    status, reply = _ask(world, free)
    assert status == 403
    assert "evaluate.py's, for the task's own grader requests only" in reply["error"]["message"]
    item = load_task(world["task"]).test_items()[0]
    graded = {"model": "gpt-5-mini", "messages": pairwise_messages(item.prompt, item.target, "x")}
    assert _ask(world, {**graded, "model": "gpt-5"})[0] == 403  # another model
    assert _ask(world, {**graded, "stream": True})[0] == 400
    # the agent's token is no key to the grader, and the grader's token none to the agent's model
    assert _ask(world, graded, {"Authorization": f"Bearer {TOKEN}"})[0] == 403
    assert _ask(world, {**free, "model": "good-model"})[0] == 403
    assert world["grader"].requests == []  # nothing reached the grader

    path = world["tmp"] / "solve" / "gateway.jsonl"
    records = log_lines(world["tmp"])
    assert [(r["route"], r["allowed"]) for r in records] == [
        ("grader", False), ("grader", False), ("grader", False), ("agent", False), ("grader", False)
    ]  # fmt: skip
    assert records[0]["gate"] and not records[2]["gate"]
    found = gateway_violations(path, ["good-model"], "gpt-5-mini")
    # the free-form request, gpt-5 and good-model on the grader route, the grader model on the
    # agent's
    assert len(found["violations"]) == 4
    assert found["violations"][0]["gate"] == records[0]["gate"]


def test_scores_through_the_route_equal_scores_from_a_direct_call(
    world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """evaluate.py's own grader client, pointed at the route as inside the sandbox, scores the
    same as the evaluate stage calling the grader with the real key."""
    monkeypatch.setenv("PTB_TEST_ROUTE_TOKEN", GRADER_TOKEN)
    monkeypatch.setenv("PTB_TEST_GRADER_KEY", GRADER_KEY)
    port = world["gateway"].port
    protocol = world["protocol"]
    url = f"http://127.0.0.1:{port}/v1"
    routed = load_task(task_config("arenahard_writing", grader_base_url=url,
                                   grader_api_key_env="PTB_TEST_ROUTE_TOKEN"),
                       protocol)  # fmt: skip
    fake = world["grader"].base_url
    direct = load_task(task_config("arenahard_writing", grader_base_url=fake,
                                   grader_api_key_env="PTB_TEST_GRADER_KEY"),
                       protocol)  # fmt: skip
    items = routed.test_items()
    outputs = [" ".join(f"w{i}" for i in range(300)), "short"]
    a = routed.grade_all(items, outputs)  # type: ignore[attr-defined]
    b = direct.grade_all(items, outputs)  # type: ignore[attr-defined]
    assert [j.score for j in a] == [j.score for j in b] == [1.0, 0.0]
    assert [j.extracted for j in a] == [j.extracted for j in b]
    assert all(r["allowed"] and r["status"] == 200 for r in log_lines(world["tmp"]))


def test_a_grader_that_refuses_reasoning_effort_is_asked_without_it_through_the_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's second try (no ``reasoning_effort``) reaches the grader without it."""
    task = task_config("arenahard_writing")
    with FakeGrader(reject_reasoning_effort=True) as grader:
        settings = {
            "routes": [
                grader_route(grader, task, "paper"),
            ],
            "log_path": str(tmp_path / "solve" / "gateway.jsonl"),
        }  # fmt: skip
        gateway = GatewayProcess(settings, tmp_path / "solve" / "gateway.log")
        gateway.start()
        try:
            monkeypatch.setenv("PTB_TEST_ROUTE_TOKEN", GRADER_TOKEN)
            routed = load_task(task_config("arenahard_writing",
                                           grader_base_url=f"http://127.0.0.1:{gateway.port}/v1",
                                           grader_api_key_env="PTB_TEST_ROUTE_TOKEN",
                                           grader_concurrency=1))  # fmt: skip
            items = routed.test_items()[:1]
            (grade,) = routed.grade_all(items, [items[0].target])  # type: ignore[attr-defined]
        finally:
            gateway.stop()
    assert grade.score == 0.5
    assert [("reasoning_effort" in r) for r in grader.requests] == [True, False, True, False]
