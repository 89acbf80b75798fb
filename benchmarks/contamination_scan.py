"""Benchmark: contamination-scan throughput against the n-gram index of seven test sets, next to
a plain-Python set-of-n-grams scan of the same data in the same run.

    .venv/bin/python benchmarks/contamination_scan.py [--mb 200] [--plain-mb 20] [--repeats 3]

The seven test sets are modelled on the paper's (items, words per question / answer): AIME 2025,
GSM8K, GPQA, HumanEval, BFCL, ArenaHard-Writing, HealthBench-Easy, with text drawn from one
Zipf-distributed vocabulary shared with the agent data (so common words and n-gram prefixes do
collide, as in real text). ``--tasks a,b`` indexes real ``Task`` implementations instead (their
test sets must be loadable here). The agent data are jsonl files (renamed fields, chat format)
with a few test items planted. Fast scan = file reading + extraction + hashing + lookup
(``ptb.judge.contamination.scan_sources``), on one core. Throughput is given by wall time and by
process CPU time (the fair figure on a shared machine); the fast scan's is the best repeat.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from ptb.config.judge import ContaminationConfig
from ptb.judge.contamination import HeldOutIndex, overlapping_items, scan_sources
from ptb.judge.extract import find_sources
from ptb.tasks.base import Item

SETS = {  # name: (items, question words, answer words), as in the paper's test sets
    "aime2025": (30, 60, 1),
    "gsm8k": (1319, 46, 50),
    "gpqa": (448, 140, 12),
    "humaneval": (164, 120, 60),
    "bfcl": (100, 260, 15),
    "arenahard_writing": (250, 80, 400),
    "healthbench": (245, 150, 200),
}


class Words:
    """A fixed vocabulary with Zipf-like frequencies."""

    def __init__(self, size: int = 30000, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
        lengths = rng.integers(2, 11, size=size)
        self.vocab = np.array(["".join(rng.choice(letters, size=n)) for n in lengths])
        p = 1.0 / np.arange(1, size + 1) ** 1.05
        self.p = p / p.sum()
        self.rng = rng

    def text(self, n: int) -> str:
        return " ".join(self.vocab[self.rng.choice(len(self.vocab), size=n, p=self.p)])


def synthetic_items(words: Words) -> list[Item]:
    items: list[Item] = []
    for name, (n, q, a) in SETS.items():
        for i in range(n):
            items.append(Item(f"{name}-{i}", words.text(q), words.text(a)))
    return items


def task_items(names: list[str]) -> list[Item]:
    from ptb.tasks import load_task
    from tests.support.planted import compose  # the configs as the CLI composes them

    items: list[Item] = []
    for name in names:
        cfg = compose([f"task={name}"]).task
        from omegaconf import OmegaConf

        items += load_task(OmegaConf.to_object(cfg)).test_items()
    return items


def write_agent_data(folder: Path, words: Words, items: list[Item], mb: int) -> int:
    folder.mkdir(parents=True)
    planted = items[:: max(1, len(items) // 25)][:25]
    total = 0
    part = 0
    while total < mb * 1_000_000:
        rows = []
        for k in range(2000):
            if part == 0 and k < len(planted):
                it = planted[k]
                rows.append({"answer_text": it.target, "q": it.prompt, "source": "planted"})
            else:
                rows.append(
                    {"messages": [{"role": "user", "content": words.text(60)},
                                  {"role": "assistant", "content": words.text(120)}]}
                )  # fmt: skip
        data = "".join(json.dumps(r) + "\n" for r in rows)
        (folder / f"part{part:04d}.jsonl").write_text(data)
        total += len(data)
        part += 1
    return total


def plain_scan(
    files: list[Path], items: list[Item], n: int, limit: int
) -> tuple[float, float, int, int]:
    """The reference: a set of word-tuple n-grams, a regex tokeniser, a Python loop."""
    norm = re.compile(r"[^a-z0-9]+")

    def grams(text: str) -> set[tuple[str, ...]]:
        w = norm.sub(" ", text.lower()).split()
        return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}

    qset = set().union(*(grams(it.prompt) for it in items))
    aset = set().union(*(grams(it.target) for it in items))
    hits, done = 0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    for path in files:
        if done >= limit:
            break
        text = path.read_text(encoding="utf-8").replace("\\n", " ")
        done += len(text.encode())
        w = norm.sub(" ", text.lower()).split()
        for i in range(len(w) - n + 1):
            g = tuple(w[i : i + n])
            if g in qset or g in aset:
                hits += 1
    return time.perf_counter() - t0, time.process_time() - c0, done, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200, help="agent data to scan (MB)")
    parser.add_argument("--plain-mb", type=int, default=20, help="data the plain scan reads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", default="", help="index real tasks instead (comma-separated)")
    args = parser.parse_args()
    words = Words()
    items = task_items(args.tasks.split(",")) if args.tasks else synthetic_items(words)
    cfg = ContaminationConfig()
    t0 = time.perf_counter()
    index = HeldOutIndex.build(items, [], cfg)
    build_s = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="ptb-contam-bench-", dir="/var/tmp"))
    try:
        total = write_agent_data(tmp / "ws", words, items, args.mb)
        sources, _ = find_sources(tmp / "ws", [], 1 << 40)
        times, cpu = [], []
        for _ in range(args.repeats):
            c0 = time.process_time()
            report = scan_sources(index, sources)
            cpu.append(time.process_time() - c0)
            times.append(report.seconds)
        found = overlapping_items(index, report, cfg)
        plain_s, plain_cpu, plain_bytes, plain_hits = plain_scan(
            sorted((tmp / "ws").glob("*.jsonl")), items, cfg.question_ngram, args.plain_mb * 10**6
        )
        fast_mb_s = total / 1e6 / min(times)
        plain_mb_s = plain_bytes / 1e6 / plain_s
        fast_cpu_mb_s = total / 1e6 / min(cpu)
        plain_cpu_mb_s = plain_bytes / 1e6 / plain_cpu
        print(json.dumps({
            "benchmark": "contamination_scan",
            "test_items": len(items),
            "index_ngrams": {f.name: len(f.hashes) for f in index.fields},
            "index_build_s": round(build_s, 2),
            "agent_mb": round(total / 1e6, 1),
            "fast_s": [round(t, 2) for t in times],
            "fast_mb_s": round(fast_mb_s, 1),
            "plain_mb": round(plain_bytes / 1e6, 1),
            "plain_s": round(plain_s, 2),
            "plain_mb_s": round(plain_mb_s, 2),
            "speedup": round(fast_mb_s / plain_mb_s, 1),
            "fast_cpu_mb_s": round(fast_cpu_mb_s, 1),
            "plain_cpu_mb_s": round(plain_cpu_mb_s, 2),
            "speedup_cpu": round(fast_cpu_mb_s / plain_cpu_mb_s, 1),
            "planted_items_found": len(found),
            "plain_hits_in_first_part": plain_hits,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), numpy {np.__version__}",  # noqa: E501
        }), flush=True)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
