"""Group scored runs into methods and compute the paper's numbers, with missing cells explicit.

A method is (agent, scaffold, budget). Its grid is every (model, task) the report covers (the
models and tasks of the non-baseline runs, or those chosen with --models/--tasks); each cell's score
is the mean over the seeds present. ``per_task`` averages a task's cells over the grid's models,
``per_model`` is the weighted average of a model's cells, and ``avg`` is the weighted average over
tasks, which equals the mean over seeds of the per-seed weighted averages that ``std`` (sample
standard deviation, n-1) is taken over. A method that lacks any cell for any of its seeds gets
``avg`` and ``std`` null and lists what is missing: no average is ever taken over fewer cells.

Each method counts its cells (model, task, seed of the grid) by what became of them: scored,
scored as base (the agent's failure or a flagged run, included in *scored*), not scored because
of an infrastructure failure (retryable), unfinished or missing. The sweep's *clean* fraction is
the share of the non-baseline methods' cells that were scored; below ``Options.min_clean`` (the
infrastructure gate, 0.9 by default) no average is printed unless ``ignore_gate`` is set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from ptb.report.retention import RetentionRow, retention_rows
from ptb.report.scan import (
    BASELINE_AGENTS,
    FALLBACKS,
    ReportError,
    RunInfo,
    Scan,
    ScoredRun,
    UnscoredRun,
    scan,
)
from ptb.report.weights import (
    PAPER_FACTORS,
    Weights,
    WeightsError,
    equal_weights,
    fixed_weights,
    paper_weights,
    parse_weights_option,
)

Cell = tuple[str, str]  # (model, task)


@dataclass(frozen=True, order=True)
class MethodKey:
    agent: str
    scaffold: str
    budget: str | None

    @classmethod
    def of(cls, info: RunInfo) -> MethodKey:
        return cls(info.agent, info.scaffold, info.budget)


@dataclass(frozen=True)
class Options:
    weights: str | None = None
    """--weights: ``paper`` (the fixed factors), ``recompute`` (the paper's rule over these
    results' baselines), ``task=w,...`` or a YAML/JSON file; None: ``paper`` where every task
    has a factor, else ``recompute``."""
    equal_weights: bool = False
    models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    min_clean: float = 0.9
    """--min-clean: the infrastructure gate (fraction of cells that ran cleanly)."""
    ignore_gate: bool = False
    """--ignore-infra-gate: print the averages below the gate anyway (marked)."""


@dataclass(frozen=True)
class Gate:
    """The infrastructure gate: publish averages only when enough cells ran cleanly."""

    cells: int
    clean: int
    infra_failed: int
    threshold: float
    ignored: bool = False

    @property
    def fraction(self) -> float | None:
        return self.clean / self.cells if self.cells else None

    @property
    def passed(self) -> bool:
        return self.fraction is None or self.fraction >= self.threshold

    @property
    def withheld(self) -> bool:
        return not self.passed and not self.ignored

    def to_json(self) -> dict[str, Any]:
        return {
            "cells": self.cells,
            "clean": self.clean,
            "infra_failed": self.infra_failed,
            "fraction": _r(self.fraction),
            "threshold": self.threshold,
            "passed": self.passed,
            "withheld": self.withheld,
        }

    def summary(self) -> str:
        if not self.cells:
            return "Clean cells: none expected"
        verdict = "passed" if self.passed else ("IGNORED" if self.ignored else "FAILED")
        text = (
            f"Clean cells: {self.clean}/{self.cells} ({100 * (self.fraction or 0):.1f}%), "
            f"{self.infra_failed} not scored yet (infrastructure failure, retryable); "
            f"infrastructure gate >= {100 * self.threshold:.0f}%: {verdict}"
        )
        if self.withheld:
            text += " — averages withheld (re-run the failed cells, or --ignore-infra-gate)"
        return text


@dataclass(frozen=True)
class Grid:
    models: tuple[str, ...]
    tasks: tuple[str, ...]


@dataclass
class MethodResult:
    key: MethodKey
    label: str
    avg: float | None
    std: float | None
    seeds: list[int]
    per_task: dict[str, float | None]
    per_model: dict[str, float | None]
    cells: dict[str, dict[str, float]]
    runs: int
    runs_without_score: int
    flagged: int
    fallbacks: dict[str, int]
    missing: list[dict[str, Any]]
    usage: dict[str, float | int] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    """The grid's cells by outcome: cells, scored, scored_as_base, infra_failed, unfinished,
    missing (no run folder)."""

    @property
    def is_baseline(self) -> bool:
        return self.key.agent in BASELINE_AGENTS

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "agent": self.key.agent,
            "scaffold": self.key.scaffold,
            "budget": self.key.budget,
            "avg": _r(self.avg),
            "std": _r(self.std),
            "n_seeds": len(self.seeds),
            "seeds": self.seeds,
            "per_task": {t: _r(v) for t, v in self.per_task.items()},
            "per_model": {m: _r(v) for m, v in self.per_model.items()},
            "cells": {m: {t: _r(v) for t, v in row.items()} for m, row in self.cells.items()},
            "runs": self.runs,
            "runs_without_score": self.runs_without_score,
            "flagged": self.flagged,
            "fallbacks": self.fallbacks,
            "missing": self.missing,
            "usage": self.usage,
            "counts": self.counts,
        }


@dataclass
class Report:
    results_dir: Path
    weights: Weights
    grid: Grid
    methods: list[MethodResult]
    baselines: list[MethodResult]
    missing: list[UnscoredRun] = field(default_factory=list)
    gate: Gate | None = None
    retention: list[RetentionRow] = field(default_factory=list)
    """Per method: target gain against lm-eval's retention deltas (``ptb.report.retention``)."""

    def to_json(self) -> dict[str, Any]:
        detail = {t: {k: _r(v) for k, v in d.items()} for t, d in self.weights.detail.items()}
        return {
            "results_dir": str(self.results_dir),
            "weights": self.weights.weights,
            "weights_source": self.weights.source,
            "weights_detail": detail,
            "grid": {"models": list(self.grid.models), "tasks": list(self.grid.tasks)},
            "methods": [m.to_json() for m in self.methods],
            "baselines": [b.to_json() for b in self.baselines],
            "missing": [_unscored_json(u) for u in self.missing],
            "gate": self.gate.to_json() if self.gate else None,
            "retention": [r.to_json() for r in self.retention],
        }


def build_report(root: Path, options: Options) -> Report:
    found = scan(root)
    if not found.scored and not found.unscored:
        raise ReportError(f"no run directories (score.json or manifest.json) below {root}")
    _check_duplicates(found.scored)
    infos = [r.info for r in found.scored] + [u.info for u in found.unscored if u.info]
    pool = [i for i in infos if not i.is_baseline] or infos
    models = options.models or tuple(sorted({i.model for i in pool}))
    tasks = options.tasks or tuple(sorted({i.task for i in pool}))
    weights = choose_weights(found.scored, tasks, models, options)
    grid = Grid(models, tuple(t for t in tasks if weights.weights.get(t, 0.0) > 0.0))
    results = aggregate(found, grid, weights)
    gate = infra_gate(results, options)
    if gate.withheld:
        for result in results:
            result.avg = result.std = None
    return Report(
        results_dir=root,
        weights=weights,
        grid=grid,
        methods=[m for m in results if not m.is_baseline],
        baselines=[m for m in results if m.is_baseline],
        missing=found.unscored,
        gate=gate,
        retention=retention_rows(
            found.scored, {(r.key.agent, r.key.scaffold, r.key.budget): r.label for r in results}
        ),
    )


def infra_gate(results: Sequence[MethodResult], options: Options) -> Gate:
    trials = [r for r in results if not r.is_baseline] or list(results)
    return Gate(
        cells=sum(r.counts.get("cells", 0) for r in trials),
        clean=sum(r.counts.get("scored", 0) for r in trials),
        infra_failed=sum(r.counts.get("infra_failed", 0) for r in trials),
        threshold=options.min_clean,
        ignored=options.ignore_gate,
    )


def choose_weights(
    runs: Sequence[ScoredRun], tasks: Sequence[str], models: Sequence[str], options: Options
) -> Weights:
    choice = options.weights
    if choice is not None and options.equal_weights:
        raise ReportError("give either --weights or --equal-weights, not both")
    if choice == "paper":
        return fixed_weights(tasks)
    if choice == "recompute":
        return paper_weights(runs, tasks, models)
    if choice is not None:
        return _restrict(parse_weights_option(choice), tasks, bool(options.tasks))
    if options.equal_weights:
        try:
            paper_weights(runs, tasks, models)
        except WeightsError as exc:
            return equal_weights(tasks, note="; ".join(exc.problems))
        return equal_weights(tasks)
    unweighed = [t for t in tasks if t not in PAPER_FACTORS]
    if not unweighed:
        return fixed_weights(tasks)
    derived = paper_weights(runs, tasks, models)
    note = f"; the paper has no fixed factor for {', '.join(unweighed)}"
    return Weights(derived.weights, derived.source + note, derived.detail)


def _restrict(weights: Weights, tasks: Sequence[str], chosen: bool) -> Weights:
    """Check that given weights name every task of the runs; keep only ``tasks`` if chosen."""
    unnamed = [t for t in tasks if t not in weights.weights]
    if unnamed:
        raise ReportError(
            f"the given weights name no weight for task(s) {', '.join(unnamed)} "
            f"({weights.source}); give each task a weight (0 leaves a task out)"
        )
    if not chosen:
        return weights
    kept = {t: weights.weights[t] for t in tasks}
    total = sum(kept.values())
    if total <= 0.0:
        raise ReportError(f"the given weights are 0 for every chosen task ({weights.source})")
    return Weights({t: w / total for t, w in kept.items()}, weights.source)


def aggregate(found: Scan, grid: Grid, weights: Weights) -> list[MethodResult]:
    scored: dict[MethodKey, list[ScoredRun]] = defaultdict(list)
    unscored: dict[MethodKey, list[UnscoredRun]] = defaultdict(list)
    for run in found.scored:
        scored[MethodKey.of(run.info)].append(run)
    for pending in found.unscored:
        if pending.info is not None:
            unscored[MethodKey.of(pending.info)].append(pending)
    keys = sorted(set(scored) | set(unscored), key=_sort_key)
    labels = _labels(keys)
    results = [
        method_result(k, labels[k], scored.get(k, []), unscored.get(k, []), grid, weights)
        for k in keys
    ]
    return sorted(results, key=_rank_key)


def method_result(
    key: MethodKey,
    label: str,
    runs: Sequence[ScoredRun],
    pending: Sequence[UnscoredRun],
    grid: Grid,
    weights: Weights,
) -> MethodResult:
    by_cell: dict[Cell, dict[int, float]] = defaultdict(dict)
    for run in runs:
        by_cell[(run.info.model, run.info.task)][run.info.seed] = 100.0 * run.final
    seeds = _seeds(runs, pending, grid)
    means = {cell: fmean(v.values()) for cell, v in by_cell.items()}
    missing = _missing_cells(by_cell, seeds, grid, pending)
    per_seed = [] if missing else [_weighted(grid, weights, by_cell, seed) for seed in seeds]
    return MethodResult(
        key=key,
        label=label,
        avg=fmean(per_seed) if per_seed else None,
        std=stdev(per_seed) if len(per_seed) >= 2 else None,
        seeds=seeds,
        per_task={t: _mean_or_none(means.get((m, t)) for m in grid.models) for t in grid.tasks},
        per_model={m: _model_score(m, grid, weights, means) for m in grid.models},
        cells=_cells_table(means),
        runs=len(runs),
        runs_without_score=len(pending),
        flagged=sum(r.flagged for r in runs),
        fallbacks={f: n for f in FALLBACKS if (n := sum(r.fallback == f for r in runs))},
        missing=missing,
        usage=_usage(runs),
        counts=_counts(runs, pending, seeds, grid),
    )


def _counts(
    runs: Sequence[ScoredRun], pending: Sequence[UnscoredRun], seeds: Sequence[int], grid: Grid
) -> dict[str, int]:
    """The grid's cells (model, task, seed) by what became of them."""
    cells = {(m, t, s) for m in grid.models for t in grid.tasks for s in seeds}
    scored = {(r.info.model, r.info.task, r.info.seed): r for r in runs}
    unscored = {(p.info.model, p.info.task, p.info.seed): p for p in pending if p.info}
    inside = [scored[c] for c in cells if c in scored]
    waiting = [unscored[c] for c in cells if c not in scored and c in unscored]
    infra = sum(p.failure == "infra" for p in waiting)
    return {
        "cells": len(cells),
        "scored": len(inside),
        "scored_as_base": sum(r.fallback is not None for r in inside),
        "infra_failed": infra,
        "unfinished": len(waiting) - infra,
        "missing": len(cells) - len(inside) - len(waiting),
    }


def _seeds(runs: Sequence[ScoredRun], pending: Sequence[UnscoredRun], grid: Grid) -> list[int]:
    """Seeds of the method's runs inside the grid (of all its runs if none is inside)."""
    infos = [r.info for r in runs] + [p.info for p in pending if p.info]
    inside = [i for i in infos if i.model in grid.models and i.task in grid.tasks]
    return sorted({i.seed for i in inside or infos})


def _weighted(
    grid: Grid, weights: Weights, by_cell: dict[Cell, dict[int, float]], seed: int
) -> float:
    return sum(
        weights.weights[t] * fmean(by_cell[(m, t)][seed] for m in grid.models) for t in grid.tasks
    )


def _model_score(
    model: str, grid: Grid, weights: Weights, means: dict[Cell, float]
) -> float | None:
    cells = [means.get((model, t)) for t in grid.tasks]
    if not cells or any(c is None for c in cells):
        return None
    return sum(
        weights.weights[t] * c for t, c in zip(grid.tasks, cells, strict=True) if c is not None
    )


def _mean_or_none(values: Iterable[float | None]) -> float | None:
    items = list(values)
    if not items or any(v is None for v in items):
        return None
    return fmean(v for v in items if v is not None)


def _missing_cells(
    by_cell: dict[Cell, dict[int, float]],
    seeds: Sequence[int],
    grid: Grid,
    pending: Sequence[UnscoredRun],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for model in grid.models:
        for task in grid.tasks:
            lacking = [s for s in seeds if s not in by_cell.get((model, task), {})]
            if not lacking:
                continue
            why = [
                {"run_id": p.run_id, "stage": p.stage, "status": p.status}
                for p in pending
                if p.info
                and (p.info.model, p.info.task) == (model, task)
                and p.info.seed in lacking
            ]
            out.append({"model": model, "task": task, "seeds": lacking, "unscored_runs": why})
    return out


def _cells_table(means: dict[Cell, float]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for (model, task), value in sorted(means.items()):
        table[model][task] = value
    return dict(table)


def _usage(runs: Sequence[ScoredRun]) -> dict[str, float | int] | None:
    walls = [r.wall_s for r in runs if r.wall_s is not None]
    costs = [r.cost_usd for r in runs if r.cost_usd is not None]
    if not walls and not costs:
        return None
    usage: dict[str, float | int] = {"runs_with_usage": max(len(walls), len(costs))}
    if walls:
        usage["wall_h_mean"] = round(fmean(walls) / 3600.0, 4)
    if costs:
        usage["cost_usd_mean"] = round(fmean(costs), 4)
        usage["cost_usd_total"] = round(sum(costs), 4)
    return usage


def _labels(keys: Sequence[MethodKey]) -> dict[MethodKey, str]:
    """``agent / scaffold``, plus ``/ budget`` where one agent and scaffold ran several budgets."""
    budgets: dict[tuple[str, str], set[str | None]] = defaultdict(set)
    for k in keys:
        budgets[(k.agent, k.scaffold)].add(k.budget)
    labels = {}
    for k in keys:
        label = f"{k.agent} / {k.scaffold}"
        if len(budgets[(k.agent, k.scaffold)]) > 1:
            label += f" / {k.budget or 'budget?'}"
        labels[k] = label
    return labels


def _check_duplicates(runs: Sequence[ScoredRun]) -> None:
    seen: dict[RunInfo, Path] = {}
    clashes: list[str] = []
    for run in runs:
        if run.info in seen:
            clashes.append(f"  - {seen[run.info]}\n    {run.path}")
        seen.setdefault(run.info, run.path)
    if clashes:
        listed = "\n".join(clashes[:5])
        raise ReportError(
            "the same (agent, scaffold, budget, model, task, seed) was scored more than once:\n"
            f"{listed}\nPoint the report at one experiment folder, or remove one of each pair."
        )


def _sort_key(key: MethodKey) -> tuple[str, str, str]:
    return (key.agent, key.scaffold, key.budget or "")


def _rank_key(result: MethodResult) -> tuple[int, float, str]:
    if result.is_baseline:
        return (1, float(BASELINE_AGENTS.index(result.key.agent)), result.label)
    return (0, -result.avg if result.avg is not None else float("inf"), result.label)


def _unscored_json(run: UnscoredRun) -> dict[str, Any]:
    info = run.info
    return {
        "run_id": run.run_id,
        "run_dir": str(run.path),
        "agent": info.agent if info else None,
        "scaffold": info.scaffold if info else None,
        "model": info.model if info else None,
        "task": info.task if info else None,
        "seed": info.seed if info else None,
        "stage": run.stage,
        "status": run.status,
        "error": run.error,
        "failure": run.failure,
        "reason": run.reason,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
