"""Benchmark: the retention stage's wall time (``retention=general`` sizes) against evaluate's.

Builds a random-weight model of the real Qwen3-1.7B shape (``hf_decode.build_model``: bf16,
ptb's local tokenizer) and writes local lm-eval tasks in the formats and sizes of the `general`
preset, with generated items (the hub is not reachable on the lent GPU machine):

- ``gen_mmlu``: a group of 57 subjects x ``limit`` (10) test items, 5-shot from a dev split,
  "Question ... A. .. B. .. Answer:" scored on the letters (loglikelihood, acc);
- ``gen_arc``: 500 items, 25-shot, the answer texts as choices (acc_norm);
- ``gen_hellaswag``: 500 contexts x 4 endings, 10-shot (acc_norm);
- ``gen_ifeval``: 200 instructions, 0-shot, greedy generation up to 1,280 tokens (IFEval's
  ``max_gen_toks``; random weights never stop early, so this is its upper bound).

Then times ``ptb.retention.lmeval.run_suite`` (what the stage runs per model: load, then every
task) and, for comparison, the evaluate stage's path on BFCL (``hf_decode.run_bfcl``: 100 items,
``--bfcl-max-new`` tokens each). One JSON line per figure.

    PYTHONPATH=<ptb>:<lm-eval and its deps, hydra, omegaconf, bfcl_eval> \
        python3 benchmarks/retention_stage.py [--model qwen3_1_7b|tiny] [--scale 1.0] \
        [--backend auto] [--bfcl-max-new 256] [--out results.jsonl]

``--model tiny --scale 0.05`` runs the same on a CPU in about a minute (a check of the script).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_decode import build_model, emit, run_bfcl

WORDS = [
    "the",
    "of",
    "model",
    "energy",
    "river",
    "system",
    "value",
    "cell",
    "market",
    "law",
    "force",
    "light",
    "number",
    "theory",
    "state",
    "water",
    "power",
    "city",
    "history",
    "data",
    "signal",
    "change",
    "rate",
    "group",
    "field",
    "wave",
    "price",
    "trade",
    "court",
    "plant",
    "heat",
    "motion",
    "charge",
    "current",
    "mass",
    "species",
    "protein",
    "crystal",
    "vote",
    "tax",
    "labor",
    "credit",
]
# (task, test items, shots, words per question, words per choice, choices, output)
GENERAL = {
    "gen_mmlu": (10, 5, 45, 6, 4, "letter"),  # per subject; 57 subjects
    "gen_arc": (500, 25, 22, 4, 4, "text"),
    "gen_hellaswag": (500, 10, 35, 18, 4, "text"),
    "gen_ifeval": (200, 0, 40, 0, 0, "generate"),
}
MMLU_SUBJECTS = 57


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def _items(rng: random.Random, n: int, qw: int, cw: int, nc: int) -> list[dict[str, Any]]:
    return [
        {
            "q": _text(rng, qw),
            "choices": [_text(rng, cw) for _ in range(nc)],
            "label": rng.randrange(max(nc, 1)),
        }
        for _ in range(n)
    ]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _mc_yaml(name: str, folder: Path, letter: bool, shots_split: bool) -> str:
    if letter:
        text = (
            '"{{q}}\\nA. {{choices[0]}}\\nB. {{choices[1]}}\\nC. {{choices[2]}}\\n'
            'D. {{choices[3]}}\\nAnswer:"'
        )
        choice = '["A", "B", "C", "D"]'
        metrics = "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
    else:
        text, choice = '"Question: {{q}}\\nAnswer:"', '"{{choices}}"'
        metrics = (
            "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
            "  - {metric: acc_norm, aggregation: mean, higher_is_better: true}\n"
        )
    files = f"    test: {folder / (name + '.test.jsonl')}\n"
    split = ""
    if shots_split:
        files += f"    train: {folder / (name + '.train.jsonl')}\n"
        split = "fewshot_split: train\n"
    return (
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n{files}"
        f"test_split: test\n{split}output_type: multiple_choice\n"
        f"doc_to_text: {text}\ndoc_to_choice: {choice}\ndoc_to_target: label\n"
        f"metric_list:\n{metrics}"
    )


def write_suite(
    root: Path, scale: float, gen_tokens: int = 1280
) -> tuple[Path, list[dict[str, Any]]]:
    """The generated tasks under ``root`` and the suite (RetentionTask fields) to run."""
    rng = random.Random(0)
    root.mkdir(parents=True, exist_ok=True)
    suite: list[dict[str, Any]] = []
    for name, (n, shots, qw, cw, nc, kind) in GENERAL.items():
        n = max(2, round(n * scale))
        if kind == "generate":
            _write_jsonl(root / f"{name}.test.jsonl", [{"q": _text(rng, qw)} for _ in range(n)])
            (root / f"{name}.yaml").write_text(
                f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
                f"    test: {root / (name + '.test.jsonl')}\ntest_split: test\n"
                'output_type: generate_until\ndoc_to_text: "{{q}}"\ndoc_to_target: ""\n'
                "generation_kwargs:\n  until: []\n  do_sample: false\n"
                f"  max_gen_toks: {gen_tokens}\n"
                "metric_list:\n  - {metric: exact_match, aggregation: mean, "
                "higher_is_better: true}\n"
            )
            suite.append({"name": name, "shots": 0, "limit": n})
            continue
        subtasks = [f"{name}_{i}" for i in range(MMLU_SUBJECTS)] if kind == "letter" else [name]
        for sub in subtasks:
            _write_jsonl(root / f"{sub}.test.jsonl", _items(rng, n, qw, cw, nc))
            _write_jsonl(root / f"{sub}.train.jsonl", _items(rng, max(shots, 5), qw, cw, nc))
            (root / f"{sub}.yaml").write_text(_mc_yaml(sub, root, kind == "letter", True))
        if kind == "letter":
            (root / f"{name}_group.yaml").write_text(
                f"group: {name}\ntask:\n"
                + "".join(f"  - {s}\n" for s in subtasks)
                + "aggregate_metric_list:\n  - {metric: acc, weight_by_size: true}\n"
            )
        suite.append({"name": name, "shots": shots, "limit": n})
    return root, suite


def time_suite(
    path: Path, tasks_dir: Path, suite: list[dict[str, Any]], backend: str, batch_size: str
) -> dict:
    from ptb.config.choices import EvalBackend
    from ptb.config.retention import RetentionConfig, RetentionTask
    from ptb.retention.lmeval import run_suite

    cfg = RetentionConfig(
        name="general-shaped",
        tasks=[RetentionTask(**t) for t in suite],
        include_path=[str(tasks_dir)],
        include_defaults=False,
        backend=EvalBackend(backend),
        batch_size=batch_size,
    )
    t0 = time.perf_counter()
    result = run_suite(cfg, path)
    return {
        "what": "retention_suite",
        "backend": result.backend,
        "wall_s": round(time.perf_counter() - t0, 2),
        "suite": suite,
        "values": result.values,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["qwen3_1_7b", "tiny"], default="qwen3_1_7b")
    ap.add_argument("--scale", type=float, default=1.0, help="item counts x this")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--bfcl-max-new", type=int, default=256)
    ap.add_argument("--bfcl-limit", type=int, default=100)
    ap.add_argument("--batch-size", default="64", help="lm-eval's batch_size (HF backend)")
    ap.add_argument("--gen-tokens", type=int, default=1280, help="the IFEval-shaped max_gen_toks")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.model == "tiny":
            from ptb.models.tiny import build_tiny_qwen3

            folder = build_tiny_qwen3(root / "cache")
        else:
            folder = root / "model"
            folder.mkdir()
            t0 = time.perf_counter()
            n = build_model(folder)
            emit(
                args.out,
                {"what": "model", "params": n, "build_s": round(time.perf_counter() - t0, 2)},
            )
        # the tiny model holds 1,024 positions
        gen_tokens = min(args.gen_tokens, 64) if args.model == "tiny" else args.gen_tokens
        tasks_dir, suite = write_suite(root / "tasks", args.scale, gen_tokens)
        emit(args.out, time_suite(folder, tasks_dir, suite, args.backend, args.batch_size))
        if args.bfcl_limit:
            emit(args.out, run_bfcl(folder, args.bfcl_limit, 32, args.bfcl_max_new))


if __name__ == "__main__":
    main()
