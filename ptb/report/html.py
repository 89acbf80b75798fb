"""The offline HTML report: one self-contained file (inline CSS, plots as base64 PNG)."""

from __future__ import annotations

from html import escape

from ptb.report.aggregate import Report
from ptb.report.plots import Plot, all_plots
from ptb.report.tables import Table, all_tables

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f2f2f2; }
tr.baseline td { color: #666; font-style: italic; }
p.note, figcaption { color: #555; font-size: 0.9em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def render_html(report: Report, plots: list[Plot] | None = None) -> str:
    """The whole page; ``plots`` defaults to every plot the report's data allows."""
    figures = all_plots(report) if plots is None else plots
    baseline_labels = {b.label for b in report.baselines}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>ptb report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>ptb report</h1>",
        _summary(report),
    ]
    tables = all_tables(report)
    parts.append(html_table(tables[0], baseline_labels, table_id="leaderboard"))
    parts += [_figure(p) for p in figures]
    parts += [html_table(t, baseline_labels) for t in tables[1:]]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def html_table(table: Table, baseline_labels: set[str], table_id: str | None = None) -> str:
    ident = table_id or table.title.lower().replace(" ", "-").replace(".", "")
    out = [f"<h2>{escape(table.title)}</h2>"]
    if table.note:
        out.append(f'<p class="note">{escape(table.note)}</p>')
    if not table.rows:
        out.append("<p><em>none</em></p>")
        return "\n".join(out)
    out.append(f'<table id="{escape(ident)}">')
    out.append(
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.header) + "</tr></thead>"
    )
    out.append("<tbody>")
    for row in table.rows:
        cls = ' class="baseline"' if any(c in baseline_labels for c in row[:2]) else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _summary(report: Report) -> str:
    items = [
        ("Results", str(report.results_dir)),
        ("Models", ", ".join(report.grid.models)),
        ("Tasks", ", ".join(report.grid.tasks)),
        ("Weights", report.weights.source),
    ]
    if report.gate is not None:
        items.append(("Infrastructure", report.gate.summary()))
    rows = "".join(f"<li><b>{escape(k)}:</b> {escape(v)}</li>" for k, v in items)
    return f"<ul>{rows}</ul>"


def _figure(plot: Plot) -> str:
    alt = escape(plot.title)
    caption = escape(plot.title + (f". {plot.caption}" if plot.caption else ""))
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{plot.png_b64}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )
