"""protocol=paper's prompts against the original's: the same user (and system) message text as
inspect_evals' solvers render for the same records (the chat template is applied after this, by
others' code)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from ptb.tasks import load_task
from ptb.tasks.data import load
from tests.parity import reference as ref
from tests.support.tasks import task_config

datasets = pytest.importorskip("datasets")

from inspect_ai.dataset import MemoryDataset, Sample  # noqa: E402
from inspect_ai.model import ChatMessageUser  # noqa: E402
from inspect_ai.solver import Solver, TaskState, prompt_template, system_message  # noqa: E402


def _render(solvers: list[Solver], sample: Sample) -> list[tuple[str, str]]:
    """(role, text) of the messages inspect sends after ``solvers`` (no generation)."""
    st = TaskState(
        model=ref.MODEL,
        sample_id=sample.id or "s",
        epoch=1,
        input=sample.input,
        messages=[ChatMessageUser(content=str(sample.input))],
        metadata=dict(sample.metadata or {}),
    )

    async def go() -> TaskState:
        out = st
        for solver in solvers:
            out = await solver(out, None)  # type: ignore[arg-type]
        return out

    return [(m.role, m.text) for m in ref.run(go()).messages]


def _ptb(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]


@pytest.fixture
def gsm8k_train(tmp_path: Path) -> Path:
    """40 invented train rows in GSM8K's format, so the seed-42 draw picks from many."""
    path = tmp_path / "train.jsonl"
    rows = [
        {
            "question": f"Lia packs {i} boxes of {i + 2} pens. How many pens is that?",
            "answer": f"{i} * {i + 2} = <<{i}*{i + 2}={i * (i + 2)}>>{i * (i + 2)}\n#### "
            f"{i * (i + 2)}",
        }
        for i in range(1, 41)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_gsm8k_ten_shot_system_message_and_prompt(gsm8k_train: Path) -> None:
    g = importlib.import_module("inspect_evals.gsm8k.gsm8k")  # the package shadows it

    cfg = task_config("gsm8k")
    cfg.data["train"] = str(gsm8k_train)
    task = load_task(cfg, "paper")
    train = load(str(gsm8k_train))
    shots = datasets.Dataset.from_list(train).shuffle(seed=42).select(range(10)).to_list()
    fewshot = "\n\n".join(g.sample_to_fewshot(g.record_to_sample(r)) for r in shots)
    for item, record in zip(task.test_items(), load(cfg.data["test"]), strict=True):
        sample = g.record_to_sample(record)
        theirs = _render([system_message(fewshot), prompt_template(g.MATH_PROMPT_TEMPLATE)], sample)
        assert _ptb(task.messages(item, 10)) == theirs
        assert item.meta["target"] == sample.target


def test_aime_prompt() -> None:
    from inspect_evals.aime2024.aime2024 import aime2024_solver
    from inspect_evals.aime2025.aime2025 import record_to_sample

    cfg = task_config("aime2025")
    task = load_task(cfg, "paper")
    template = aime2024_solver()[0]
    for item, record in zip(task.test_items(), load(cfg.data["test"]), strict=True):
        sample = record_to_sample(record)
        assert _ptb(task.messages(item, 0)) == _render([template], sample)
        assert item.meta["target"] == sample.target


def _original_gpqa_sample(record: dict[str, Any]) -> Sample:
    """``record_to_sample`` of the original's ``src/eval/tasks/gpqamain/evaluate.py``."""
    return Sample(
        input=record["Question"],
        choices=[
            str(record["Correct Answer"]),
            str(record["Incorrect Answer 1"]),
            str(record["Incorrect Answer 2"]),
            str(record["Incorrect Answer 3"]),
        ],
        target="A",
        id=record["Record ID"],
    )


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_gpqa_prompts_and_shuffle_per_seed(seed: int) -> None:
    cfg = task_config("gpqa")
    task = load_task(cfg, "paper")
    task.seed = seed  # type: ignore[attr-defined]
    dataset = MemoryDataset([_original_gpqa_sample(r) for r in load(cfg.data["test"])])
    dataset.shuffle_choices(seed=seed)  # hf_dataset(shuffle_choices=True) with a seed
    for item, sample in zip(task.test_items(), dataset, strict=True):
        assert item.id == sample.id
        assert item.meta["answer"] == sample.target
        choices = [str(c) for c in sample.choices or []]
        score, prompt = ref.gpqa_score(item.target, choices, str(sample.target), str(sample.input))
        assert item.prompt == prompt
        assert ref.correct(score) == 1.0  # the oracle's reply is right for inspect too


def test_gpqa_shuffle_differs_between_seeds() -> None:
    cfg = task_config("gpqa")
    orders = []
    for seed in range(4):
        task = load_task(cfg, "paper")
        task.seed = seed  # type: ignore[attr-defined]
        orders.append(tuple(i.meta["answer"] for i in task.test_items()))
    assert len(set(orders)) > 1


def test_humaneval_prompt() -> None:

    he = importlib.import_module("inspect_evals.humaneval.humaneval")
    task = load_task(task_config("humaneval"), "paper")
    records = load(task.cfg.data["test"])
    for item, record in zip(task.test_items(), records, strict=True):
        assert item.prompt == he.record_to_sample()(record).input


def test_paper_texts_come_from_the_installed_packages() -> None:
    """The templates are read from inspect's files, never copied into ptb's source."""
    g = importlib.import_module("inspect_evals.gsm8k.gsm8k")  # the package shadows it
    from inspect_ai.solver._multiple_choice import SINGLE_ANSWER_TEMPLATE_COT

    from ptb.tasks import gpqa, math_qa
    from ptb.tasks.inspect_rules import inspect_text

    assert inspect_text(*math_qa.GSM8K_TEMPLATE) == g.MATH_PROMPT_TEMPLATE
    assert inspect_text(*gpqa.PAPER_TEMPLATE) == SINGLE_ANSWER_TEMPLATE_COT
    source = "".join(
        p.read_text(encoding="utf-8") for p in Path(math_qa.__file__).parent.glob("*.py")
    )
    for text in (SINGLE_ANSWER_TEMPLATE_COT, g.MATH_PROMPT_TEMPLATE):
        assert text.splitlines()[0] not in source  # ptb's own strict prompts are worded apart
