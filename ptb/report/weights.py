"""Benchmark weights for the weighted average.

By default the report uses the paper's fixed factors (``PAPER_FACTORS``, the original harness's
``scripts/factors.json``), so a method's average is comparable with the paper's leaderboard
whatever baselines a results folder holds; a report over tasks the paper never weighed (the toy
tasks, AIME 2026) recomputes them by the paper's rule from its own baselines instead, and says so.
``--weights recompute`` always recomputes.

The paper's rule: w_b ∝ 1 / (s_b^instruct - s_b^base), where each s is the mean over the base
models of the official instruct model's and the zero-shot base model's score on b (each model's
score being its mean over seeds); the weights are normalised to sum to 1. Harder benchmarks (a
smaller instruct gain) weigh more. The weights can instead be given on the command line or in a
YAML/JSON file, or set equal with an explicit flag; the report always says which was used.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

import yaml

from ptb.report.scan import ReportError, ScoredRun

INSTRUCT = "baseline_instruct"
ZEROSHOT = "baseline_zeroshot"
PAPER_SOURCE = "paper: w_b ∝ 1/(instruct - zero-shot base), from the baseline runs"
PAPER_FACTORS = {
    "aime2025": 0.226536549919078,
    "arenahard_writing": 0.0903518275042778,
    "bfcl": 0.0746078457817324,
    "gpqa": 0.22462215653948,
    "gsm8k": 0.0935882347031865,
    "healthbench": 0.184144830733019,
    "humaneval": 0.106148554819225,
}
"""The paper's fixed benchmark weights by ptb task name (the original's ``scripts/factors.json``
at ``main@9082063``; its ``arenahardwriting`` and ``gpqamain`` are ptb's ``arenahard_writing``
and ``gpqa``). A unit test checks them against the pinned upstream file's bytes when cached."""
FIXED_SOURCE = "paper: the original harness's fixed factors (scripts/factors.json)"
_HINT = (
    "Run the missing baselines, or give the weights with --weights task=w,... "
    "(or a YAML/JSON file), or use --equal-weights."
)


