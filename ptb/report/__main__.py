"""``python -m ptb.report <results_dir> [--json F] [--html F] [--md F] [--wandb]``

Exit status: 0 when the report was written (missing cells are reported, not fatal), 1 when the
inputs cannot make a report (no runs, a malformed score.json, weights that cannot be derived), 2 for
a wrong command line, 3 when the report was written but the infrastructure gate withheld the
averages (fewer than ``--min-clean`` of the cells ran cleanly; ``--ignore-infra-gate`` prints them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ptb.fsutil import atomic_write_text, write_json
from ptb.report.aggregate import Options, Report, build_report
from ptb.report.scan import ReportError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ptb.report",
        description="Aggregate score.json files into tables, weights, plots and a W&B report.",
    )
    p.add_argument("results_dir", type=Path, help="results root, an experiment folder or a run")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the aggregate as JSON")
    p.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--md", type=Path, metavar="FILE", help="write a Markdown report")
    p.add_argument(
        "--weights",
        metavar="SPEC",
        help="paper (the original's fixed factors; the default when every task has one), "
        "recompute (the paper's rule over these results' baselines; the default otherwise), "
        "task=w,task=w, or a YAML/JSON file of task: w",
    )
    p.add_argument(
        "--equal-weights",
        action="store_true",
        help="weigh every task equally instead of the paper's rule",
    )
    p.add_argument("--models", metavar="M,M", help="only these models (default: all found)")
    p.add_argument("--tasks", metavar="T,T", help="only these tasks (default: all found)")
    p.add_argument(
        "--min-clean",
        type=_fraction,
        default=0.9,
        metavar="F",
        help="infrastructure gate: print averages only when at least this fraction of the "
        "cells ran cleanly (scored, not lost to an infrastructure failure; default: 0.9)",
    )
    p.add_argument(
        "--ignore-infra-gate",
        action="store_true",
        help="print the averages even below --min-clean (the gate's verdict is still shown)",
    )
    p.add_argument("--wandb", action="store_true", help="also publish a W&B report (online)")
    p.add_argument("--wandb-project", default="ptb", help="W&B project (default: ptb)")
    p.add_argument("--wandb-entity", default=None, help="W&B entity (default: your login's)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = Options(
        weights=args.weights,
        equal_weights=args.equal_weights,
        models=_names(args.models),
        tasks=_names(args.tasks),
        min_clean=args.min_clean,
        ignore_gate=args.ignore_infra_gate,
    )
    try:
        report = build_report(args.results_dir, options)
        write_outputs(report, args)
    except ReportError as exc:
        print(f"ptb.report: error: {exc}", file=sys.stderr)
        return 1
    return 3 if report.gate is not None and report.gate.withheld else 0


def write_outputs(report: Report, args: argparse.Namespace) -> None:
    from ptb.report.markdown import render_markdown, summary

    print(summary(report), end="")
    if report.missing:
        print(f"{len(report.missing)} run folder(s) without score.json", file=sys.stderr)
    if report.gate is not None and report.gate.withheld:
        print(f"ptb.report: {report.gate.summary()}", file=sys.stderr)
    if args.json:
        write_json(args.json, report.to_json())
        print(f"wrote {args.json}")
    if args.md:
        atomic_write_text(args.md, render_markdown(report))
        print(f"wrote {args.md}")
    if args.html:
        from ptb.report.html import render_html

        atomic_write_text(args.html, render_html(report))
        print(f"wrote {args.html}")
    if args.wandb:
        from ptb.report.wandb_report import build_spec, publish

        url = publish(build_spec(report, args.wandb_project, args.wandb_entity))
        print(f"W&B report: {url}")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text}")
    return value


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


if __name__ == "__main__":
    sys.exit(main())
