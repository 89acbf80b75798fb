"""``python -m ptb.status <results_dir | experiment dir | run dir> [--json]``: stage states of
every run below a folder, with counts, and the runs stuck behind a failed stage."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ptb.fsutil import read_json
from ptb.rundir import STAGES
from ptb.stages import NEEDS


@dataclass
class RunStatus:
    run_dir: str
    stages: dict[str, str]
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    """Stages that cannot run because a stage they need failed."""
    final: float | None = None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.failed:
            return "failed"
        if all(s in ("done", "skipped") for s in self.stages.values()):
            return "done"
        return "running" if "running" in self.stages.values() else "pending"


def find_runs(root: Path) -> list[Path]:
    if (root / "manifest.json").exists():
        return [root]
    return sorted(p.parent for p in root.rglob("manifest.json") if "workspace" not in p.parts)


def _blocked(stages: dict[str, str]) -> list[str]:
    bad = {s for s, st in stages.items() if st == "failed"}
    blocked: list[str] = []
    for stage in STAGES:  # in dependency order, so blocking propagates
        if stages.get(stage) == "pending" and any(d in bad for d in NEEDS[stage]):
            blocked.append(stage)
            bad.add(stage)
    return blocked


def run_status(run: Path) -> RunStatus:
    manifest = read_json(run / "manifest.json")
    stages = {s: manifest.get("stages", {}).get(s, {}).get("status", "pending") for s in STAGES}
    status = RunStatus(str(run), stages, [s for s, st in stages.items() if st == "failed"])
    status.blocked = _blocked(stages)
    if (run / "score.json").exists():
        status.final = read_json(run / "score.json").get("final")
    for stage in status.failed:
        err = run / stage / "error.json"
        if err.exists():
            data = read_json(err)
            status.error = f"{stage}: {data.get('type')}: {data.get('message')}"[:300]
            break
    return status


def render(statuses: list[RunStatus], console: Console) -> None:
    table = Table(title=f"{len(statuses)} run(s)")
    table.add_column("run", overflow="fold")
    for stage in STAGES:
        table.add_column(stage)
    table.add_column("final")
    marks = {"done": "✓", "skipped": "-", "failed": "✗", "running": "…", "pending": "·"}
    for st in statuses:
        cells = [marks.get(v, v) + (" (blocked)" if s in st.blocked else "")
                 for s, v in st.stages.items()]  # fmt: skip
        final = "" if st.final is None else f"{100 * st.final:.1f}"
        table.add_row(Path(st.run_dir).name, *cells, final)
    console.print(table)
    counts = Counter(st.state for st in statuses)
    console.print("runs: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for st in statuses:
        if st.failed:
            blocked = f"; blocked: {', '.join(st.blocked)}" if st.blocked else ""
            console.print(f"[red]✗[/red] {st.run_dir}: {st.error or 'failed'}{blocked}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ptb.status", description=__doc__)
    parser.add_argument("path", type=Path, help="results dir, experiment dir or run dir")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if not args.path.exists():
        parser.error(f"{args.path} does not exist")
    statuses = [run_status(r) for r in find_runs(args.path)]
    if args.json:
        print(json.dumps([{**asdict(s), "state": s.state} for s in statuses], indent=2))
    else:
        render(statuses, Console())
    return 1 if any(s.failed for s in statuses) else 0


if __name__ == "__main__":
    sys.exit(main())