class WeightsError(ReportError):
    """The paper's weights cannot be derived; ``problems`` names each task and what is missing."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"cannot derive the paper's task weights:\n{lines}\n{_HINT}")


@dataclass(frozen=True)
class Weights:
    weights: dict[str, float]
    """task → weight; the weights sum to 1."""
    source: str
    detail: dict[str, dict[str, float]] = field(default_factory=dict)
    """task → {"instruct", "zeroshot", "gain"} (0-100) when derived from the baselines."""


def normalise(raw: Mapping[str, float], source: str) -> Weights:
    bad = {task: w for task, w in raw.items() if not w >= 0.0}
    if bad:
        raise ReportError(f"weights must be ≥ 0; got {bad} ({source})")
    total = sum(raw.values())
    if total <= 0.0:
        raise ReportError(f"weights sum to {total}; at least one must be > 0 ({source})")
    return Weights({task: w / total for task, w in raw.items()}, source)


def equal_weights(tasks: Sequence[str], note: str | None = None) -> Weights:
    if not tasks:
        raise ReportError("no tasks found to weight")
    source = "equal weights (--equal-weights)"
    if note:
        source += f"; the paper's weights were not derivable: {note}"
    return normalise(dict.fromkeys(tasks, 1.0), source)


def fixed_weights(tasks: Sequence[str]) -> Weights:
    """The paper's fixed factors for ``tasks`` (renormalised over them), or raise naming the
    tasks the paper has no factor for."""
    unknown = [t for t in tasks if t not in PAPER_FACTORS]
    if unknown:
        raise ReportError(
            f"the paper has no fixed weight for task(s) {', '.join(unknown)}; use --weights "
            f"recompute (the paper's rule over your baselines) or give weights"
        )
    if not tasks:
        raise ReportError("no tasks found to weight")
    return normalise({t: PAPER_FACTORS[t] for t in tasks}, FIXED_SOURCE)


def paper_weights(
    runs: Iterable[ScoredRun], tasks: Sequence[str], models: Sequence[str] = ()
) -> Weights:
    """Derive the paper's weights for ``tasks`` from the baseline runs, or raise naming the gaps.

    The means are over ``models`` (the report's grid) when given, else over every baseline model.
    """
    scores = _baseline_means(r for r in runs if not models or r.info.model in models)
    detail: dict[str, dict[str, float]] = {}
    problems: list[str] = []
    for task in tasks:
        entry, problem = _task_gain(
            task, scores[INSTRUCT].get(task, {}), scores[ZEROSHOT].get(task, {})
        )
        if problem:
            problems.append(problem)
        else:
            detail[task] = entry
    if problems:
        raise WeightsError(problems)
    weights = normalise({t: 1.0 / detail[t]["gain"] for t in tasks}, PAPER_SOURCE)
    return Weights(weights.weights, PAPER_SOURCE, detail)


def _baseline_means(runs: Iterable[ScoredRun]) -> dict[str, dict[str, dict[str, float]]]:
    """agent → task → model → mean over seeds (0-100), for the two baselines the rule uses."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for run in runs:
        if run.info.agent in (INSTRUCT, ZEROSHOT):
            values[(run.info.agent, run.info.task, run.info.model)].append(100.0 * run.final)
    out: dict[str, dict[str, dict[str, float]]] = {INSTRUCT: {}, ZEROSHOT: {}}
    for (agent, task, model), scores in values.items():
        out[agent].setdefault(task, {})[model] = fmean(scores)
    return out


def _task_gain(
    task: str, instruct: dict[str, float], zeroshot: dict[str, float]
) -> tuple[dict[str, float], str | None]:
    if not instruct and not zeroshot:
        return {}, f"task {task!r}: no {INSTRUCT} and no {ZEROSHOT} runs with a score.json"
    for have, lack, name in ((zeroshot, instruct, INSTRUCT), (instruct, zeroshot, ZEROSHOT)):
        missing = sorted(set(have) - set(lack))
        if missing:
            return {}, f"task {task!r}: no {name} score for model(s) {', '.join(missing)}"
    inst, base = fmean(instruct.values()), fmean(zeroshot.values())
    gain = inst - base
    entry = {"instruct": inst, "zeroshot": base, "gain": gain}
    if gain <= 0.0:
        return entry, (
            f"task {task!r}: instruct gain is not positive (instruct {inst:.2f} - "
            f"zero-shot base {base:.2f} = {gain:.2f}), so 1/gain is undefined"
        )
    return entry, None


def parse_weights_option(text: str) -> Weights:
    """``task=w,task=w`` or the path of a YAML/JSON mapping (a report's JSON output works too)."""
    if "=" in text:
        return normalise(_parse_pairs(text), f"--weights {text}")
    path = Path(text)
    if not path.is_file():
        raise ReportError(f"--weights {text!r}: not task=w,... and no such file")
    return normalise(_read_weights_file(path), f"file {path}")


def _parse_pairs(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        task, sep, value = item.partition("=")
        if not sep or not task.strip():
            raise ReportError(f"--weights: {item!r} is not task=weight")
        out[task.strip()] = _as_weight(value.strip(), f"--weights {item!r}")
    return out


def _read_weights_file(path: Path) -> dict[str, float]:
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ReportError(f"{path}: cannot read weights ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("weights"), dict):
        data = data["weights"]
    if not isinstance(data, dict) or not data:
        raise ReportError(f"{path}: expected a mapping task → weight (or {{weights: {{...}}}})")
    return {str(task): _as_weight(w, f"{path}: task {task!r}") for task, w in data.items()}


def _as_weight(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ReportError(f"{where}: weight must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ReportError(f"{where}: weight must be a number, got {value!r}") from exc
