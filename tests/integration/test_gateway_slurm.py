"""The gateway inside a SLURM job (launchers/slurm-local): the solve job starts it on its node, the
sandboxed agent (``network=none``) reaches it through the forwarder, and the key reaches only the
gateway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, ptb_env
from tests.integration.test_gateway_run import AGENT, KEY_ENV, RUN_ID
from tests.support.fake_upstream import OUTPUT, PROMPT, FakeUpstream
from tests.support.slurm_cluster import fresh_cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


def test_gateway_in_a_slurm_solve_job() -> None:
    if os.geteuid() != 0:
        pytest.skip("launchers/slurm-local needs root")
    with fresh_cluster("gateway", 7337) as local:
        _gateway_in_a_slurm_solve_job({"SLURM_CONF": local.slurm_conf})


def _gateway_in_a_slurm_solve_job(conf: dict[str, str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="ptb-slurm-gw-", dir="/var/tmp"))
    try:
        with FakeUpstream() as upstream:
            agent = root / "agent.py"
            agent.write_text(
                AGENT.replace("@KEY_ENV@", KEY_ENV).replace("@UPSTREAM@", upstream.url)
            )
            agent.chmod(0o755)
            results = root / "results"
            env = ptb_env(root, **conf, **{KEY_ENV: upstream.key})
            out = subprocess.run(
                [sys.executable, "-m", "ptb", "launcher=slurm", "agent=custom",
                 f"scaffold.path={agent}", f"agent.api_key_env={KEY_ENV}",
                 "agent.provider=anthropic", "agent.model_id=good-model",
                 f"agent.base_url={upstream.url}", "gateway.enabled=true", "sandbox=bwrap",
                 "sandbox.network=none", "tracker=none", f"results_dir={results}"],
                cwd=REPO, env=env, text=True, capture_output=True, timeout=120,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr[-3000:]
            run = results / "default" / RUN_ID
            deadline = time.monotonic() + 300
            while not (run / "score.json").exists():
                assert time.monotonic() < deadline, "the run did not finish in 300 s"
                time.sleep(1)
        solve = json.loads((run / "manifest.json").read_text())["stages"]["solve"]
        assert solve["status"] == "done" and solve["job_id"]  # it ran as a SLURM job
        records = [json.loads(x) for x in (run / "solve/gateway.jsonl").read_text().splitlines()]
        assert [(r["model"], r["allowed"]) for r in records] == [
            ("good-model", True),
            ("good-model", True),
            ("evil-model", False),
        ]
        gw = json.loads((run / "solve/usage.json").read_text())["gateway"]
        assert (gw["input_tokens"], gw["output_tokens"]) == (2 * PROMPT, 2 * OUTPUT)
        lines = [
            json.loads(x)["line"]
            for x in (run / "solve/transcript.raw.jsonl").read_text().splitlines()
        ]
        assert any(x.startswith("DIRECT blocked") for x in lines)
        env_seen = json.loads((run / "solve/workspace/env.json").read_text())
        assert env_seen[KEY_ENV].startswith("ptb-gw-") and "SLURM_JOB_ID" not in env_seen
        for path in run.rglob("*"):
            if path.is_file():
                assert upstream.key.encode() not in path.read_bytes(), path
    finally:
        subprocess.run(["scancel", "-u", "root"], env={**os.environ, **conf}, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
