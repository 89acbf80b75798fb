"""Contamination: did the agent's files contain the task's test items (questions or answers)?

Every data-like file in ``solve/workspace`` (see ``extract``) is scanned against the n-gram index
of the task's test set (see ``index``). An item *overlaps* when at least ``min_coverage`` of its
distinctive question n-grams, or of its answer n-grams, and at least ``min_matches`` of them,
occur in the agent's files; ``min_items`` overlapping items flag the run. So does a large share
of a field's n-grams over the whole test set (``min_set_share``): many copied items that are each
too short to overlap alone (a toy task's JSON answers) add up. The evidence names the items,
their coverage, and the files it came from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ptb.config.judge import ContaminationConfig
from ptb.config.root import RunConfig
from ptb.fsutil import read_json
from ptb.judge.base import Finding
from ptb.judge.extract import Source, chunks, find_sources
from ptb.judge.index import I64, FieldIndex, Scanner, filters
from ptb.rundir import RunDir
from ptb.tasks import Item, load_task


@dataclass
class HeldOutIndex:
    items: list[Item]
    fields: list[FieldIndex]

    def __post_init__(self) -> None:
        self.filters = filters(self.fields)

    @classmethod
    def build(
        cls,
        items: list[Item],
        allowed: list[Item],
        cfg: ContaminationConfig,
        question_ngram: int | None = None,
    ) -> HeldOutIndex:
        allowed_texts = [t for it in allowed for t in (it.prompt, it.target)]
        q = FieldIndex.build(
            "question",
            [it.prompt for it in items],
            allowed_texts,
            question_ngram or cfg.question_ngram,
            cfg.max_item_share,
        )
        a = FieldIndex.build(
            "answer",
            [it.target for it in items],
            allowed_texts,
            cfg.answer_ngram,
            cfg.max_item_share,
        )
        return cls(items, [q, a])

    def describe(self) -> dict[str, Any]:
        return {
            f.name: {
                "n": f.n,
                "distinctive_ngrams": len(f.hashes),
                "ignored_in_allowed_data": f.removed_allowed,
                "ignored_as_boilerplate": f.removed_common,
                "items_with_ngrams": int((f.totals > 0).sum()),
            }
            for f in self.fields
        }


@dataclass
class ScanReport:
    per_file: dict[str, dict[str, I64]]
    """File → field → distinct index positions found in it."""
    occurrences: dict[str, int]
    bytes: int
    seconds: float
    unreadable: list[dict[str, Any]] = field(default_factory=list)


def scan_sources(index: HeldOutIndex, sources: list[Source]) -> ScanReport:
    """Scan every source; one that cannot be read (a corrupt parquet file) is listed, not fatal."""
    per_file: dict[str, dict[str, I64]] = {}
    occurrences = {f.name: 0 for f in index.fields}
    unreadable: list[dict[str, Any]] = []
    total = 0
    t0 = time.perf_counter()
    for source in sources:
        scanner = Scanner(index.fields, index.filters)
        try:
            for chunk in chunks(source):
                scanner.feed(chunk)
        except Exception as exc:  # the agent's file, not ptb's fault: keep what was read
            unreadable.append({"path": source.rel, "error": f"{type(exc).__name__}: {exc}"})
        total += scanner.bytes
        found = {name: scan.distinct() for name, scan in scanner.scans.items()}
        for name, scan in scanner.scans.items():
            occurrences[name] += scan.occurrences
        if any(len(ids) for ids in found.values()):
            per_file[source.rel] = found
    return ScanReport(per_file, occurrences, total, time.perf_counter() - t0, unreadable)


def overlapping_items(
    index: HeldOutIndex, report: ScanReport, cfg: ContaminationConfig
) -> list[dict[str, Any]]:
    """Per item: found / total distinctive n-grams per field, and the files they came from."""
    hits: dict[str, I64] = {}
    file_hits: dict[str, dict[str, I64]] = {}
    for f in index.fields:
        ids = [found[f.name] for found in report.per_file.values()]
        hits[f.name] = f.item_hits(np.concatenate([np.zeros(0, np.int64), *ids]))
        file_hits[f.name] = {
            rel: f.item_hits(found[f.name]) for rel, found in report.per_file.items()
        }
    out: list[dict[str, Any]] = []
    for i, item in enumerate(index.items):
        fields: dict[str, Any] = {}
        overlaps = False
        for f in index.fields:
            found, total = int(hits[f.name][i]), int(f.totals[i])
            coverage = found / total if total else 0.0
            fields[f.name] = {"found": found, "total": total, "coverage": round(coverage, 3)}
            if total and found >= cfg.min_matches and coverage >= cfg.min_coverage:
                overlaps = True
        if overlaps:
            files = sorted(
                {rel for f in index.fields for rel, h in file_hits[f.name].items() if h[i] > 0}
            )
            out.append({"id": item.id, **fields, "files": files})
    return out


def set_coverage(index: HeldOutIndex, report: ScanReport) -> dict[str, dict[str, Any]]:
    """Per field: distinct indexed n-grams found anywhere, over all the field's n-grams."""
    out: dict[str, dict[str, Any]] = {}
    for f in index.fields:
        ids = [found[f.name] for found in report.per_file.values()]
        n = len(np.unique(np.concatenate([np.zeros(0, np.int64), *ids])))
        share = n / len(f.hashes) if len(f.hashes) else 0.0
        out[f.name] = {"found": n, "total": len(f.hashes), "share": round(share, 4)}
    return out


