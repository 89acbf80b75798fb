"""Benchmark: what the gateway's grader route adds to one grader request, on test sets of the real
tasks' size: building the gate when the gateway starts, and checking one request.

    .venv/bin/python benchmarks/grader_gate.py [--repeats 200]

ArenaHard-Writing: 250 prompts of ~80 words with ~600-word reference answers; HealthBench-Easy:
245 conversations of 1-5 turns, ~12 rubric criteria each (the real sets' shapes; the text is
generated). The grader prompts are the test fixtures in the upstream files' formats
(``tests/fixtures/tasks/upstream/``; the real ones are read the same way from the prefetch's
cache). The requests checked are the tasks' own (``GraderPrompt.messages``, ``grader_prompt``)
for the last item (the worst case for HealthBench's scan), plus a refused free-form request.
Prints one JSON line; times are medians in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptb.tasks.arenahard import PairwiseGate, load_prompt
from ptb.tasks.base import Item
from ptb.tasks.healthbench import RubricGate, grader_prompt, load_template

PROMPTS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tasks" / "upstream"

WORDS = [f"w{i}" for i in range(5000)]


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(0)
    refs = {text(rng, 80): text(rng, 600) for _ in range(250)}
    items = []
    for i in range(245):
        turns = [
            {"role": "user" if t % 2 == 0 else "assistant", "content": text(rng, 60)}
            for t in range(rng.choice([1, 3, 5]))
        ]
        rubrics = [{"criterion": text(rng, 20), "points": rng.randint(-5, 8)} for _ in range(12)]
        items.append(
            Item(str(i), turns[-1]["content"], "", {"messages": turns, "rubrics": rubrics})
        )
    prompt, ref = list(refs.items())[-1]
    answer = text(rng, 700)
    grader = load_prompt(str(PROMPTS / "judge_utils.py"), str(PROMPTS / "arena-hard-v2.0.yaml"))
    template = load_template(str(PROMPTS / "grader.py"))
    arena_req = grader.messages(prompt, ref, answer)
    last = items[-1]
    health_req = [
        {
            "role": "user",
            "content": grader_prompt(
                template, last.meta["messages"], answer, last.meta["rubrics"][-1]
            ),
        }
    ]
    free = [{"role": "user", "content": text(rng, 200)}]

    arena = PairwiseGate(grader, refs, "paper")
    health = RubricGate(template, items, "paper")
    assert arena.check(arena_req) is None and health.check(health_req) is None
    assert arena.check(free) and health.check(free)
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                "python": platform.python_version(),
                "build_ms": {
                    "arenahard_250": median_ms(lambda: PairwiseGate(grader, refs, "paper"), 20),
                    "healthbench_245": median_ms(lambda: RubricGate(template, items, "paper"), 20),
                },
                "check_ms": {
                    "arenahard_admitted": median_ms(lambda: arena.check(arena_req), args.repeats),
                    "healthbench_admitted": median_ms(
                        lambda: health.check(health_req), args.repeats
                    ),
                    "arenahard_refused": median_ms(lambda: arena.check(free), args.repeats),
                    "healthbench_refused": median_ms(lambda: health.check(free), args.repeats),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
