"""Evaluate a model folder on a task: one code path for the evaluate stage, the agent's
``evaluate.py`` and the baselines.

The retry ladder of the task config is walked in order (e.g. 4 tries at 16000 new tokens, then 3 at
12000, ...); every attempt is recorded. A model that cannot be loaded is an ``eval_failed`` result
with the reason, never a crash.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptb.config.model import ModelConfig
from ptb.config.task import LadderStep, TaskConfig
from ptb.eval.hf import HFGenerator, Sampling
from ptb.tasks import Item, Task, load_task
from ptb.tasks.templates import load_template

log = logging.getLogger(__name__)

FEWSHOT_SAMPLING = {"temperature": 0.6, "top_p": 0.95}
"""The paper's few-shot base baseline: no chat template, sampled."""


@dataclass
class EvalResult:
    task: str
    status: str
    """ok | eval_failed | no_final_model"""
    score: float | None = None
    n: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "status": self.status,
            "score": self.score,
            "n": self.n,
            "metrics": self.metrics,
            "attempts": self.attempts,
            "error": self.error,
            **self.info,
        }


def build_messages(task: Task, item: Item, num_fewshot: int) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for shot in task.fewshot_items(num_fewshot) if num_fewshot else []:
        messages += [
            {"role": "user", "content": shot.prompt},
            {"role": "assistant", "content": shot.target},
        ]
    return [*messages, {"role": "user", "content": item.prompt}]


def _ladder(task_cfg: TaskConfig) -> list[int]:
    steps: list[LadderStep] = list(task_cfg.eval.ladder) or [LadderStep(max_new_tokens=256)]
    return [s.max_new_tokens for s in steps for _ in range(s.attempts)]


def _score(task: Task, items: list[Item], outputs: list[str]) -> tuple[dict[str, Any], list[dict]]:
    samples, total = [], 0.0
    for item, output in zip(items, outputs, strict=True):
        j = task.judge(item, output)
        total += j.score
        samples.append(
            {
                "id": item.id,
                "prompt": item.prompt,
                "output": output,
                "target": item.target,
                "score": j.score,
                "correct": j.correct,
                "extracted": j.extracted,
                "detail": j.detail,
            }
        )
    mean = total / len(items) if items else 0.0
    return {task.cfg.eval.metric: mean, "n_correct": sum(s["correct"] for s in samples)}, samples


def _template_info(model_path: Path, family_template: str) -> dict[str, Any]:
    """Whether the submission's own chat template / generation config differ from ptb's."""
    template = model_path / "chat_template.jinja"
    own = template.read_text(encoding="utf-8") if template.exists() else None
    gen = model_path / "generation_config.json"
    return {
        "submission_template_differs": own is not None and own.strip() != family_template.strip(),
        "submission_generation_config": gen.read_text(encoding="utf-8") if gen.exists() else None,
    }


def evaluate(
    task_cfg: TaskConfig,
    model_cfg: ModelConfig,
    model_path: Path | str,
    *,
    mode: str = "zeroshot",
    limit: int | None = None,
    seed: int = 0,
) -> EvalResult:
    """Score ``model_path`` (or ``"oracle"``: the reference answers) on ``task_cfg``."""
    task = load_task(task_cfg)
    items = task.test_items()[: limit or None]
    result = EvalResult(
        task=task_cfg.name,
        status="ok",
        n=len(items),
        info={"mode": mode, "limit": limit, "model_path": str(model_path)},
    )
    if str(model_path) == "oracle":
        result.metrics, result.samples = _score(task, items, [i.target for i in items])
        result.score = result.metrics[task_cfg.eval.metric]
        return result
    path = Path(model_path)
    if not (path / "config.json").exists():
        return _failed(
            result,
            "no_final_model" if not path.exists() else "eval_failed",
            f"{path} has no config.json: not a model folder",
        )
    template = load_template(model_cfg.chat_template)
    result.info.update(_template_info(path, template))
    try:
        gen = HFGenerator(path, chat_template=template)
    except Exception as exc:  # the agent's model: any load error is its failure
        return _failed(result, "eval_failed", f"cannot load model: {type(exc).__name__}: {exc}")
    fewshot = mode == "fewshot"
    use_template = task_cfg.eval.apply_chat_template and not fewshot
    shots = task_cfg.eval.num_fewshot if not fewshot else max(task_cfg.eval.num_fewshot, 3)
    prompts = [gen.render(build_messages(task, it, shots), use_template) for it in items]
    sampling = (
        FEWSHOT_SAMPLING
        if fewshot
        else {"temperature": task_cfg.eval.temperature, "top_p": task_cfg.eval.top_p}
    )
    for max_new in _ladder(task_cfg):
        t0 = time.monotonic()
        attempt: dict[str, Any] = {"max_new_tokens": max_new}
        try:
            outputs = gen.generate(
                prompts, Sampling(max_new, seed=seed, **sampling), task_cfg.eval.batch_size
            )
        except Exception as exc:  # OOM and friends: next rung of the ladder
            attempt.update(
                ok=False,
                error=f"{type(exc).__name__}: {exc}",
                wall_s=round(time.monotonic() - t0, 2),
            )
            result.attempts.append(attempt)
            log.warning("evaluation attempt failed (%s); retrying", attempt["error"])
            log.debug(traceback.format_exc())
            continue
        attempt.update(ok=True, wall_s=round(time.monotonic() - t0, 2))
        result.attempts.append(attempt)
        result.metrics, result.samples = _score(task, items, outputs)
        result.score = float(result.metrics[task_cfg.eval.metric])
        return result
    return _failed(result, "eval_failed", "every attempt of the retry ladder failed")


def _failed(result: EvalResult, status: str, error: str) -> EvalResult:
    result.status, result.error, result.score = status, error, None
    return result
