"""Benchmark: the transformers backend's decode speed on a GPU against the weight-read bound.

Builds a random-weight model of the real Qwen3-1.7B shape (28 layers, hidden 2048, 16/8 heads,
vocab 151,936, tied embeddings; bf16) with ptb's local tokenizer, then for each path of
``ptb.eval.hf.HFGenerator`` (``--modes``: ``generate`` = plain ``generate``, dynamic cache;
``generate_static`` = ``generate`` with a static cache that transformers compiles; ``compiled`` =
ptb's static-cache loop with a CUDA-graph step) and each batch size times a decode step as the
difference between runs of ``--steps`` and ``--steps``/4 new tokens per sequence, divided by the
extra steps (prefill and set-up cancel out). The bound is the time to read every weight
once per step: parameter bytes / the card's memory bandwidth (nominal, and as measured here by a
large device-to-device copy). ``--sampling`` times greedy decoding (``greedy``), sampling with a
model's ``generation_config.json`` (``model``: Qwen3-1.7B's instruct settings written into the
folder, T=0.6, top-p 0.95, top-k 20, resolved by ``ptb.eval.decoding`` as ``protocol=paper``
does) and a base model's (``base``: no sampling keys, so vLLM's defaults: T=1, no filter).
Finally it runs the evaluation path itself (``ptb.eval.runner.evaluate``) on BFCL with
``--bfcl-limit`` items, decoding with the model's settings. One JSON line per figure.

    python benchmarks/hf_decode.py [--batches 1,32,128] [--steps 128] [--modes generate,compiled]
                                   [--sampling greedy,model,base] [--bfcl-limit 20]
                                   [--out results.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QWEN3_1_7B = {
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "tie_word_embeddings": True,
}
QWEN3_INSTRUCT_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 20}
"""The sampling keys of Qwen/Qwen3-1.7B's generation_config.json (the instruct model's)."""
NOMINAL_BANDWIDTH = {"H100": 3.35e12, "H200": 4.8e12}
"""Bytes/s of HBM, by card (H100 SXM: 3.35 TB/s, H200: 4.8 TB/s)."""


def emit(out: Path | None, row: dict[str, Any]) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        with out.open("a") as fh:
            fh.write(line + "\n")


def build_model(folder: Path) -> int:
    """A random Qwen3-1.7B-shaped model with ptb's tiny tokenizer; returns its parameter count."""
    import shutil

    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from ptb.models.tiny import build_tiny_qwen3

    tok_dir = build_tiny_qwen3(folder.parent / "cache")
    for f in tok_dir.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("special_tokens_map.json",):
            shutil.copy(f, folder / f.name)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    cfg = Qwen3Config(
        **QWEN3_1_7B,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        dtype="bfloat16",
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen3ForCausalLM(cfg).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        do_sample=True,
        **QWEN3_INSTRUCT_SAMPLING,
    )
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    return n


