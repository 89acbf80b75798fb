"""The Markdown report: the same tables as the HTML report, without the plots."""

from __future__ import annotations

from ptb.report.aggregate import Report
from ptb.report.tables import Table, all_tables, leaderboard


def md_table(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    lines = [line(table.header), "|" + "---|" * len(table.header)]
    lines += [line(row) for row in table.rows]
    return "\n".join(lines)


def md_section(table: Table, level: int = 2) -> str:
    parts = [f"{'#' * level} {table.title}", ""]
    if table.note:
        parts += [table.note, ""]
    parts.append(md_table(table) if table.rows else "_none_")
    return "\n".join(parts)


def render_markdown(report: Report) -> str:
    head = [
        "# ptb report",
        "",
        f"Results: `{report.results_dir}`  ",
        f"Models: {', '.join(report.grid.models)}  ",
        f"Tasks: {', '.join(report.grid.tasks)}  ",
        f"Weights: {report.weights.source}  ",
        report.gate.summary() if report.gate else "",
        "",
    ]
    body = [md_section(t) for t in all_tables(report)]
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n"


def summary(report: Report) -> str:
    """The short text the CLI prints: the leaderboard and where the weights came from."""
    gate = f"{report.gate.summary()}\n" if report.gate else ""
    return f"{md_table(leaderboard(report))}\n\nWeights: {report.weights.source}\n{gate}"
