"""Terminal output: logging setup, preflight problems, the closing result table.

On a terminal, Rich wraps to the terminal's width. Anywhere else (a log file, CI output, a pipe)
nothing is wrapped: tables are as wide as their content and log lines are plain
``time LEVEL logger: message`` lines, so paths and errors come out whole.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from ptb.secrets import RedactingFilter

if TYPE_CHECKING:
    from ptb.launch.local import RunOutcome
    from ptb.preflight import Problem

UNWRAPPED = 100_000
"""Console width off a terminal: wide enough that nothing is folded."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def output_console(stderr: bool = False) -> Console:
    """A Rich console that wraps on a terminal and never elsewhere."""
    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(stderr=stderr) if tty else Console(stderr=stderr, width=UNWRAPPED)


console = output_console(stderr=True)


def setup_logging(verbose: bool) -> None:
    root = logging.getLogger()
    if any(getattr(h, "ptb_console", False) for h in root.handlers):
        return
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    else:  # a log file or CI: one whole line per record
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    setattr(handler, "ptb_console", True)  # noqa: B010  (marks ptb's own handler)
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for noisy in ("urllib3", "httpx", "filelock", "huggingface_hub", "transformers", "wandb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def print_problems(run_id: str, problems: Sequence[Problem]) -> None:
    console.print(
        f"[bold red]preflight failed for {run_id}[/bold red] — nothing was run or submitted:"
    )
    for p in problems:
        console.print(f"  [red]✗[/red] {p.what}\n      fix: {p.fix}")


def _pct(value: object) -> str:
    return f"{100 * float(value):.1f}" if isinstance(value, int | float) else "—"


def print_outcomes(outcomes: Sequence[RunOutcome]) -> None:
    table = Table(title="ptb results (scores x100)", show_lines=False)
    table.add_column("run dir", overflow="fold")
    for col in ("base", "final", "fallback", "time (s)", "status"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        s = o.score
        base = None
        if s is not None:
            base = (
                s.base
                if s.base is not None
                else (s.final if s.agent.startswith("baseline") else None)
            )
        jobs = {k: v for k, v in o.stages.items() if v.startswith("job ")}
        status = "ok" if o.error is None else f"not scored (re-run retries it): {o.error}"
        if jobs:
            status = "queued: " + ", ".join(f"{k} {v[4:]}" for k, v in jobs.items())
        table.add_row(
            str(o.run.path),
            _pct(base),
            _pct(s.final if s is not None else None),
            str(s.fallback or "") if s is not None else "",
            f"{o.wall_s:.0f}",
            status,
        )
    out = output_console()
    out.print(table)
    queued = sum(any(v.startswith("job ") for v in o.stages.values()) for o in outcomes)
    if len(outcomes) > 1 and not queued:
        scored = [o for o in outcomes if o.score is not None]
        as_base = sum(bool(o.score and o.score.fallback) for o in scored)
        failed = sum(o.error is not None for o in outcomes)
        out.print(
            f"{len(scored)}/{len(outcomes)} runs scored ({100 * len(scored) / len(outcomes):.0f}% "
            f"clean), {as_base} of them as base (agent's failure / flagged); {failed} not scored "
            "yet (a stage failed: re-run to retry)"
        )
