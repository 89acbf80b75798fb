"""The report's tables as header + rows of strings, shared by the HTML, Markdown, W&B renderers."""

from __future__ import annotations

from dataclasses import dataclass

from ptb.report.aggregate import MethodResult, Report
from ptb.report.scan import UnscoredRun

NA = "n/a"


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


def fmt(value: float | None, digits: int = 1) -> str:
    return NA if value is None else f"{value:.{digits}f}"


def fmt_avg(result: MethodResult, withheld: bool = False) -> str:
    if withheld:
        return f"{NA} (withheld: infrastructure gate)"
    if result.avg is None:
        return f"{NA} (missing cells)" if result.missing else NA
    if result.std is None:
        return fmt(result.avg)
    return f"{result.avg:.1f} ± {result.std:.1f}"


def fmt_fallbacks(result: MethodResult) -> str:
    return ", ".join(f"{k}: {n}" for k, n in result.fallbacks.items()) or "0"


def leaderboard(report: Report) -> Table:
    header = ["#", "method", "avg ± std", "seeds", "runs", "scored as base",
              "not scored (infra)", "flagged", "fallbacks", "missing cells"]  # fmt: skip
    withheld = report.gate is not None and report.gate.withheld
    rows = []
    rank = 0
    for result in report.methods + report.baselines:
        if not result.is_baseline and result.avg is not None:
            rank += 1
        place = "base" if result.is_baseline else (str(rank) if result.avg is not None else "-")
        rows.append(
            [
                place,
                result.label,
                fmt_avg(result, withheld),
                str(len(result.seeds)),
                _runs(result),
                str(result.counts.get("scored_as_base", 0)),
                str(result.counts.get("infra_failed", 0)),
                str(result.flagged),
                fmt_fallbacks(result),
                str(sum(len(m["seeds"]) for m in result.missing)),
            ]
        )
    note = (
        "Weighted average over tasks (0-100); ± is the sample standard deviation (n-1) of the "
        "per-seed weighted averages. 'scored as base': cells that got the zero-shot base "
        "model's score (the agent's failure or a flagged run); 'not scored (infra)': cells whose "
        "evaluation failed for a reason that is not the model's (retried on re-run). "
        "'missing cells' counts (model, task, seed) cells without a score; such a method gets "
        "no average."
    )
    if report.gate is not None:
        note += " " + report.gate.summary() + "."
    return Table("Leaderboard", header, rows, note)


def per_task(report: Report) -> Table:
    tasks = list(report.grid.tasks)
    header = ["method"] + [f"{t} (w={report.weights.weights[t]:.3f})" for t in tasks] + ["avg"]
    rows = [
        [r.label] + [fmt(r.per_task.get(t)) for t in tasks] + [fmt(r.avg)]
        for r in report.methods + report.baselines
    ]
    note = f"Mean over the models {', '.join(report.grid.models)} of each cell's mean over seeds."
    return Table("Per task", header, rows, note)


def per_model(report: Report) -> Table:
    models = list(report.grid.models)
    header = ["method", *models, "avg"]
    rows = [
        [r.label] + [fmt(r.per_model.get(m)) for m in models] + [fmt(r.avg)]
        for r in report.methods + report.baselines
    ]
    return Table("Per model", header, rows, "Weighted average over tasks of each model's cells.")


def weights(report: Report) -> Table:
    detail = report.weights.detail
    header = ["task", "weight", "instruct", "zero-shot base", "gain"]
    rows = [
        [
            task,
            f"{w:.4f}",
            fmt(detail.get(task, {}).get("instruct")),
            fmt(detail.get(task, {}).get("zeroshot")),
            fmt(detail.get(task, {}).get("gain")),
        ]
        for task, w in report.weights.weights.items()
    ]
    return Table("Weights", header, rows, f"Source: {report.weights.source}")


def missing_cells(report: Report) -> Table:
    header = ["method", "model", "task", "seeds without a score", "runs without score.json"]
    rows = []
    for result in report.methods + report.baselines:
        for cell in result.missing:
            why = "; ".join(
                f"{u['run_id']} ({u['status'] or '?'} at {u['stage'] or '?'})"
                for u in cell["unscored_runs"]
            )
            seeds = ", ".join(str(s) for s in cell["seeds"])
            rows.append([result.label, cell["model"], cell["task"], seeds, why or "no run folder"])
    return Table("Missing cells", header, rows)


def missing_runs(report: Report) -> Table:
    header = ["run", "stage", "status", "failure", "error"]
    rows = [
        [u.run_id, u.stage or "?", u.status or "no manifest stages", _failure(u), u.error or ""]
        for u in report.missing
    ]
    return Table("Runs without score.json", header, rows, "Failed, still running, or abandoned.")


def all_tables(report: Report) -> list[Table]:
    return [
        leaderboard(report),
        per_task(report),
        per_model(report),
        weights(report),
        missing_cells(report),
        missing_runs(report),
        *([retention(report)] if report.retention else []),
    ]


def retention(report: Report) -> Table:
    """Target gain against lm-eval's retention deltas, per method (x100)."""
    tasks = list(dict.fromkeys(t for r in report.retention for t in r.deltas))
    metric = {t: m for r in report.retention for t, m in r.metrics.items()}
    header = [
        "method",
        "runs",
        "target gain",
        "retention Δ (mean)",
        *[f"{t} Δ ({metric[t]})" for t in tasks],
        "flagged",
    ]
    rows = [
        [
            r.label,
            str(r.runs),
            _x100(r.gain),
            _x100(r.mean_delta),
            *[_x100(r.deltas.get(t)) for t in tasks],
            f"{r.flagged} *" if r.flagged else "0",
        ]
        for r in report.retention
    ]
    note = (
        "Scores x100. Target gain: final - zero-shot base on the run's task (as scored). "
        "Retention Δ: lm-eval on final_model - on the base model (retention/metrics.json), "
        "the primary metric of each retention task; never part of the score. * The integrity "
        "fallback does not apply to retention: flagged runs' deltas are their final model's."
    )
    return Table("Capability retention", header, rows, note)


def _x100(value: float | None) -> str:
    return NA if value is None else f"{100 * value:+.1f}"


def _runs(result: MethodResult) -> str:
    if result.runs_without_score:
        return f"{result.runs} (+{result.runs_without_score} without score)"
    return str(result.runs)


def _failure(run: UnscoredRun) -> str:
    if run.failure == "infra":
        return f"infra: {run.reason or '?'} (retryable)"
    return "unfinished"
