"""Benchmark: one scripted agent run with a real CLI, with the gateway and without it.

The solve stage (prepare + solve, bubblewrap, ``model=tiny``) runs a real CLI against the fake
model server of tests/support/fake_llm.py, alternately with ``gateway.enabled=true`` and
``false``, ``--repeats`` times each; prints the solve stage's wall time per setting (median) and
one JSON line. Needs the pinned CLIs (``bash scripts/install-clis.sh <scaffold>``).

    .venv/bin/python benchmarks/gateway_cli_run.py [--scaffold claude_code] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hydra import compose, initialize_config_dir  # noqa: E402

import ptb.config  # noqa: E402
from ptb.plan import materialize, plan_run  # noqa: E402
from ptb.stages import run_stage  # noqa: E402
from tests.support.fake_llm import FakeLLM  # noqa: E402

AGENTS = {"claude_code": ("opus46", ""), "codex_cli": ("gpt52", "/v1")}
KEY_VAR = "PTB_BENCH_FAKE_KEY"


def one_run(root: Path, scaffold: str, server: FakeLLM, gateway: bool) -> dict[str, float]:
    agent, api_path = AGENTS[scaffold]
    over = [
        f"agent={agent}",
        f"scaffold={scaffold}",
        "model=tiny",
        "task=toy_calls",
        f"results_dir={root}",
        f"agent.base_url={server.url}{api_path}",
        f"agent.api_key_env={KEY_VAR}",
        "budget.hours=0.05",
        "tracker=none",
        f"gateway.enabled={str(gateway).lower()}",
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        node = compose(config_name="config", overrides=over)
    plan = plan_run(node, over, None)
    materialize(plan)
    run_stage("prepare", plan.context())
    t0 = time.monotonic()
    run_stage("solve", plan.context())
    stage_s = time.monotonic() - t0
    exit_ = json.loads(plan.run.exit_file.read_text())
    assert exit_["reason"] == "finished", exit_
    return {"stage_s": stage_s, "agent_s": float(exit_["wall_s"])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scaffold", default="claude_code", choices=sorted(AGENTS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ptb.config.register_configs()
    os.environ[KEY_VAR] = "sk-bench-fake-0123456789abcdef"
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "gateway": []}
    with FakeLLM(key=os.environ[KEY_VAR]) as server, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for name in runs:
                root = Path(tmp) / f"{name}{i}"
                runs[name].append(one_run(root, args.scaffold, server, name == "gateway"))
    print("| setting | solve stage (median) | agent process (median) | runs |")
    print("|---|---|---|---|")
    summary = {}
    for name, rows in runs.items():
        stage = statistics.median(r["stage_s"] for r in rows)
        agent = statistics.median(r["agent_s"] for r in rows)
        summary[name] = {"stage_s": round(stage, 3), "agent_s": round(agent, 3)}
        print(f"| {name} | {stage:.2f} s | {agent:.2f} s | {len(rows)} |")
    print(json.dumps({"scaffold": args.scaffold, "repeats": args.repeats, "median": summary}))


if __name__ == "__main__":
    main()
