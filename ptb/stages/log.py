"""log: send the run to the experiment tracker (W&B; offline by default, ``wandb sync`` later)."""

from __future__ import annotations

from ptb.fsutil import write_json
from ptb.registry import Registry
from ptb.stages import StageContext

TRACKERS = Registry(
    "tracker",
    {
        "wandb": "ptb.tracking.wandb_run:log_run",
        "none": "ptb.tracking.wandb_run:log_nothing",
    },
)


def run(ctx: StageContext) -> None:
    record = TRACKERS.load(ctx.cfg.tracker.impl)(ctx.run, ctx.cfg)
    write_json(ctx.run.tracker, record)
