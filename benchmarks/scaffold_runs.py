"""Benchmark: one scripted agent run per CLI scaffold, through the solve stage in bubblewrap
against the fake model server (two model calls: the shell tool call, then the final message).

    .venv/bin/python benchmarks/scaffold_runs.py [--repeats N] [--network open|none]

The figure is ``exit.json``'s ``wall_s``: the CLI's start-up, its two model round trips on
loopback, the tool call and its exit; that is the fixed cost each scaffold adds to a run. Needs
the CLIs (``bash scripts/install-clis.sh``). Prints one JSON line per scaffold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ptb.config  # noqa: E402
from ptb.plan import materialize, plan_run  # noqa: E402
from ptb.stages import run_stage  # noqa: E402
from tests.support.fake_llm import FakeLLM  # noqa: E402

CASES = {
    "claude_code": ("opus46", ""),
    "codex_cli": ("gpt52", "/v1"),
    "gemini_cli": ("gemini31pro", ""),
    "opencode": ("qwen3coder_vllm", "/v1"),
    "qwen_code": ("qwen3coderplus", "/v1"),
}
KEY = "sk-bench-0123456789abcdef"


def one_run(results: Path, scaffold: str, seed: int, url: str, network: str) -> float:
    agent, path = CASES[scaffold]
    over = [f"agent={agent}", f"scaffold={scaffold}", f"seed={seed}", f"results_dir={results}",
            f"agent.base_url={url}{path}", "agent.api_key_env=PTB_BENCH_KEY", "tracker=none",
            f"sandbox.network={network}"]  # fmt: skip
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        node = compose(config_name="config", overrides=over)
    plan = plan_run(node, over, None)
    materialize(plan)
    for stage in ("prepare", "solve"):
        run_stage(stage, plan.context())
    info = json.loads(plan.run.exit_file.read_text())
    if info["reason"] != "finished":
        raise SystemExit(f"{scaffold}: {info}")
    return float(info["wall_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--network", default="open", choices=("open", "none"))
    args = parser.parse_args()
    ptb.config.register_configs()
    tmp = Path(tempfile.mkdtemp(prefix="ptb-scaffold-bench-", dir="/var/tmp"))
    os.environ.update(PTB_BENCH_KEY=KEY, PTB_CACHE=str(tmp / "cache"))
    with FakeLLM(key=KEY) as server:
        for scaffold in CASES:
            times = [one_run(tmp / "results", scaffold, seed, server.url, args.network)
                     for seed in range(args.repeats)]  # fmt: skip
            print(json.dumps({
                "benchmark": "scaffold_scripted_run", "scaffold": scaffold,
                "network": args.network, "repeats": args.repeats,
                "median_s": round(statistics.median(times), 2), "max_s": round(max(times), 2),
                "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
