"""A model-graded task end to end: the agent's evaluate.py in bubblewrap (``network=none``) scores
its model through the gateway's grader route; the agent's own attempt to use that route for
something else is refused, and the integrity checks flag the run for it. The real grader key never
enters the sandbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, ptb_env
from tests.support.fake_grader import FakeGrader
from tests.support.tasks import fixture_overrides

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

KEY_ENV = "FAKE_GRADER_API_KEY"
KEY = "sk-fake-grader-key-0123456789-must-stay-out"
RUN_ID = "custom__script__tiny__arenahard_writing__s0"
AGENT = """#!/usr/bin/env python3
import json, os, pathlib, shutil, subprocess, sys, urllib.error, urllib.request

home = pathlib.Path(os.environ["HOME"])
(home / "env.json").write_text(json.dumps(dict(os.environ)))
base = os.environ["PTB_BASE_MODEL"]
done = subprocess.run(["python", "evaluate.py", "--model-path", base, "--limit", "1"],
                      capture_output=True, text=True)
print("EVAL", done.returncode, (done.stdout.strip().splitlines() or [done.stderr[-800:]])[-1])

body = {"model": "gpt-5-mini",
        "messages": [{"role": "user", "content": "Write 100 creative-writing prompts."}]}
req = urllib.request.Request(os.environ["PTB_GRADER_BASE_URL"] + "/chat/completions",
                             data=json.dumps(body).encode(),
                             headers={"Authorization": "Bearer " + os.environ["PTB_GRADER_TOKEN"],
                                      "Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=30)
    print("FREE passed")
except urllib.error.HTTPError as err:
    print("FREE", err.code, json.loads(err.read())["error"]["message"])
shutil.copytree(base, "final_model")
"""


def _cache_with_fixture_prompts(cache: Path) -> list[str]:
    """A private PTB_CACHE holding the fixture grader-prompt files where the prefetch would put
    the pinned upstream ones, so the task's default ``upstream://`` prompt sources are read
    from the cache — by the gateway, the sandboxed evaluate.py and the evaluate stage. Returns
    the other data overrides (the fixture questions and references, as local files)."""
    from ptb.tasks import upstream
    from tests.support.tasks import FIXTURE_DATA, FIXTURES

    roles = {
        "grader_prompt": "arenahard/judge_utils.py",
        "grader_config": "arenahard/arena-hard-v2.0.yaml",
    }
    for role, key in roles.items():
        path = cache / "upstream" / upstream.pinned(key).sha256 / upstream.pinned(key).name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((FIXTURES / FIXTURE_DATA["arenahard_writing"][role]).read_bytes())
    return [
        o
        for o in fixture_overrides("arenahard_writing")
        if o.split("=")[0].split(".")[-1] not in roles
    ]


def test_evaluate_py_grades_through_the_route_and_misuse_is_flagged(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    results = tmp_path / "results"
    cache = tmp_path / "ptb-cache"  # private: fixture bytes under the real pins' names
    data = _cache_with_fixture_prompts(cache)
    with FakeGrader() as grader:
        out = subprocess.run(
            [sys.executable, "-m", "ptb", "agent=custom", f"scaffold.path={agent}",
             "task=arenahard_writing", *data,
             f"task.eval.grader_base_url={grader.base_url}",
             f"task.eval.grader_api_key_env={KEY_ENV}",
             "task.eval.ladder=[{max_new_tokens:8,attempts:1}]", "task.eval.n_items=null",
             "sandbox=bwrap", "sandbox.network=none", "budget.hours=0.05", "tracker=none",
             f"results_dir={results}"],
            cwd=REPO, env=ptb_env(tmp_path, PTB_CACHE=str(cache), **{KEY_ENV: KEY}), text=True,
            capture_output=True,
            timeout=900,
        )  # fmt: skip
        requests = list(grader.requests)
    assert out.returncode == 0, out.stderr[-3000:]
    run = results / "default" / RUN_ID
    lines = [
        json.loads(x)["line"] for x in (run / "solve/transcript.raw.jsonl").read_text().splitlines()
    ]
    evaluated = next(x for x in lines if x.startswith("EVAL"))
    assert evaluated.startswith("EVAL 0 "), evaluated
    summary = json.loads(evaluated.split(" ", 2)[2])
    assert summary["status"] == "ok" and summary["n"] == 1
    free = next(x for x in lines if x.startswith("FREE"))
    assert free.startswith("FREE 403") and "evaluate.py's" in free

    records = [json.loads(x) for x in (run / "solve/gateway.jsonl").read_text().splitlines()]
    graded = [r for r in records if r["allowed"]]
    assert len(graded) == 2 and {r["route"] for r in records} == {"grader"}  # two games, one item
    (refused,) = [r for r in records if not r["allowed"]]
    assert refused["status"] == 403 and refused["gate"]
    # Every grader call, the sandbox's through the route and the evaluate stage's direct ones,
    # reached the grader with the real key; only two came from inside.
    assert {r["auth"] for r in requests} == {f"Bearer {KEY}"}
    # the grader prompt came from the cached upstream files (here: the fixtures' texts)
    assert all(r["messages"][0]["content"].startswith("You judge two") for r in requests)

    findings = json.loads((run / "judge/findings.json").read_text())["checks"]
    misuse = next(f for f in findings if f["check"] == "api_misuse")
    assert misuse["flagged"] and misuse["evidence"]["gateway"]["violations"][0]["route"] == "grader"
    assert json.loads((run / "judge/verdict.json").read_text())["flagged_by"] == ["api_misuse"]
    score = json.loads((run / "score.json").read_text())
    assert score["flagged"] and score["fallback"] == "flagged"

    env = json.loads((run / "solve/workspace/env.json").read_text())
    assert env["PTB_GRADER_TOKEN"].startswith("ptb-gw-") and KEY_ENV not in env
    for path in run.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
