"""evaluate: score the submitted ``final_model`` (or, for baselines, the base / instruct model)
with ptb's pristine evaluation code — never the agent's copy of evaluate.py.

The model's own failures are results (``metrics.json`` with ``status: eval_failed |
no_final_model`` and ``failure``); an infrastructure failure (``ptb.failures.InfraError``:
data, grader, code sandbox, CUDA) raises, so the stage fails, writes ``error.json`` and is retried,
and no ``metrics.json`` is written."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ptb.eval.runner import evaluate
from ptb.failures import InfraError
from ptb.fsutil import atomic_write_text, write_json
from ptb.models.resolve import ModelNotAvailable, base_model_path, instruct_model_path
from ptb.stages import StageContext

log = logging.getLogger(__name__)


def model_under_test(ctx: StageContext) -> tuple[Path, str]:
    """The folder to evaluate and the evaluation mode (zeroshot | fewshot)."""
    cfg = ctx.cfg
    if cfg.agent.kind != "baseline":
        return ctx.run.final_model, "zeroshot"
    if cfg.agent.baseline == "instruct":
        return instruct_model_path(cfg.model), "zeroshot"
    mode = "fewshot" if cfg.agent.baseline == "fewshot" else "zeroshot"
    return base_model_path(cfg.model, cfg.cache_dir), mode


def _base_path(ctx: StageContext) -> Path | None:
    try:
        return base_model_path(ctx.cfg.model, ctx.cfg.cache_dir)
    except ModelNotAvailable:
        return None


def _write_samples(ctx: StageContext, samples: list[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(s, default=str) + "\n" for s in samples)
    atomic_write_text(ctx.run.samples, lines)


def run(ctx: StageContext) -> None:
    path, mode = model_under_test(ctx)
    base = _base_path(ctx) if ctx.cfg.agent.kind != "baseline" else None
    try:
        result = evaluate(
            ctx.cfg.task,
            ctx.cfg.model,
            path,
            mode=mode,
            seed=ctx.cfg.seed,
            base_path=base,
            protocol=ctx.cfg.protocol.name,
            decoding=ctx.cfg.protocol.decoding,
        )
    except InfraError as exc:  # not a result: the stage fails (error.json) and is retried
        if exc.samples:  # outputs generated before the grader failed: kept for rescore=
            _write_samples(ctx, exc.samples)
        raise
    _write_samples(ctx, result.samples)
    write_json(ctx.run.metrics, result.record.to_json())
    if result.record.status == "ok":
        log.info(
            "%s: %s = %.3f on %d items",
            ctx.run.run_id,
            ctx.cfg.task.name,
            result.record.score,
            result.record.n,
        )
    else:
        log.warning(
            "%s: evaluation %s: %s", ctx.run.run_id, result.record.status, result.record.error
        )
