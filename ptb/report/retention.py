"""Capability retention per method: the target task's gain next to what lm-eval saw elsewhere.

Each scored run's gain is its final score minus the zero-shot base's (``score.json``: what the
leaderboard counts, fallbacks included); its retention deltas are ``retention/metrics.json``'s
(final model - base model on each retention task's primary metric). The integrity fallback does
not touch retention numbers: a flagged run's deltas are its final model's, and the row counts the
flagged runs among those it averages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ptb.fsutil import read_json
from ptb.report.scan import ScoredRun
from ptb.rundir import RunDir


@dataclass
class RetentionRow:
    label: str
    runs: int
    """Scored runs with retention results (``status: ok``)."""
    flagged: int
    gain: float | None
    """Mean of final - base on the target task (0-1)."""
    mean_delta: float | None
    """Mean over runs of the mean retention delta over tasks (0-1)."""
    deltas: dict[str, float | None] = field(default_factory=dict)
    """Per retention task: the mean delta of its primary metric."""
    metrics: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def _retention(run: ScoredRun) -> dict[str, Any] | None:
    path = RunDir(run.path).retention
    if not path.is_file():
        return None
    data: dict[str, Any] = read_json(path)
    return data if data.get("status") == "ok" else None


def retention_rows(
    scored: Sequence[ScoredRun], labels: Mapping[tuple[str, str, str | None], str]
) -> list[RetentionRow]:
    """One row per method (``labels``: agent, scaffold, budget → the report's label) that has
    runs with retention results; baselines are left out (their delta is 0 by construction)."""
    by_method: dict[tuple[str, str, str | None], list[tuple[ScoredRun, dict[str, Any]]]]
    by_method = defaultdict(list)
    for run in scored:
        data = _retention(run)
        if data is None or run.info.is_baseline:
            continue
        by_method[(run.info.agent, run.info.scaffold, run.info.budget)].append((run, data))
    rows = []
    for key, items in sorted(by_method.items(), key=lambda kv: str(kv[0])):
        tasks = list(dict.fromkeys(t for _, d in items for t in d.get("summary", {})))
        row = RetentionRow(
            label=labels.get(key, f"{key[0]} / {key[1]}"),
            runs=len(items),
            flagged=sum(1 for run, _ in items if run.flagged),
            gain=_mean([_gain(run) for run, _ in items]),
            mean_delta=_mean([d.get("mean_delta") for _, d in items]),
        )
        for task in tasks:
            cells = [d["summary"][task] for _, d in items if task in d.get("summary", {})]
            row.deltas[task] = _mean([c.get("delta") for c in cells])
            row.metrics[task] = str(cells[0].get("metric"))
        rows.append(row)
    return rows


def _gain(run: ScoredRun) -> float | None:
    return None if run.base is None else run.final - run.base
