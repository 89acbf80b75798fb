"""Benchmark: the judge stage's wall time (``judge=rules``, every deterministic check) on a run
with ``--data-gb`` of workspace data and a Qwen3-4B-shaped final_model.

    .venv/bin/python benchmarks/judge_stage.py [--data-gb 2] [--layers 36] [--dir /var/tmp/...]

A real run directory: prepare and solve (a script agent that only writes two small scripts, in
``sandbox=bwrap`` with no network) of ``model=tiny`` re-pointed at a base model in a private HF
cache (``model.hf_id=bench/qwen3-4b``): random bf16 weights of Qwen3-4B's names and shapes
(``benchmarks/lineage_check.py``; 4.02 B parameters at 36 layers, 8 GB) with the tiny model's
tokenizer and chat template. ``final_model`` is a second draw of the same shape (the checks read
and compute the same whatever the values; lineage flags it as unrelated, as it should). The
workspace gets ``--data-gb`` of chat-format jsonl (random words from a Zipf vocabulary, in
256 MiB files). Then the judge stage runs in a child process; its per-check seconds come from
``judge/findings.json`` and its peak RSS from the child's rusage. Prints one JSON line; the
folder is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FAKE_ID = "bench/qwen3-4b"
REV = "0" * 40
AGENT = """#!/bin/sh
printf 'import json\\nprint(json.dumps({"ok": 1}))\\n' > helper.py
printf '#!/bin/sh\\necho train\\n' > run.sh
"""


def write_base(hf: Path, tiny: Path, layers: int, seed: int, out: Path | None = None) -> Path:
    from benchmarks.lineage_check import write_model

    snap = out or hf / "hub" / f"models--{FAKE_ID.replace('/', '--')}" / "snapshots" / REV
    if out is None:
        refs = snap.parent.parent / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        (refs / "main").write_text(REV)
    write_model(snap, layers, seed)
    config = json.loads((snap / "config.json").read_text())
    for f in tiny.iterdir():  # tokenizer, chat template, generation_config from the tiny model
        if f.is_file() and not f.name.endswith(".safetensors") and f.name != "config.json":
            shutil.copy(f, snap / f.name)
    tiny_cfg = json.loads((tiny / "config.json").read_text())
    for key in ("bos_token_id", "eos_token_id", "torch_dtype", "tie_word_embeddings"):
        if key in tiny_cfg:
            config[key] = tiny_cfg[key]
    (snap / "config.json").write_text(json.dumps(config))
    return snap


def write_data(folder: Path, gb: float) -> int:
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    ranks = np.minimum(rng.zipf(1.3, size=4_000_000), 50_000) - 1
    words = vocab[ranks]
    rows = []
    for i in range(0, len(words) - 60, 60):
        q, a = " ".join(words[i : i + 40]), " ".join(words[i + 40 : i + 60])
        rows.append(json.dumps({"messages": [{"role": "user", "content": q},
                                             {"role": "assistant", "content": a}]}))  # fmt: skip
    block = ("\n".join(rows) + "\n").encode()
    total, target, k = 0, int(gb * 1024**3), 0
    while total < target:
        with (folder / f"mix_{k:03d}.jsonl").open("wb") as fh:
            written = 0
            while written < 256 * 1024**2 and total < target:
                chunk = block[: min(len(block), target - total)]
                fh.write(chunk)
                written += len(chunk)
                total += len(chunk)
        k += 1
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-gb", type=float, default=2.0)
    ap.add_argument("--layers", type=int, default=36)
    ap.add_argument("--dir", type=Path, default=Path("/var/tmp/ptb-judge-bench"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = args.dir
    shutil.rmtree(root, ignore_errors=True)
    hf, results = root / "hf", root / "results"
    os.environ.update(HF_HOME=str(hf), HF_HUB_OFFLINE="1")
    os.environ.setdefault("PTB_CACHE", str(root / "cache"))
    from ptb.judge.planted import compose
    from ptb.models.tiny import build_tiny_qwen3
    from ptb.plan import materialize, plan_run
    from ptb.stages import run_stage

    tiny = build_tiny_qwen3(os.environ["PTB_CACHE"])
    t0 = time.perf_counter()
    write_base(hf, tiny, args.layers, seed=1)
    agent = root / "agent.sh"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    overrides = [
        "agent=custom", f"scaffold.path={agent}", "task=toy_calls", "sandbox=bwrap",
        "sandbox.network=none", "tracker=none", f"results_dir={results}", "experiment=bench",
        f"model.hf_id={FAKE_ID}", "model.builder=null", "judge=rules",
    ]  # fmt: skip
    plan = plan_run(compose(overrides), overrides, None)
    materialize(plan)
    ctx = plan.context()
    run_stage("prepare", ctx)
    run_stage("solve", ctx)
    write_base(hf, tiny, args.layers, seed=2, out=plan.run.final_model)
    data_bytes = write_data(plan.run.workspace / "task" / "data_work", args.data_gb)
    setup_s = time.perf_counter() - t0
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from ptb.judge.planted import compose\nfrom ptb.plan import plan_run\n"
        "from ptb.stages import run_stage\n"
        f"plan = plan_run(compose({overrides!r}), {overrides!r}, None)\n"
        "run_stage('judge', plan.context())\n"
        "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # for the CPU time
    t1 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    findings = json.loads(plan.run.findings.read_text())
    verdict = json.loads(plan.run.verdict.read_text())
    lineage = next(f for f in findings["checks"] if f["check"] == "lineage")["evidence"]
    contamination = next(f for f in findings["checks"] if f["check"] == "contamination")
    print(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "data_bytes": data_bytes, "layers": args.layers,
        "params": lineage.get("base_params"),
        "judge_wall_s": round(wall, 1),
        "judge_cpu_s": round(cpu, 1),
        "per_check_s": findings["seconds"],
        "peak_rss_gb": round(int(proc.stdout.split()[-1]) / 1024**2, 2),
        "bytes_scanned": contamination["evidence"].get("bytes_scanned"),
        "flagged_by": verdict["flagged_by"], "failed_checks": verdict["failed_checks"],
        "setup_s": round(setup_s, 1),
    }))  # fmt: skip
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
