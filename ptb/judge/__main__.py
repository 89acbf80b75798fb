"""``python -m ptb.judge <run_dir> [--rescore]``: re-run the integrity checks of one run.

Uses the checks named in the run's saved config. With ``--rescore`` the score (and log) stages run
again too, so a changed verdict reaches ``score.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ptb.plan import baseline_run_of, load_saved_config
from ptb.rundir import RunDir
from ptb.stages import StageContext, StageFailed, run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ptb.judge", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--rescore", action="store_true", help="re-run score and log as well")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir.resolve())
    try:
        cfg = load_saved_config(run)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    ctx = StageContext(cfg, run, baseline_run_of(run, cfg))
    stages = ["judge", "score", "log"] if args.rescore else ["judge"]
    try:
        for stage in stages:
            run_stage(stage, ctx, force=True)
    except StageFailed as exc:
        print(f"error: {exc} (see {run.error_file(exc.stage)})", file=sys.stderr)
        return 1
    print(json.dumps(json.loads(run.verdict.read_text()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
