"""Report figures as base64 PNGs (matplotlib's Agg renderer through ``Figure``, never pyplot)."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ptb.report.aggregate import MethodResult, Report
from ptb.report.scan import ReportError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METHOD_COLOUR = "#3b6ea8"
BASELINE_COLOUR = "#9a9a9a"


@dataclass(frozen=True)
class Plot:
    title: str
    png_b64: str
    caption: str = ""


def all_plots(report: Report) -> list[Plot]:
    plots = [
        leaderboard_plot(report),
        per_task_plot(report),
        *usage_plots(report),
        retention_plot(report),
    ]
    return [p for p in plots if p is not None]


def leaderboard_plot(report: Report) -> Plot | None:
    rows = [r for r in report.methods + report.baselines if r.avg is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: r.avg or 0.0)
    fig = _figure(8.0, 1.2 + 0.45 * len(rows))
    ax = fig.subplots()
    ax.barh(
        [r.label for r in rows],
        [r.avg or 0.0 for r in rows],
        xerr=[_nan(r.std) for r in rows],
        color=[BASELINE_COLOUR if r.is_baseline else METHOD_COLOUR for r in rows],
        capsize=3,
    )
    ax.set_xlabel("weighted average score (0-100)")
    ax.grid(axis="x", alpha=0.3)
    return Plot("Leaderboard", _png(fig), _skipped_caption(report, rows))


def per_task_plot(report: Report) -> Plot | None:
    rows = [
        r
        for r in report.methods + report.baselines
        if any(v is not None for v in r.per_task.values())
    ]
    tasks = list(report.grid.tasks)
    if not rows or not tasks:
        return None
    fig = _figure(max(6.0, 1.6 * len(tasks) + 2.0), 4.5)
    ax = fig.subplots()
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        xs = [t + (i - (len(rows) - 1) / 2) * width for t in range(len(tasks))]
        ys = [_nan(row.per_task.get(task)) for task in tasks]
        ax.bar(xs, ys, width=width, label=row.label, hatch="//" if row.is_baseline else None)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylabel("score (0-100)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return Plot("Per task", _png(fig), "Missing bars: the task lacks a cell for some model.")


def usage_plots(report: Report) -> list[Plot]:
    rows = [r for r in report.methods if r.avg is not None and r.usage]
    out = []
    for key, label in (
        ("wall_h_mean", "mean wall time per run (h)"),
        ("cost_usd_mean", "mean cost per run (USD)"),
    ):
        points = [(r, float(r.usage[key])) for r in rows if r.usage and key in r.usage]
        if points:
            out.append(_scatter(points, label))
    return out


def retention_plot(report: Report) -> Plot | None:
    """Target gain (y) against the mean retention delta (x), one point per method."""
    points = [r for r in report.retention if r.gain is not None and r.mean_delta is not None]
    if not points:
        return None
    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    for row in points:
        x, y = 100 * (row.mean_delta or 0.0), 100 * (row.gain or 0.0)
        ax.plot(x, y, "o", color=METHOD_COLOUR, fillstyle="none" if row.flagged else "full")
        ax.annotate(row.label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize="small")
    ax.axhline(0, color=BASELINE_COLOUR, lw=0.8)
    ax.axvline(0, color=BASELINE_COLOUR, lw=0.8)
    ax.set_xlabel("retention delta, mean over lm-eval tasks (x100)")
    ax.set_ylabel("target gain over the zero-shot base (x100)")
    ax.grid(alpha=0.3)
    caption = "Hollow: the method has flagged runs (retention numbers are not adjusted for them)."
    return Plot("Target gain vs retention", _png(fig), caption)


def _scatter(points: list[tuple[MethodResult, float]], xlabel: str) -> Plot:
    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    for result, x in points:
        y = result.avg or 0.0
        ax.errorbar(x, y, yerr=result.std or 0.0, fmt="o", color=METHOD_COLOUR, capsize=3)
        ax.annotate(
            result.label,
            (x, y),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize="small",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("weighted average score (0-100)")
    ax.grid(alpha=0.3)
    return Plot(f"Score vs {xlabel}", _png(fig), "From solve/usage.json of each scored run.")


def _skipped_caption(report: Report, plotted: list[MethodResult]) -> str:
    shown = {id(r) for r in plotted}
    skipped = [r.label for r in report.methods + report.baselines if id(r) not in shown]
    if not skipped:
        return "Error bars: sample standard deviation over seeds. Grey: baselines."
    return f"Not plotted (no average: missing cells): {', '.join(skipped)}. Grey: baselines."


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ReportError(
            "the HTML report's plots need matplotlib: pip install matplotlib"
        ) from exc
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
