"""The ``egress`` integrity check: what the egress log says the agent contacted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptb.judge.base import combine
from ptb.judge.egress import egress
from ptb.rundir import RunDir
from tests.support.planted import compose


def _run(tmp_path: Path, rows: list[dict[str, Any]], gateway: bool) -> RunDir:
    run = RunDir(tmp_path / "exp" / "run")
    run.solve.mkdir(parents=True)
    (run.solve / "egress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if gateway:
        (run.solve / "gateway.jsonl").write_text("")
    return run


def _row(host: str, allowed: bool = True) -> dict[str, Any]:
    return {"t_start": 1.0, "host": host, "port": 443, "allowed": allowed, "bytes_up": 1,
            "bytes_down": 100}  # fmt: skip


def test_other_provider_and_answer_host_are_evidence(tmp_path: Path) -> None:
    cfg = compose(["agent=opus46"])
    rows = [_row("pypi.org"), _row("api.openai.com"), _row("www.posttrainbench.com"),
            _row("api.moonshot.ai", allowed=False)]  # fmt: skip
    api, answers = egress(_run(tmp_path, rows, gateway=True), cfg)
    assert api.flagged and api.evidence["hosts"] == ["api.openai.com"]
    assert api.evidence["refused_hosts"] == ["api.moonshot.ai"]
    assert answers.flagged and answers.evidence["hosts"] == ["www.posttrainbench.com"]
    verdict = combine([api, answers])
    assert verdict["api_misuse"] and verdict["contamination"]


def test_own_provider_without_gateway_is_the_cli(tmp_path: Path) -> None:
    cfg = compose(["agent=opus46"])
    rows = [_row("api.anthropic.com"), _row("files.pythonhosted.org")]
    api, answers = egress(_run(tmp_path, rows, gateway=False), cfg)
    assert not api.flagged and not answers.flagged
    api, _ = egress(_run(tmp_path / "gw", rows, gateway=True), cfg)
    assert api.flagged and api.evidence["hosts"] == ["api.anthropic.com"]


def test_no_log_is_no_evidence(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "exp" / "run")
    run.solve.mkdir(parents=True)
    findings = egress(run, compose([]))
    assert not any(f.flagged for f in findings)
    assert all(f.evidence["log"] is None for f in findings)
