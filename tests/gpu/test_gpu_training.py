"""On a GPU machine: the scripted agent's recipe and the evaluation run on CUDA."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ptb.config.model import ModelConfig
from ptb.config.task import EvalSpec, LadderStep, TaskConfig
from ptb.eval.runner import evaluate
from ptb.models.tiny import build_tiny_qwen3
from ptb.tasks import load_task
from ptb.tasks.templates import template_path

pytestmark = pytest.mark.gpu
RECIPE = Path(__file__).resolve().parents[2] / "ptb" / "scaffolds" / "recipes" / "sft.py"
TASK = TaskConfig(name="toy_calls", display_name="t", impl="toy_calls", test_source="g",
                  size={"train": 4000, "test": 200},
                  eval=EvalSpec(ladder=[LadderStep(max_new_tokens=96, attempts=2)],
                                batch_size=100))  # fmt: skip
MODEL = ModelConfig(
    name="tiny", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3"
)


def test_recipe_trains_on_cuda_and_eval_scores(tmp_path: Path) -> None:
    base = build_tiny_qwen3(tmp_path / "cache")
    (train,) = load_task(TASK).context_files(tmp_path)
    before = evaluate(TASK, MODEL, base)
    proc = subprocess.run(
        [sys.executable, str(RECIPE), "--base-model", str(base), "--train", str(train),
         "--chat-template", str(template_path("tiny_chatml")), "--out", str(tmp_path / "fm"),
         "--max-steps", "800", "--max-minutes", "5"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert events[0]["device"] == "cuda" and events[-1]["steps"] == 800
    after = evaluate(TASK, MODEL, tmp_path / "fm")
    figures = {"before": before.score, "after": after.score, "train_s": events[-1]["elapsed_s"]}
    print(json.dumps(figures))
    assert after.status == "ok" and after.score is not None and before.score is not None
    assert after.score - before.score >= 0.5
