import json

import pytest

from ptb.config.task import TaskConfig
from ptb.tasks import TASKS, load_task
from ptb.tasks.toy import parse_call


def _task(name: str, train: int = 500, test: int = 50):  # type: ignore[no-untyped-def]
    cfg = TaskConfig(
        name=name,
        display_name=name,
        impl=name,
        test_source="generated",
        size={"train": train, "test": test},
    )
    return load_task(cfg)


@pytest.mark.parametrize("name", ["toy_calls", "toy_math"])
def test_splits_are_deterministic_and_disjoint(name: str) -> None:
    a, b = _task(name), _task(name)
    assert [i.prompt for i in a.test_items()] == [i.prompt for i in b.test_items()]
    test_prompts = {i.prompt for i in a.test_items()}
    assert len(test_prompts) == 50
    assert not test_prompts & {i.prompt for i in a.train_items()}
    assert len(a.train_items()) == 500


@pytest.mark.parametrize("name", ["toy_calls", "toy_math"])
def test_reference_answers_score_full_marks(name: str) -> None:
    task = _task(name)
    assert all(task.grade(i, i.target).correct for i in task.test_items())


def test_toy_calls_test_requests_never_appear_in_training() -> None:
    task = _task("toy_calls", train=2000, test=100)
    test_keys = {i.meta["key"] for i in task.test_items()}
    assert len(test_keys) == 100
    assert not test_keys & {i.meta["key"] for i in task.train_items()}


def test_test_split_does_not_depend_on_train_size() -> None:
    assert [i.prompt for i in _task("toy_calls", train=100).test_items()] == [
        i.prompt for i in _task("toy_calls", train=900).test_items()
    ]


def test_toy_calls_judging() -> None:
    task = _task("toy_calls")
    item = task.test_items()[0]
    target = json.loads(item.target)
    assert task.grade(item, "sure! " + item.target + " done").correct
    wrong = dict(target, arguments={**target["arguments"], "zzz": 1})
    assert not task.grade(item, json.dumps(wrong)).correct
    assert task.grade(item, "no call here").detail == "no JSON call found"
    assert parse_call('x {"a": 1} {"name": "f", "arguments": {}}') == {"name": "f", "arguments": {}}


def test_toy_math_judging() -> None:
    task = _task("toy_math")
    item = task.test_items()[0]
    answer = item.meta["answer"]
    assert task.grade(item, f"work...\n#### {answer}").correct
    assert not task.grade(item, f"#### {answer + 1}").correct
    assert not task.grade(item, str(answer)).correct  # the answer must follow ####


def test_context_files_hold_chat_format_training_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    task = _task("toy_calls")
    (path,) = task.context_files(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 500
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    test_prompts = {i.prompt for i in task.test_items()}
    assert not any(r["messages"][0]["content"] in test_prompts for r in rows)


def test_unknown_task_impl_lists_valid() -> None:
    with pytest.raises(KeyError, match="toy_calls"):
        TASKS.path("toy_cals")
