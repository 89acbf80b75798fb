"""A W&B report comparing agents and scaffolds, built with ``wandb-workspaces``.

Two halves: :func:`build_spec` turns the offline aggregate into a plain, testable description of
the report (text blocks, the leaderboard as Markdown, panel grids with filters and panels), and
:func:`publish` turns that into ``wandb_workspaces.reports.v2`` objects and saves them, which needs
an online W&B server and a login. W&B cannot compute the paper's weighted average, so the
leaderboard is written into the report as a Markdown table; the panels show the per-run scores
that the logging stage sends (see :class:`WandbKeys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ptb.report.aggregate import Report
from ptb.report.markdown import md_table
from ptb.report.scan import BASELINE_AGENTS, ReportError
from ptb.report.tables import leaderboard, missing_cells, per_task

INSTALL_HINT = "the W&B report needs the wandb-workspaces package: pip install wandb-workspaces"


@dataclass(frozen=True)
class WandbKeys:
    """Where the logging stage puts things in each W&B run (config keys and summary metrics)."""

    agent: str = "agent"
    scaffold: str = "scaffold"
    model: str = "model"
    task: str = "task"
    score: str = "score/final"
    wall_s: str = "usage/wall_s"
    cost_usd: str = "usage/cost_usd"


@dataclass(frozen=True)
class PanelSpec:
    kind: Literal["bar", "scatter"]
    title: str
    y: str
    """Summary metric (bar: the bar height; scatter: the y axis)."""
    groupby: str | None = None
    """Config key to group runs by (bar); the bars show the mean and standard deviation."""
    x: str | None = None
    """Summary metric on the x axis (scatter)."""


@dataclass(frozen=True)
class GridSpec:
    runset: str
    filters: str
    """A ``wandb_workspaces`` filter expression, e.g. ``Config('task') == 'gsm8k'``."""
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True)
class TextSpec:
    kind: Literal["h1", "h2", "p", "markdown"]
    text: str


Block = TextSpec | GridSpec


@dataclass(frozen=True)
class ReportSpec:
    project: str
    entity: str | None
    title: str
    description: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def build_spec(
    report: Report,
    project: str,
    entity: str | None = None,
    title: str = "ptb: agents and scaffolds compared",
    keys: WandbKeys | None = None,
) -> ReportSpec:
    k = keys or WandbKeys()
    not_baseline = f"Config('{k.agent}') not in {list(BASELINE_AGENTS)!r}"
    blocks: list[Block] = [
        TextSpec("h1", "Leaderboard"),
        TextSpec(
            "p",
            f"Weighted average over tasks; weights: {report.weights.source}. "
            "Computed offline by `python -m ptb.report` from the run directories.",
        ),
        TextSpec("markdown", md_table(leaderboard(report))),
        TextSpec("markdown", md_table(per_task(report))),
        TextSpec("h1", "Agents compared, per task"),
        *[_task_grid(task, k) for task in report.grid.tasks],
        TextSpec("h1", "Scaffolds compared"),
        *_scaffold_grids(report, k),
        TextSpec("h1", "Score against time and cost"),
        _usage_grid(k, not_baseline),
    ]
    gaps = missing_cells(report)
    if gaps.rows:
        blocks += [TextSpec("h1", "Missing cells"), TextSpec("markdown", md_table(gaps))]
    description = f"Models: {', '.join(report.grid.models)}; tasks: {', '.join(report.grid.tasks)}"
    return ReportSpec(project, entity, title[:128], description, tuple(blocks))


def _bar(title: str, k: WandbKeys, groupby: str) -> PanelSpec:
    return PanelSpec("bar", title, y=k.score, groupby=groupby)


def _task_grid(task: str, k: WandbKeys) -> GridSpec:
    """All runs of one task, baselines included: they are the reference bars."""
    return GridSpec(
        runset=f"task {task}",
        filters=f"Config('{k.task}') == '{task}'",
        panels=(
            _bar(f"{task}: score by agent", k, k.agent),
            _bar(f"{task}: score by scaffold", k, k.scaffold),
            _bar(f"{task}: score by base model", k, k.model),
        ),
    )


def _scaffold_grids(report: Report, k: WandbKeys) -> list[Block]:
    scaffolds: dict[str, set[str]] = {}
    for m in report.methods:
        scaffolds.setdefault(m.key.agent, set()).add(m.key.scaffold)
    compared = sorted(a for a, s in scaffolds.items() if len(s) > 1)
    if not compared:
        return [TextSpec("p", "No agent ran under more than one scaffold.")]
    return [
        GridSpec(
            runset=f"agent {agent}",
            filters=f"Config('{k.agent}') == '{agent}'",
            panels=(
                _bar(f"{agent}: score by scaffold", k, k.scaffold),
                PanelSpec("scatter", f"{agent}: score vs wall time", y=k.score, x=k.wall_s),
            ),
        )
        for agent in compared
    ]


def _usage_grid(k: WandbKeys, not_baseline: str) -> GridSpec:
    return GridSpec(
        runset="agent runs",
        filters=not_baseline,
        panels=(
            PanelSpec("scatter", "score vs wall time (s)", y=k.score, x=k.wall_s),
            PanelSpec("scatter", "score vs cost (USD)", y=k.score, x=k.cost_usd),
        ),
    )


def to_wandb(spec: ReportSpec, entity: str) -> Any:
    """The ``wandb_workspaces`` Report object for ``spec`` (no network until ``save``)."""
    wr = _workspaces()

    def panel(p: PanelSpec) -> Any:
        if p.kind == "bar":
            return wr.BarPlot(
                title=p.title,
                metrics=[wr.SummaryMetric(p.y)],
                orientation="v",
                groupby=wr.Config(p.groupby) if p.groupby else None,
                groupby_aggfunc="mean",
                groupby_rangefunc="stddev",
            )
        return wr.ScatterPlot(title=p.title, x=wr.SummaryMetric(p.x or ""), y=wr.SummaryMetric(p.y))

    def block(b: Block) -> Any:
        if isinstance(b, GridSpec):
            runset = wr.Runset(
                entity=entity, project=spec.project, name=b.runset, filters=b.filters
            )
            return wr.PanelGrid(runsets=[runset], panels=[panel(p) for p in b.panels])
        return {"h1": wr.H1, "h2": wr.H2, "p": wr.P}.get(b.kind, wr.MarkdownBlock)(text=b.text)

    return wr.Report(
        project=spec.project,
        entity=entity,
        title=spec.title,
        description=spec.description,
        blocks=[block(b) for b in spec.blocks],
        width="fluid",
    )


def publish(spec: ReportSpec) -> str:
    """Save the report on the W&B server the local login points at; return its URL."""
    _workspaces()  # a missing package is reported before any network call
    report = to_wandb(spec, spec.entity or _default_entity())
    try:
        report.save()
        return str(report.url)
    except Exception as exc:  # network, login and server errors of several kinds
        raise ReportError(f"saving the W&B report failed: {exc}") from exc


def _workspaces() -> Any:
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError as exc:
        raise ReportError(INSTALL_HINT) from exc
    return wr


def _default_entity() -> str:
    import wandb

    try:
        entity = wandb.Api().default_entity
    except Exception as exc:  # not logged in, no server
        raise ReportError(f"cannot reach W&B to find your entity ({exc}); `wandb login`") from exc
    if not entity:
        raise ReportError("no W&B entity: pass --wandb-entity or run `wandb login`")
    return str(entity)
