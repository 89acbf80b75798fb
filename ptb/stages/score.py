"""score: the run's final score, with the paper's fallback to the zero-shot base model's score.

A flagged run, a run without final_model, a failed evaluation or a failed integrity check all
score as the zero-shot base model (read from the baseline run's score.json). Scores below the
base are kept. Only the model's own failures fall back (``ptb.failures``): an evaluation that
failed for the infrastructure's reasons is never scored (the score stage raises ``InfraError``,
and evaluate runs again on the next submission).
"""

from __future__ import annotations

from typing import Any

from ptb.failures import INFRA, InfraError, metrics_failure
from ptb.fsutil import read_json, write_json
from ptb.stages import StageContext


class MissingBaseline(RuntimeError):
    pass


def fallback_reason(metrics: dict[str, Any], verdict: dict[str, Any] | None) -> str | None:
    if verdict is not None and verdict.get("flagged"):
        return "flagged"
    if metrics.get("status") == "no_final_model":
        return "no_final_model"
    if metrics.get("status") != "ok" or metrics.get("score") is None:
        return "eval_failed"
    if verdict is None or verdict.get("failed_checks"):
        return "judge_failed"
    return None


def base_score(ctx: StageContext) -> float:
    base = ctx.baseline_run
    if base is None or not base.score.exists():
        where = base.path if base else "(none planned)"
        raise MissingBaseline(
            f"the zero-shot baseline run {where} has no score.json; run it first "
            f"(python -m ptb agent=baseline_zeroshot model={ctx.cfg.model.name} "
            f"task={ctx.cfg.task.name} seed={ctx.cfg.baseline_seed})"
        )
    return float(read_json(base.score)["final"])


def run(ctx: StageContext) -> None:
    cfg, run_dir = ctx.cfg, ctx.run
    metrics = read_json(run_dir.metrics)
    failure = metrics_failure(metrics)
    if failure is not None and failure.kind == INFRA:
        raise InfraError(
            f"evaluate/metrics.json records an infrastructure failure ({failure.reason}), "
            f"not a result: evaluate again. {failure.message}"[:2000],
            failure.reason,
        )
    raw = metrics.get("score") if metrics.get("status") == "ok" else None
    record: dict[str, Any] = {
        "run_id": run_dir.run_id,
        "agent": cfg.agent.name,
        "scaffold": cfg.scaffold.name,
        "model": cfg.model.name,
        "task": cfg.task.name,
        "seed": cfg.seed,
        "budget": cfg.budget.name,
        "raw": raw,
    }
    if failure is not None:
        record["eval_failure"] = failure.reason
    if cfg.agent.kind == "baseline":
        if raw is None:
            raise RuntimeError(f"baseline evaluation failed: {metrics.get('error')}")
        record.update(final=raw, flagged=False, fallback=None, base=None)
    else:
        verdict = read_json(run_dir.verdict) if run_dir.verdict.exists() else None
        reason = fallback_reason(metrics, verdict)
        base = base_score(ctx)
        record.update(
            final=base if reason else raw,
            flagged=bool(verdict and verdict.get("flagged")),
            fallback=reason,
            base=base,
        )
    write_json(run_dir.score, record)