def contamination(run: RunDir, cfg: RunConfig) -> Finding:
    ccfg = cfg.judge.contamination
    task = load_task(cfg.task)
    t0 = time.perf_counter()
    index = HeldOutIndex.build(
        task.test_items(), task.allowed_items(), ccfg, cfg.task.contamination_ngram
    )
    build_s = time.perf_counter() - t0
    prepared = run.prepared
    context = read_json(prepared).get("context_files", []) if prepared.exists() else []
    if not run.workspace.is_dir():
        raise FileNotFoundError(
            f"{run.workspace} does not exist: the solve stage left no workspace"
        )
    exclude = [*ccfg.exclude, *(f"task/{c}" for c in context)]
    sources, skipped = find_sources(run.workspace, exclude, ccfg.max_file_bytes)
    # dataset files the agent downloaded into the HF cache overlay, kept by the solve stage
    # (``ptb.stages.provenance``); named ``hf-cache:<repo>/<file>`` in the evidence
    cached, cached_skipped = find_sources(run.hf_datasets, [], ccfg.max_file_bytes)
    sources += [replace(src, rel=f"hf-cache:{src.rel}") for src in cached]
    skipped += [{**s, "path": f"hf-cache:{s['path']}"} for s in cached_skipped]
    report = scan_sources(index, sources)
    items = overlapping_items(index, report, ccfg)
    set_cov = set_coverage(index, report)
    set_flag = [
        name
        for name, c in set_cov.items()
        if c["found"] >= ccfg.min_set_matches and c["share"] >= ccfg.min_set_share
    ]
    ranked = sorted(report.per_file.items(), key=lambda kv: -sum(len(v) for v in kv[1].values()))
    files = [{"path": rel, **{k: len(v) for k, v in found.items()}} for rel, found in ranked]
    return Finding(
        check="contamination",
        category="contamination",
        flagged=len(items) >= ccfg.min_items or bool(set_flag),
        evidence={
            "rule": (
                f"an item overlaps when >= {ccfg.min_coverage:.0%} and >= {ccfg.min_matches} of "
                f"its distinctive question or answer n-grams are found; "
                f">= {ccfg.min_items} overlapping items flag the run, and so does finding "
                f">= {ccfg.min_set_share:.0%} (and >= {ccfg.min_set_matches}) of a field's "
                "distinctive n-grams over the whole test set"
            ),
            "test_items": len(index.items),
            "overlapping_items": len(items),
            "set_coverage": set_cov,
            "flagged_fields": set_flag,
            "items": items[: ccfg.report_items],
            "files_with_matches": files[:50],
            "ngram_occurrences": report.occurrences,
            "index": index.describe(),
            "files_scanned": len(sources),
            "bytes_scanned": report.bytes,
            "skipped": skipped[:100],
            "unreadable": report.unreadable[:100],
            "excluded": exclude,
            "index_build_s": round(build_s, 3),
            "scan_s": round(report.seconds, 3),
        },
    )
