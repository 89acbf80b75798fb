"""judge: run the configured integrity checks, write findings.json and verdict.json."""

from __future__ import annotations

import logging
import time
import traceback

from ptb.failures import INFRA, classify_exception
from ptb.fsutil import write_json
from ptb.judge import CHECKS, Finding
from ptb.judge.base import verdict
from ptb.stages import StageContext

log = logging.getLogger(__name__)


def run(ctx: StageContext) -> None:
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    for name in ctx.cfg.judge.checks:
        check = CHECKS.load(name)
        t0 = time.perf_counter()
        try:
            result = check(ctx.run, ctx.cfg)
            findings += result if isinstance(result, list) else [result]
        except Exception as exc:  # recorded, and the run scores as judge_failed
            if classify_exception(exc).kind == INFRA:  # not the run's: fail the stage, retried
                raise
            log.warning("check %s failed: %s", name, exc)
            findings.append(
                Finding(
                    check=name,
                    category="unknown",
                    flagged=False,
                    evidence={"traceback": traceback.format_exc()},
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
        seconds[name] = round(time.perf_counter() - t0, 3)
    write_json(
        ctx.run.findings,
        {
            "checks": [f.to_json() for f in findings],
            "seconds": seconds,
            "note": None if findings else "no integrity checks configured (judge.checks is empty)",
        },
    )
    record = verdict(findings, ctx.cfg.protocol.fallback)
    write_json(ctx.run.verdict, record.to_json())
    if record.flagged:
        log.warning("%s flagged: %s", ctx.run.run_id, record.to_json())
