"""The reference: the original harness's stack, called for real (inspect-ai 0.3.172,
inspect-evals 0.3.106), on one model reply at a time.

A reply enters inspect as vLLM's OpenAI-compatible server returns it: ``content`` (and, for
BFCL, the ``tool_calls`` vLLM's ``hermes`` parser extracted), converted by inspect's own
``chat_message_assistant_from_openai`` (its ``<think>`` handling included). Only vLLM's parser is
re-implemented here (vLLM is not installed in CI): ``hermes_extract`` follows
``vllm/entrypoints/openai/tool_parsers/hermes_tool_parser.py`` (vLLM 0.11.0,
``Hermes2ProToolParser.extract_tool_calls``) and vLLM's chat serving, which keeps the text before
the first ``<tool_call>`` as content.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai", reason="the parity tier needs `bash scripts/setup.sh dev,parity`")
pytest.importorskip(
    "inspect_evals", reason="the parity tier needs `bash scripts/setup.sh dev,parity`"
)
pytest.importorskip("openai", reason="the parity tier needs `bash scripts/setup.sh dev,parity`")

from inspect_ai.model import ChatCompletionChoice, ChatMessageUser, ModelOutput
from inspect_ai.model._model import ModelName
from inspect_ai.model._openai import chat_message_assistant_from_openai
from inspect_ai.scorer import CORRECT, Score, Target, choice, match
from inspect_ai.solver import TaskState, multiple_choice
from openai.types.chat import ChatCompletionMessage

CORPUS = Path(__file__).parent / "corpus"
MODEL = ModelName("vllm/final_model")


def corpus(name: str) -> list[dict[str, Any]]:
    path = CORPUS / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- vLLM ------------------------------------------------------------------------------------

_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)


def hermes_extract(model_output: str) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(content, tool_calls) of the chat completion vLLM returns for ``model_output``."""
    if "<tool_call>" not in model_output:
        return model_output, None
    try:
        raw = [json.loads(m[0] if m[0] else m[1]) for m in _TOOL_CALL.findall(model_output)]
        calls = []
        for i, call in enumerate(raw):
            name = call["name"]
            if not isinstance(name, str):  # vLLM's FunctionCall(name: str) refuses it
                raise TypeError(name)
            arguments = json.dumps(call["arguments"], ensure_ascii=False)
            calls.append(
                {
                    "id": f"chatcmpl-tool-{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            )
    except Exception:
        return model_output, None
    content = model_output[: model_output.find("<tool_call>")]
    return content or None, calls


def assistant(model_output: str, tools: list[Any] | None = None, *, tool_parser: bool = False):  # type: ignore[no-untyped-def]
    """inspect's assistant message for a vLLM reply (``tool_parser``: served with
    ``--enable-auto-tool-choice --tool-call-parser hermes``, as the original's BFCL)."""
    content, calls = hermes_extract(model_output) if tool_parser else (model_output, None)
    message = ChatCompletionMessage.model_validate(
        {"role": "assistant", "content": content, "tool_calls": calls}
    )
    return chat_message_assistant_from_openai(str(MODEL), message, tools or [])


def state(model_output: str, *, input: str = "question", **kwargs: Any) -> TaskState:
    message = assistant(
        model_output, kwargs.pop("tools", None), tool_parser=kwargs.pop("tool_parser", False)
    )
    st = TaskState(
        model=MODEL,
        sample_id="s",
        epoch=1,
        input=input,
        messages=[ChatMessageUser(content=input), message],
        **kwargs,
    )
    st.output = ModelOutput(
        model=str(MODEL), choices=[ChatCompletionChoice(message=message, stop_reason="stop")]
    )
    return st


def completion(model_output: str) -> str:
    """``state.output.completion``: what every inspect scorer reads."""
    return str(state(model_output).output.completion)


# --- the scorers -----------------------------------------------------------------------------


def gsm8k_score(model_output: str, target: str) -> Score:
    """inspect_evals' gsm8k task: ``match(numeric=True)``."""
    score: Score = run(match(numeric=True)(state(model_output), Target(target)))
    return score


def aime_score(model_output: str, target: str) -> Score:
    from inspect_evals.aime2025.aime2025 import aime_scorer

    score: Score = run(aime_scorer()(state(model_output), Target(target)))
    return score


def gpqa_score(
    model_output: str, choices: list[str], target: str, question: str = "What is the ratio?"
) -> tuple[Score, str]:
    """The original's GPQA: ``multiple_choice(cot=True)`` (prompt, generate, answer parsing),
    then ``choice()``. Returns the score and the prompt the solver sent."""
    sent: dict[str, str] = {}

    async def generate(st: TaskState, **_: Any) -> TaskState:
        sent["prompt"] = st.user_prompt.text
        message = assistant(model_output)
        st.messages.append(message)
        st.output = ModelOutput(
            model=str(MODEL), choices=[ChatCompletionChoice(message=message, stop_reason="stop")]
        )
        return st

    st = TaskState(
        model=MODEL,
        sample_id="s",
        epoch=1,
        input=question,
        messages=[ChatMessageUser(content=question)],
        choices=choices,
    )

    async def go() -> Score:
        solved = await multiple_choice(cot=True)(st, generate)  # type: ignore[arg-type]
        result: Score = await choice()(solved, Target(target))
        return result

    return run(go()), sent["prompt"]


class _Sandbox:
    """Stands in for inspect's sandbox: records what ``verify`` would run."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int | None]] = []

    async def exec(self, cmd: list[str], timeout: int | None = None, **_: Any) -> Any:
        from inspect_ai.util import ExecResult

        self.calls.append((cmd, timeout))
        return ExecResult(True, 0, "", "")


def humaneval_program(
    model_output: str, record: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, int | None]:
    """The program (and time limit) inspect_evals' ``verify`` hands to its sandbox."""
    he = importlib.import_module("inspect_evals.humaneval.humaneval")  # the package shadows it

    box = _Sandbox()
    monkeypatch.setattr(he, "sandbox", lambda *a, **k: box)
    sample = he.record_to_sample()(record)
    st = state(model_output, input=str(sample.input), metadata=dict(sample.metadata or {}))
    run(he.verify()(st, Target(str(sample.target))))
    ((cmd, timeout),) = box.calls
    assert cmd[:2] == ["python", "-c"]
    return cmd[2], timeout


def bfcl_score(model_output: str, record: dict[str, Any]) -> Score:
    """inspect_evals' bfcl task: its ``record_to_sample``, tools, and ``bfcl_scorer`` on the
    message inspect builds from vLLM's hermes-parsed reply."""
    from inspect_evals.bfcl.bfcl import bfcl_scorer, create_tool_info_from_dict, record_to_sample

    sample = record_to_sample(record)
    tools = [create_tool_info_from_dict(t) for t in (sample.metadata or {})["tools"]]
    st = state(
        model_output,
        input=str(sample.input),
        metadata=dict(sample.metadata or {}),
        tools=tools,
        tool_parser=True,
    )
    score: Score = run(bfcl_scorer()(st, Target(str(sample.target))))
    return score


def correct(score: Score) -> float:
    return 1.0 if score.value == CORRECT else 0.0
