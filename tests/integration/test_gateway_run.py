"""A whole run through the gateway: a script agent in bubblewrap calls its model via the gateway.

For both network policies the agent (a Python script, so no CLI is needed) must reach the fake
provider only through the gateway, holding a dummy token: its allowed model answers (streamed and
not), another model is refused and logged, usage totals match what the provider reported, and
nothing in the agent's environment, its files or the run directory holds the real key.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, ptb_env
from tests.support.fake_upstream import OUTPUT, PROMPT, FakeUpstream

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

KEY_ENV = "FAKE_PROVIDER_API_KEY"
RUN_ID = "custom__script__tiny__toy_calls__s0"
AGENT = """#!/usr/bin/env python3
import json, os, pathlib, urllib.error, urllib.request

url, token = os.environ["PTB_GATEWAY_URL"], os.environ["@KEY_ENV@"]
pathlib.Path(os.environ["HOME"], "env.json").write_text(json.dumps(dict(os.environ)))

def call(base, model, stream):
    body = {"model": model, "stream": stream, "max_tokens": 8, "messages": []}
    req = urllib.request.Request(base + "/v1/messages", data=json.dumps(body).encode(),
                                 headers={"x-api-key": token, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()

for model, stream in [("good-model", True), ("good-model", False), ("evil-model", False)]:
    status, text = call(url, model, stream)
    print("CALL", model, status, " ".join(text.split())[-400:], flush=True)
try:
    print("DIRECT", call("@UPSTREAM@", "good-model", False)[0], flush=True)
except OSError as err:
    print("DIRECT blocked", type(err).__name__, flush=True)
"""


@pytest.mark.parametrize("network", ["none", "open"])
def test_script_agent_through_the_gateway(network: str, tmp_path: Path) -> None:
    with FakeUpstream() as upstream:
        agent = tmp_path / "agent.py"
        agent.write_text(AGENT.replace("@KEY_ENV@", KEY_ENV).replace("@UPSTREAM@", upstream.url))
        agent.chmod(0o755)
        results = tmp_path / "results"
        out = subprocess.run(
            [sys.executable, "-m", "ptb", "agent=custom", f"scaffold.path={agent}",
             f"agent.api_key_env={KEY_ENV}", "agent.provider=anthropic",
             "agent.model_id=good-model", f"agent.base_url={upstream.url}",
             "gateway.enabled=true", "+gateway.prices.good-model={input:5.0,output:25.0}",
             "sandbox=bwrap", f"sandbox.network={network}", "budget.hours=0.01",
             "tracker=none", f"results_dir={results}"],
            cwd=REPO, env=ptb_env(tmp_path, **{KEY_ENV: upstream.key}), text=True,
            capture_output=True, timeout=600,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run = results / "default" / RUN_ID
    raw = (run / "solve/transcript.raw.jsonl").read_text().splitlines()
    lines = [json.loads(x)["line"] for x in raw]
    calls = [x for x in lines if x.startswith("CALL")]
    assert calls[0].startswith("CALL good-model 200") and "message_stop" in calls[0]
    assert calls[1].startswith("CALL good-model 200") and '"usage"' in calls[1]
    assert calls[2].startswith("CALL evil-model 403")
    assert "'evil-model' is not allowed in this run" in calls[2]
    direct = next(x for x in lines if x.startswith("DIRECT"))
    # network=none: the provider is unreachable; open: reachable, but the token is worthless
    assert direct.startswith("DIRECT blocked") if network == "none" else direct == "DIRECT 401"

    records = [json.loads(x) for x in (run / "solve/gateway.jsonl").read_text().splitlines()]
    assert [(r["model"], r["allowed"], r["status"]) for r in records] == [
        ("good-model", True, 200),
        ("good-model", True, 200),
        ("evil-model", False, 403),
    ]
    gw = json.loads((run / "solve/usage.json").read_text())["gateway"]
    assert (gw["input_tokens"], gw["output_tokens"]) == (2 * PROMPT, 2 * OUTPUT)
    assert gw["refused"] == 1 and gw["requests"] == 3
    assert gw["cost_usd"] == pytest.approx(2 * (PROMPT * 5.0 + OUTPUT * 25.0) / 1e6)
    assert [s["key"] for s in upstream.seen[:2]] == [upstream.key] * 2

    env = json.loads((run / "solve/workspace/env.json").read_text())
    assert env[KEY_ENV].startswith("ptb-gw-") and env["PTB_GATEWAY_URL"].startswith("http://")
    assert upstream.key not in json.dumps(env)
    for path in run.rglob("*"):  # the agent's files and everything ptb wrote
        if path.is_file():
            assert upstream.key.encode() not in path.read_bytes(), path
    assert json.loads((run / "solve/exit.json").read_text())["reason"] == "finished"


GREEDY_AGENT = """#!/usr/bin/env python3
import json, os, time, urllib.error, urllib.request

url, token = os.environ["PTB_GATEWAY_URL"], os.environ["@KEY_ENV@"]
body = json.dumps({"model": "good-model", "max_tokens": 8, "messages": []}).encode()
for i in range(100):
    req = urllib.request.Request(url + "/v1/messages", data=body,
                                 headers={"x-api-key": token, "content-type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30).read()
        print("CALL", i, "ok", flush=True)
    except urllib.error.HTTPError as err:
        print("REFUSED", err.code, json.loads(err.read())["error"]["message"], flush=True)
        break
time.sleep(600)  # a CLI that hangs on: the solve stage must stop it after the grace
"""


def test_usage_limit_stops_the_run_cleanly(tmp_path: Path) -> None:
    with FakeUpstream() as upstream:
        agent = tmp_path / "agent.py"
        agent.write_text(GREEDY_AGENT.replace("@KEY_ENV@", KEY_ENV))
        agent.chmod(0o755)
        results = tmp_path / "results"
        out = subprocess.run(
            [sys.executable, "-m", "ptb", "agent=custom", f"scaffold.path={agent}",
             f"agent.api_key_env={KEY_ENV}", "agent.provider=anthropic",
             "agent.model_id=good-model", f"agent.base_url={upstream.url}",
             "gateway.enabled=true", f"gateway.max_tokens={2 * (PROMPT + OUTPUT)}",
             "gateway.limit_grace_s=2", "sandbox=bwrap", "budget.hours=0.05",
             "tracker=none", f"results_dir={results}"],
            cwd=REPO, env=ptb_env(tmp_path, **{KEY_ENV: upstream.key}), text=True,
            capture_output=True, timeout=600,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run = results / "default" / RUN_ID
    lines = [
        json.loads(x)["line"] for x in (run / "solve/transcript.raw.jsonl").read_text().splitlines()
    ]
    assert [x for x in lines if x.startswith("CALL")] == ["CALL 0 ok", "CALL 1 ok"]
    refused = next(x for x in lines if x.startswith("REFUSED"))
    assert refused.startswith("REFUSED 403") and "token limit is reached" in refused
    exit_ = json.loads((run / "solve/exit.json").read_text())
    assert exit_["reason"] == "usage_limit" and "gateway.max_tokens" in exit_["error_message"]
    assert exit_["wall_s"] < 60  # stopped after the 2 s grace, not at the 3-minute time limit
    assert len(upstream.seen) == 2
    assert json.loads((run / "score.json").read_text())["fallback"] == "no_final_model"
