"""The evaluation path end to end on the tiny local model: ``python -m ptb.evaluate`` on bfcl and
humaneval with their shipped data, gsm8k on fixtures, ``rescore``, the retry ladder with an
injected CUDA OOM, the static-cache decoder against ``generate``, and the task folder's
``evaluate.py`` run inside the bwrap sandbox."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from ptb.config.model import ModelConfig
from ptb.config.sandbox import SandboxConfig
from ptb.eval import backends
from ptb.eval.agent_entry import render_script
from ptb.eval.backends import Sampling
from ptb.eval.runner import evaluate
from ptb.models.tiny import build_tiny_qwen3
from ptb.sandbox.base import SandboxSpec
from ptb.sandbox.bwrap import BwrapSandbox
from ptb.stages.session import runtime_paths
from ptb.tasks.templates import load_template
from tests.conftest import RunPtb, ptb_env
from tests.support.tasks import fixture_overrides, task_config

pytestmark = pytest.mark.integration
TINY = ModelConfig(name="tiny", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3")
SHORT = "task.eval.ladder=[{max_new_tokens:12,attempts:1}]"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ptb-cache")


@pytest.fixture(scope="module")
def tiny(cache: Path) -> Path:
    return build_tiny_qwen3(cache)


def _evaluate(run_ptb: RunPtb, tmp: Path, cache: Path, *args: str) -> dict[str, object]:
    proc = run_ptb(
        *args, module="ptb.evaluate", env=ptb_env(tmp, PTB_CACHE=str(cache)), timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


def test_bfcl_on_the_tiny_model_then_rescored(
    run_ptb: RunPtb, tmp_path: Path, cache: Path, tiny: Path
) -> None:
    out = tmp_path / "out"
    summary = _evaluate(
        run_ptb, tmp_path, cache, "task=bfcl", "model=tiny", "model_path=base", "limit=3",
        "task.eval.backend=hf", SHORT, f"results_dir={out}",
    )  # fmt: skip
    assert summary["status"] == "ok" and summary["n"] == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["attempts"][0]["ok"] and metrics["backend"] == "hf"
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["exec_simple_0", "exec_simple_1", "exec_simple_2"]
    assert all("calc_binomial_probability" in r["prompt"] for r in rows[:2])  # the tools
    assert all(r["prompt"].startswith("<|im_start|>system\n") for r in rows)
    # rescore: the saved outputs give the same verdicts; a corrected output is scored again
    rows[0]["output"] = "<tool_call>" + rows[0]["target"] + "</tool_call>"
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = _evaluate(
        run_ptb, tmp_path, cache, "task=bfcl", f"rescore={edited}", f"results_dir={tmp_path / 'r'}"
    )
    assert again["status"] == "ok"
    rescored = [json.loads(x) for x in (tmp_path / "r" / "samples.jsonl").read_text().splitlines()]
    assert rescored[0]["correct"] is True
    assert [r["correct"] for r in rescored[1:]] == [r["correct"] for r in rows[1:]]


def test_humaneval_on_the_tiny_model_runs_code_in_the_sandbox(
    run_ptb: RunPtb, tmp_path: Path, cache: Path, tiny: Path
) -> None:
    out = tmp_path / "out"
    summary = _evaluate(
        run_ptb, tmp_path, cache, "task=humaneval", "model=tiny", "model_path=base", "limit=2",
        "task.eval.backend=hf", SHORT, f"results_dir={out}",
    )  # fmt: skip
    assert summary["status"] == "ok" and summary["score"] == 0.0
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(str(r["detail"]).startswith("failed:") for r in rows)  # executed, and failed


def test_gsm8k_fixture_fewshot_mode_has_no_template(
    run_ptb: RunPtb, tmp_path: Path, cache: Path, tiny: Path
) -> None:
    out = tmp_path / "out"
    summary = _evaluate(
        run_ptb, tmp_path, cache, "task=gsm8k", "model=tiny", "model_path=base", "limit=2",
        "mode=fewshot", "task.eval.backend=hf", SHORT, f"results_dir={out}",
        *fixture_overrides("gsm8k"),
    )  # fmt: skip
    assert summary["status"] == "ok" and summary["n"] == 2
    row = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert "<|im_start|>" not in row["prompt"] and "Ann has 3 apples" in row["prompt"]


def test_retry_ladder_with_an_injected_cuda_oom(
    monkeypatch: pytest.MonkeyPatch, tiny: Path
) -> None:
    import torch

    real = backends.load_generator
    seen: list[int] = []

    def load(*args: object, **kwargs: object) -> backends.Generator:
        gen = real(*args, **kwargs)  # type: ignore[arg-type]
        generate = gen.model.generate  # type: ignore[attr-defined]

        def flaky(*a: object, **k: object) -> object:
            seen.append(int(k["max_new_tokens"]))  # type: ignore[call-overload]
            if len(seen) <= 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return generate(*a, **k)

        gen.model.generate = flaky  # type: ignore[attr-defined]
        return gen

    monkeypatch.setattr(backends, "load_generator", load)
    cfg = task_config("toy_calls", backend="hf")
    cfg.eval.ladder = [type(cfg.eval.ladder[0])(max_new_tokens=8, attempts=2)]
    cfg.eval.ladder.append(type(cfg.eval.ladder[0])(max_new_tokens=4, attempts=1))
    result = evaluate(cfg, TINY, tiny, limit=4)
    assert result.status == "ok" and seen == [8, 8, 4]
    assert [a["ok"] for a in result.attempts] == [False, False, True]
    assert "OutOfMemoryError" in result.attempts[0]["error"]
    assert [a["max_new_tokens"] for a in result.attempts] == [8, 8, 4]


def test_static_decoder_matches_generate(tiny: Path) -> None:
    import torch

    from ptb.eval.hf import HFGenerator

    prompts = [
        "<|im_start|>user\n" + "Add 3 and 4. " * (1 + i % 3) + "<|im_end|>\n<|im_start|>assistant\n"
        for i in range(5)
    ]
    outputs = []
    for decode in ("generate", "static"):
        gen = HFGenerator(tiny, load_template("tiny_chatml"), decode=decode)
        torch.manual_seed(0)
        with torch.no_grad():  # a random but non-degenerate model: outputs differ by prompt
            for p in gen.model.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        outputs.append(gen.generate(prompts, Sampling(16), batch_size=2))
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) > 1


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
@pytest.mark.parametrize("task", ["bfcl", "humaneval", "gsm8k"])
def test_evaluate_py_inside_the_bwrap_sandbox(
    task: str, tmp_path: Path, cache: Path, tiny: Path
) -> None:
    cfg = task_config(task, backend="hf")
    cfg.eval.ladder = [type(cfg.eval.ladder[0])(max_new_tokens=8, attempts=1)]
    home = tmp_path / "results" / "exp" / "run" / "solve" / "job"
    (home / "task").mkdir(parents=True)
    script = home / "task" / "evaluate.py"
    script.write_text(render_script(cfg, TINY))
    model = home / "task" / "final_model"
    shutil.copytree(tiny, model)
    spec = SandboxSpec(
        home=home,
        workdir=home / "task",
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        readonly=(script,),
        extra_ro_binds=runtime_paths(str(cache), str(tiny), cfg.data.values()),
    )
    lines: list[str] = []
    sandbox = BwrapSandbox(SandboxConfig(name="bwrap", impl="bwrap", network="none"), spec)
    sandbox.overlay = None
    with sandbox:
        res = sandbox.exec(
            [sys.executable, "evaluate.py", "--model-path", "final_model", "--limit", "2"],
            limit_s=300,
            kill_after_s=5,
            on_line=lambda _s, line: lines.append(line),
        )
    assert res.exit_code == 0, "\n".join(lines[-20:])
    summary = json.loads(next(x for x in reversed(lines) if x.startswith("{")))
    assert summary["task"] == task and summary["status"] == "ok" and summary["n"] == 2
