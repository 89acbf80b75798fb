"""lm-eval's results as ``{task: {metric: {"value", "stderr"}}}`` and final-versus-base deltas."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ptb.config.retention import RetentionTask

Values = dict[str, dict[str, dict[str, float | None]]]
"""task -> metric -> {"value", "stderr"}"""


def metric_key(lm_eval_key: str) -> str:
    """``acc,none`` → ``acc``; a filtered metric keeps its filter (``exact_match,strict-match``)."""
    metric, _, filt = lm_eval_key.partition(",")
    return metric if filt in ("", "none") else f"{metric},{filt}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # lm-eval writes "N/A" for an unknown stderr
    return None if math.isnan(value) else float(value)


def flatten(results: Mapping[str, Any], names: Iterable[str]) -> Values:
    """The requested tasks' (or groups') metrics from ``simple_evaluate(...)["results"]``;
    subtasks of a group are left out, the group's aggregate is kept."""
    out: Values = {}
    for name in names:
        if name not in results:
            raise KeyError(f"lm-eval returned no results for {name!r} (got {sorted(results)})")
        row = results[name]
        metrics: dict[str, dict[str, float | None]] = {}
        for key, value in row.items():
            if "," not in key or "_stderr," in key:
                continue
            number = _number(value)
            if number is None:
                continue
            metric, _, filt = key.partition(",")
            stderr = _number(row.get(f"{metric}_stderr,{filt}"))
            metrics[metric_key(key)] = {"value": number, "stderr": stderr}
        out[name] = metrics
    return out


def _delta_stderr(a: float | None, b: float | None) -> float | None:
    """Standard error of final - base, the two evaluations taken as independent."""
    if a is None or b is None:
        return None
    return math.sqrt(a * a + b * b)


def compare(final: Values, base: Values) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per task and metric: final, base, delta (final - base), and the standard errors (``stderr``
    of the delta; ``final_stderr``, ``base_stderr``). A metric missing on one side has no delta."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for task in sorted(set(final) | set(base)):
        f_task, b_task = final.get(task, {}), base.get(task, {})
        rows: dict[str, dict[str, float | None]] = {}
        for metric in list(dict.fromkeys([*f_task, *b_task])):
            f, b = f_task.get(metric, {}), b_task.get(metric, {})
            fv, bv = f.get("value"), b.get("value")
            rows[metric] = {
                "final": fv,
                "base": bv,
                "delta": None if fv is None or bv is None else fv - bv,
                "stderr": _delta_stderr(f.get("stderr"), b.get("stderr")),
                "final_stderr": f.get("stderr"),
                "base_stderr": b.get("stderr"),
            }
        out[task] = rows
    return out


def primary_metric(spec: RetentionTask, metrics: Mapping[str, Any]) -> str | None:
    """The metric the report shows: the configured one, else the task's first."""
    if spec.metric is not None:
        if spec.metric not in metrics:
            raise KeyError(
                f"retention task {spec.name!r}: no metric {spec.metric!r} in lm-eval's results "
                f"(has {', '.join(metrics) or 'none'}); fix retention.tasks[].metric"
            )
        return spec.metric
    return next(iter(metrics), None)


def summary(
    tasks: list[RetentionTask], compared: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """One row per task: its primary metric's final, base and delta (the report's columns)."""
    rows: dict[str, dict[str, Any]] = {}
    for spec in tasks:
        metrics = compared.get(spec.name, {})
        metric = primary_metric(spec, metrics)
        if metric is None:
            continue
        rows[spec.name] = {"metric": metric, **metrics[metric]}
    return rows


def mean_delta(rows: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The mean over tasks of the primary metric's delta (None when no task has one)."""
    deltas = [r["delta"] for r in rows.values() if r.get("delta") is not None]
    return sum(deltas) / len(deltas) if deltas else None
