"""score: the run's final score, with the paper's fallback to the zero-shot base model's score.

A flagged run, a run without final_model, a failed evaluation or a failed integrity check all
score as the zero-shot base model (read from the baseline run's score.json). Scores below the
base are kept. Only the model's own failures fall back (``ptb.failures``): an evaluation that
failed for the infrastructure's reasons is never scored (the score stage raises ``InfraError``,
and evaluate runs again on the next submission).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ptb.failures import INFRA, InfraError, metrics_failure
from ptb.fsutil import write_json
from ptb.records import MetricsRecord, ScoreRecord, VerdictRecord
from ptb.stages import StageContext


class MissingBaseline(RuntimeError):
    pass


def fallback_reason(
    metrics: MetricsRecord | Mapping[str, Any], verdict: VerdictRecord | Mapping[str, Any] | None
) -> str | None:
    if isinstance(metrics, Mapping):
        metrics = MetricsRecord.from_json(dict(metrics))
    if isinstance(verdict, Mapping):
        verdict = VerdictRecord.from_json(dict(verdict))
    if verdict is not None and verdict.flagged:
        return "flagged"
    if metrics.status == "no_final_model":
        return "no_final_model"
    if metrics.status != "ok" or metrics.score is None:
        return "eval_failed"
    if verdict is None or verdict.failed_checks:
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
    return float(ScoreRecord.read(base.score).final)


def run(ctx: StageContext) -> None:
    cfg, run_dir = ctx.cfg, ctx.run
    metrics = MetricsRecord.read(run_dir.metrics)
    failure = metrics_failure(metrics)
    if failure is not None and failure.kind == INFRA:
        raise InfraError(
            f"evaluate/metrics.json records an infrastructure failure ({failure.reason}), "
            f"not a result: evaluate again. {failure.message}"[:2000],
            failure.reason,
        )
    raw = metrics.score if metrics.ok else None
    record = ScoreRecord(
        run_id=run_dir.run_id,
        agent=cfg.agent.name,
        scaffold=cfg.scaffold.name,
        model=cfg.model.name,
        task=cfg.task.name,
        seed=cfg.seed,
        budget=cfg.budget.name,
        raw=raw,
        eval_failure=failure.reason if failure is not None else None,
    )
    if cfg.agent.kind == "baseline":
        if raw is None:
            raise RuntimeError(f"baseline evaluation failed: {metrics.error}")
        record = replace(record, final=raw, flagged=False, fallback=None, base=None)
    else:
        verdict = VerdictRecord.read(run_dir.verdict) if run_dir.verdict.exists() else None
        reason = fallback_reason(metrics, verdict)
        base = base_score(ctx)
        record = replace(
            record,
            final=base if reason or raw is None else raw,
            flagged=bool(verdict and verdict.flagged),
            fallback=reason,
            base=base,
        )
    write_json(run_dir.score, record.to_json())
