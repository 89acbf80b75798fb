"""Capping repeated text in an answer before a grader reads it, as the original harness does.

PostTrainBench's ArenaHard and HealthBench ``evaluate.py`` pass every generated answer through a
``limit_repetitions(text, max_reps=5)`` before grading it (after removing a leading, closed
``<think>`` block). This module does the same, step for step, so that a looping answer reaches
the grader exactly as it would have there. Three passes, repeated (at most 10 rounds) until none
changes anything:

1. a run of more than ``max_reps`` identical lines keeps ``max_reps`` of them;
2. for block sizes 2 to min(29, lines // 5), the first block of lines repeated back to back more
   than ``max_reps`` times keeps ``max_reps`` copies; lines right after it that are a partial
   copy of the block (each line equal to, a prefix of, or prefixed by the block's line at the
   same place; fewer lines than the block) are dropped too. One block per pass;
3. a substring of 3-30, 30-60, 60-120, 120-250 or 250-500 characters (shortest first, lazily)
   followed by ``max_reps`` or more copies of itself keeps ``max_reps`` copies; repeated until
   no range matches.
"""

from __future__ import annotations

import re

MAX_REPETITIONS = 5
_RANGES = ((3, 30), (30, 60), (60, 120), (120, 250), (250, 500))


def limit_repetitions(text: str, max_reps: int = MAX_REPETITIONS) -> str:
    for _ in range(10):
        text, lines_cut = _cap_line_runs(text, max_reps)
        text, block_cut = _cap_block_run(text, max_reps)
        text, pattern_cut = _cap_patterns(text, max_reps)
        if not (lines_cut or block_cut or pattern_cut):
            break
    return text


def _cap_line_runs(text: str, max_reps: int) -> tuple[str, bool]:
    out: list[str] = []
    cut = False
    lines = text.split("\n")
    start = 0
    while start < len(lines):
        end = start + 1
        while end < len(lines) and lines[end] == lines[start]:
            end += 1
        run = end - start
        cut |= run > max_reps
        out += [lines[start]] * min(run, max_reps)
        start = end
    return "\n".join(out), cut


def _partial_copy(rest: list[str], block: list[str]) -> bool:
    """``rest`` is the start of one more copy of ``block``, line by line, loosely."""
    if len(rest) > len(block):
        return False
    for line, model in zip(rest, block, strict=False):
        if line == model:
            continue
        if line.strip() and model.startswith(line.strip()):
            continue
        if model.strip() and line.startswith(model.strip()):
            continue
        return False
    return True


def _cap_block_run(text: str, max_reps: int) -> tuple[str, bool]:
    lines = text.split("\n")
    for size in range(2, min(30, len(lines) // 5 + 1)):
        for i in range(len(lines) - size + 1):
            block = lines[i : i + size]
            j = i + size
            copies = 1
            while j + size <= len(lines) and lines[j : j + size] == block:
                copies += 1
                j += size
            if copies <= max_reps:
                continue
            rest = lines[j:]
            keep_from = len(lines) if rest and _partial_copy(rest, block) else j
            out = lines[:i] + block * max_reps + lines[keep_from:]
            return "\n".join(out), True
    return text, False


def _cap_patterns(text: str, max_reps: int) -> tuple[str, bool]:
    cut_any = False
    while True:
        cut = False
        for low, high in _RANGES:
            pattern = re.compile(rf"(.{{{low},{high}}}?)\1{{{max_reps},}}", re.DOTALL)

            def cap(match: re.Match[str]) -> str:
                nonlocal cut
                unit, whole = match.group(1), match.group(0)
                if len(whole) // len(unit) > max_reps:
                    cut = True
                    return unit * max_reps
                return whole

            text = pattern.sub(cap, text)
        cut_any |= cut
        if not cut:
            return text, cut_any