def measured_bandwidth() -> float:
    """Bytes/s of a 4 GiB device-to-device copy (read + write counted)."""
    import torch

    a = torch.empty(1 << 31, dtype=torch.bfloat16, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        b.copy_(a)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / 10
    del a, b
    torch.cuda.empty_cache()
    return 2 * (1 << 31) * 2 / dt


def sampling_settings(folder: Path, how: str) -> dict[str, Any]:
    """``Sampling`` keyword arguments: greedy, or what ``protocol=paper`` takes from the folder."""
    from ptb.config.task import EvalSpec
    from ptb.eval.decoding import VLLM_DEFAULTS, choose

    if how == "base":  # a base model's file sets no sampling key: vLLM's defaults, T=1
        return dict(VLLM_DEFAULTS)
    chosen = choose("model" if how == "model" else "task", "zeroshot", EvalSpec(), folder)
    return {k: v for k, v in chosen.items() if k != "source"}


def _run(gen: Any, ids: Any, mask: Any, steps: int, sampling: dict[str, Any]) -> float:
    """Seconds to generate exactly ``steps`` tokens per sequence (no early stop)."""
    import torch

    from ptb.eval.backends import Sampling

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    chosen = Sampling(steps, **sampling)
    if gen.static is not None:
        gen.static.generate(ids, mask, chosen, [], int(gen.tokenizer.pad_token_id))
    else:
        kwargs = gen.generate_kwargs(chosen)
        with torch.inference_mode():
            gen.model.generate(input_ids=ids, attention_mask=mask, min_new_tokens=steps, **kwargs)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def time_decode(
    gen: Any, batch: int, steps: int, prompt_len: int, sampling: dict[str, Any]
) -> dict[str, float]:
    """Per-step time as the difference of a long and a short run over the extra steps (so the
    prefill and set-up cancel out); both lengths share one cache bucket, hence one graph."""
    import torch

    ids = torch.randint(10, 1000, (batch, prompt_len), device="cuda")
    mask = torch.ones_like(ids)
    short = max(8, steps // 4)
    warmup = _run(gen, ids, mask, steps, sampling)
    t_long = min(_run(gen, ids, mask, steps, sampling) for _ in range(2))
    t_short = min(_run(gen, ids, mask, short, sampling) for _ in range(2))
    step = (t_long - t_short) / (steps - short)
    return {
        "warmup_s": round(warmup, 2),
        "step_ms": round(step * 1e3, 3),
        "decode_tokens_per_s": round(batch / step, 1),
        "end_to_end_tokens_per_s": round(batch * steps / t_long, 1),
        "wall_s": round(t_long, 3),
        "steps": steps,
    }


def run_bfcl(path: Path, limit: int, batch_size: int, max_new: int) -> dict[str, Any]:
    from ptb.config.model import ModelConfig
    from ptb.config.task import EvalSpec, LadderStep, TaskConfig
    from ptb.eval.runner import evaluate

    task = TaskConfig(
        name="bfcl",
        display_name="BFCL",
        impl="bfcl",
        test_source="bfcl-eval",
        data={
            "test": "pkg://bfcl_eval/data/unused_datasets/question/BFCL_v4_exec_simple.json",
            "answers": "pkg://bfcl_eval/data/unused_datasets/possible_answer/"
            "BFCL_v4_exec_simple.json",
        },
        eval=EvalSpec(
            backend="hf",
            batch_size=batch_size,
            ladder=[LadderStep(max_new_tokens=max_new, attempts=1)],
        ),
    )
    model = ModelConfig(name="qwen3_1_7b", display_name="Qwen3-1.7B shape", chat_template="qwen3")
    t0 = time.perf_counter()
    # ptb's own qwen3 template (the original's file needs the prefetch), the model's decoding
    result = evaluate(task, model, path, limit=limit, protocol="strict", decoding="model")
    return {
        "what": "bfcl_eval",
        "decoding": result.info.get("decoding"),
        "status": result.status,
        "error": result.error,
        "score": result.score,
        "n": result.n,
        "attempts": result.attempts,
        "backend": result.info.get("backend"),
        "wall_s": round(time.perf_counter() - t0, 2),
        "max_new_tokens": max_new,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="1,32,128")
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--modes", default="generate,compiled")
    ap.add_argument("--sampling", default="greedy,model,base")
    ap.add_argument("--bfcl-limit", type=int, default=20)
    ap.add_argument("--bfcl-max-new", type=int, default=128)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch
    import transformers

    from ptb.eval.hf import HFGenerator
    from ptb.eval.hf_static import LENGTH_BUCKET

    if not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU")
    name = torch.cuda.get_device_name()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "qwen3-1.7b-random"
        folder.mkdir()
        t0 = time.perf_counter()
        params = build_model(folder)
        nominal = next((v for k, v in NOMINAL_BANDWIDTH.items() if k in name), None)
        measured = measured_bandwidth()
        bytes_ = params * 2
        emit(
            args.out,
            {
                "what": "setup",
                "length_bucket": LENGTH_BUCKET,
                "gpu": name,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "params": params,
                "param_bytes": bytes_,
                "build_s": round(time.perf_counter() - t0, 1),
                "bound_ms_nominal": round(bytes_ / nominal * 1e3, 3) if nominal else None,
                "bound_ms_measured_bw": round(bytes_ / measured * 1e3, 3),
                "measured_bw_tb_s": round(measured / 1e12, 2),
            },
        )
        for mode in args.modes.split(","):
            gen = HFGenerator(folder, decode=mode)
            emit(args.out, {"what": "attention", "mode": mode, "impl": gen.attention()})
            for how in args.sampling.split(","):
                sampling = sampling_settings(folder, how)
                for batch in (int(b) for b in args.batches.split(",")):
                    try:
                        row = time_decode(gen, batch, args.steps, args.prompt_len, sampling)
                    except Exception as exc:  # report and go on: OOM at a batch is a result
                        row = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                    emit(
                        args.out,
                        {"what": "decode", "mode": mode, "sampling": how, "batch": batch,
                         "settings": sampling, **row},
                    )  # fmt: skip
            if mode == args.modes.split(",")[-1] and args.bfcl_limit:
                emit(args.out, run_bfcl(folder, args.bfcl_limit, 32, args.bfcl_max_new))
            del gen
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
