"""Benchmark: the lineage check's time and memory for a Qwen3-4B-shaped model (random bf16).

    .venv/bin/python benchmarks/lineage_check.py [--layers 36] [--dir /var/tmp/ptb-lineage]

Writes a "base" and a "final" model (final = an independent draw: the comparison reads and
computes the same whatever the values) as sharded safetensors with Qwen3-4B's tensor names and
shapes (vocab 151936, hidden 2560, 36 layers, intermediate 9728, 32/8 heads of 128; tied
embeddings: 4.02 B parameters at 36 layers), in a child process; then times
``ptb.judge.lineage.compare`` over them in another child, whose peak RSS is reported (all of
it, memory-mapped weight pages included, and the anonymous part, sampled every 0.1 s). Fewer
``--layers`` make a smaller model (the time scales with the parameter count). Prints one JSON
line. The files are deleted afterwards unless ``--keep``.
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

VOCAB, HIDDEN, INTER, HEADS, KV, HEAD_DIM = 151936, 2560, 9728, 32, 8, 128


def layer_shapes(i: int) -> dict[str, tuple[int, ...]]:
    p = f"model.layers.{i}."
    return {
        p + "input_layernorm.weight": (HIDDEN,),
        p + "post_attention_layernorm.weight": (HIDDEN,),
        p + "self_attn.q_proj.weight": (HEADS * HEAD_DIM, HIDDEN),
        p + "self_attn.k_proj.weight": (KV * HEAD_DIM, HIDDEN),
        p + "self_attn.v_proj.weight": (KV * HEAD_DIM, HIDDEN),
        p + "self_attn.o_proj.weight": (HIDDEN, HEADS * HEAD_DIM),
        p + "self_attn.q_norm.weight": (HEAD_DIM,),
        p + "self_attn.k_norm.weight": (HEAD_DIM,),
        p + "mlp.gate_proj.weight": (INTER, HIDDEN),
        p + "mlp.up_proj.weight": (INTER, HIDDEN),
        p + "mlp.down_proj.weight": (HIDDEN, INTER),
    }


def write_model(folder: Path, layers: int, seed: int) -> int:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    shards: list[dict[str, tuple[int, ...]]] = [
        {"model.embed_tokens.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,)}
    ]
    for start in range(0, layers, 4):
        shard: dict[str, tuple[int, ...]] = {}
        for i in range(start, min(layers, start + 4)):
            shard.update(layer_shapes(i))
        shards.append(shard)
    total = 0
    for k, shard in enumerate(shards):
        tensors = {}
        for name, shape in shard.items():
            t = torch.empty(shape, dtype=torch.bfloat16)
            if len(shape) == 1:
                t.fill_(1.0)
            else:
                t.normal_(0.0, 0.02, generator=gen)
            tensors[name] = t
            total += t.numel()
        save_file(tensors, folder / f"model-{k:05d}-of-{len(shards):05d}.safetensors")
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": HIDDEN,
        "num_hidden_layers": layers, "num_attention_heads": HEADS, "num_key_value_heads": KV,
        "intermediate_size": INTER, "head_dim": HEAD_DIM, "vocab_size": VOCAB,
    }))  # fmt: skip
    return total


def rss_anon_gb() -> float:
    """Anonymous resident memory now (not the memory-mapped weight files, which are page cache)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def compare(root: Path) -> dict[str, object]:
    import threading
    from contextlib import ExitStack

    import torch

    peak = [rss_anon_gb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], rss_anon_gb())

    threading.Thread(target=sample, daemon=True).start()

    from ptb.config.judge import LineageConfig
    from ptb.judge.lineage import ModelTensors, compare, judge_lineage

    cfg = LineageConfig()
    t0 = time.perf_counter()
    c0 = time.process_time()
    with ExitStack() as stack:
        final = ModelTensors(root / "final", stack)
        base = ModelTensors(root / "base", stack)
        sums, coverage = compare(final, base, None, cfg.block_elems)
    finding = judge_lineage(sums, coverage, {}, cfg, {})
    done.set()
    return {
        "peak_anon_rss_gb": round(peak[0], 2),
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - c0, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "params": sums.params,
        "distance_to_base": round(float(finding.evidence["distance_to_base"]), 3),
        "flagged": finding.flagged,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, default=36)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/ptb-lineage-bench"))
    parser.add_argument("--phase", choices=["all", "write", "compare"], default="all")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.phase == "write":
        for name, seed in (("base", 0), ("final", 1)):
            write_model(args.dir / name, args.layers, seed)
        return
    if args.phase == "compare":
        print(json.dumps(compare(args.dir)))
        return
    me = [sys.executable, __file__, "--layers", str(args.layers), "--dir", str(args.dir)]
    try:
        t0 = time.perf_counter()
        subprocess.run([*me, "--phase", "write"], check=True)
        write_s = time.perf_counter() - t0
        out = subprocess.run(
            [*me, "--phase", "compare"], check=True, capture_output=True, text=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        size = sum(f.stat().st_size for f in args.dir.rglob("*.safetensors"))
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
        print(json.dumps({
            "benchmark": "lineage_check", "layers": args.layers, **result,
            "bytes_read_gb": round(size / 1024**3, 2), "write_s": round(write_s, 1),
            "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), {ram:.0f} GiB RAM",
        }), flush=True)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
