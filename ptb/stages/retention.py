"""retention: lm-eval's suite (``cfg.retention``) on the run's model and on the base model.

Writes ``retention/metrics.json``: per task and metric the final and base values, their delta and
standard errors, and per task the primary metric (``summary``). The base model's numbers come from
the experiment's per-model cache (``ptb.retention.base``). Nothing here reaches the agent or the
score: the stage runs after evaluate, on ptb's side, and score never reads it. A flagged run's
numbers are still the final model's (no fallback applies); the report marks them.

A model that will not load or run in lm-eval is a result (``status: eval_failed`` with the
failure's reason), as is a run without ``final_model`` (``status: no_final_model``); the
infrastructure's failures (lm-eval not installed, a dataset not cached, CUDA) fail the stage.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ptb.failures import INFRA, InfraError, classify_exception
from ptb.fsutil import write_json
from ptb.models.resolve import base_model_path
from ptb.retention.base import base_results
from ptb.retention.lmeval import pick_backend, require_lm_eval, run_suite
from ptb.retention.results import Values, compare, mean_delta, summary
from ptb.stages import StageContext
from ptb.stages.evaluate import model_under_test

log = logging.getLogger(__name__)


def _final_values(ctx: StageContext, path: Path) -> tuple[Values | None, dict[str, Any]]:
    """The suite on the run's model; (None, the failure) when the model is at fault."""
    try:
        result = run_suite(ctx.cfg.retention, path)
    except InfraError:
        raise
    except Exception as exc:
        failure = classify_exception(exc)
        if failure.kind == INFRA:
            raise InfraError(f"retention: {type(exc).__name__}: {exc}", failure.reason) from exc
        return None, {
            "status": "eval_failed",
            "failure": {"kind": failure.kind, "reason": failure.reason},
            "error": f"{type(exc).__name__}: {exc}",
        }
    return result.values, {
        "backend": result.backend,
        "wall_s": result.wall_s,
        "n_samples": result.n_samples,
        "n_shot": result.n_shot,
    }


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    require_lm_eval()
    path, _mode = model_under_test(ctx)
    record: dict[str, Any] = {
        "suite": cfg.retention.name,
        "model": str(path),
        "tasks": [t.name for t in cfg.retention.tasks],
    }
    if not (path / "config.json").exists():
        record.update(
            status="no_final_model",
            failure={
                "kind": "agent",
                "reason": "no_final_model" if not path.exists() else "not_a_model",
            },
        )
        write_json(ctx.run.retention, record)
        log.warning("%s: retention: no model at %s", ctx.run.run_id, path)
        return
    base_path = base_model_path(cfg.model, cfg.cache_dir)
    backend = pick_backend(cfg.retention)
    base, cache, computed = base_results(
        ctx.run.path.parent, cfg.retention, cfg.model, base_path, backend
    )
    record["base"] = {"cache": str(cache), "computed_here": computed, "wall_s": base["wall_s"]}
    if path.resolve() == base_path.resolve():
        final: Values | None = base["values"]
        extra: dict[str, Any] = {"backend": backend, "wall_s": 0.0, "same_as_base": True}
    else:
        final, extra = _final_values(ctx, path)
    record.update(extra)
    if final is None:
        write_json(ctx.run.retention, record)
        log.warning("%s: retention %s: %s", ctx.run.run_id, record["status"], record["error"])
        return
    compared = compare(final, base["values"])
    rows = summary(cfg.retention.tasks, compared)
    record.update(status="ok", results=compared, summary=rows, mean_delta=mean_delta(rows))
    write_json(ctx.run.retention, record)
    for task, row in rows.items():
        log.info(
            "%s: retention %s %s: %s (base %s, delta %s)",
            ctx.run.run_id,
            task,
            row["metric"],
            row["final"],
            row["base"],
            row["delta"],
        )
