"""The n-gram index of a test set and the scan of agent data against it.

Questions (``Item.prompt``) and answers (``Item.target``) are indexed separately, each with its
own n-gram length. Only *distinctive* n-grams go in: those also found in the allowed training
data (``Task.allowed_items()``, e.g. GSM8K's train split or a toy task's train split) and those
shared by many test items (prompt boilerplate such as BFCL's function-calling instructions) say
nothing about one item and are left out. An item's coverage is the share of its distinctive
n-grams found anywhere in the agent's data, counted once however often they repeat.

Lookup is a two-step filter: a 4 MiB bitset indexed by the hash's top 25 bits (small enough to
stay in cache) rejects nearly every n-gram of unrelated text with one gather; the few survivors
are sorted and confirmed by binary search in the sorted hash array.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from math import ceil

import numpy as np
import numpy.typing as npt

from ptb.judge.ngrams import U64, ngram_hashes, text_ngrams, word_hashes

FILTER_BITS = 25
_SHIFT = np.uint64(64 - FILTER_BITS)
I64 = npt.NDArray[np.int64]


def bitset(hashes: U64) -> npt.NDArray[np.uint8]:
    """The presence bitset over the top ``FILTER_BITS`` bits of ``hashes``."""
    bits = np.zeros(1 << (FILTER_BITS - 3), dtype=np.uint8)
    top = (hashes >> _SHIFT).astype(np.int64)
    np.bitwise_or.at(bits, top >> 3, (1 << (top & 7)).astype(np.uint8))
    return bits


def candidates(bits: npt.NDArray[np.uint8], grams: U64) -> U64:
    """The n-grams whose bit is set, sorted (binary search runs faster on sorted keys)."""
    top = (grams >> _SHIFT).astype(np.intp)
    hit = (bits[top >> 3] >> (top & 7).astype(np.uint8)) & 1
    return np.sort(grams[hit.view(bool)])


def filters(fields: Sequence[FieldIndex]) -> dict[int, npt.NDArray[np.uint8]]:
    """One bitset per n-gram length over every field of that length (one gather per chunk)."""
    out: dict[int, npt.NDArray[np.uint8]] = {}
    for n in {f.n for f in fields}:
        out[n] = bitset(np.concatenate([f.hashes for f in fields if f.n == n]))
    return out


@dataclass
class FieldIndex:
    """Distinctive n-grams of one field (question or answer) of every test item."""

    name: str
    n: int
    hashes: U64
    """Sorted, unique."""
    ptr: I64
    """CSR: the items of ``hashes[k]`` are ``items[ptr[k]:ptr[k + 1]]``."""
    items: I64
    totals: I64
    """Distinctive n-grams per item."""
    removed_allowed: int = 0
    removed_common: int = 0
    present: npt.NDArray[np.uint8] = field(init=False)
    """Bitset over the top ``FILTER_BITS`` bits of the hashes."""

    def __post_init__(self) -> None:
        self.present = bitset(self.hashes)

    @classmethod
    def build(
        cls,
        name: str,
        texts: Sequence[str],
        allowed: Iterable[str],
        n: int,
        max_item_share: float,
    ) -> FieldIndex:
        per_item = text_ngrams(texts, n)
        allowed_grams = np.unique(
            np.concatenate([np.zeros(0, np.uint64), *text_ngrams(allowed, n)])
        )
        lengths = np.array([len(g) for g in per_item], dtype=np.int64)
        grams = np.concatenate([np.zeros(0, np.uint64), *per_item])
        owner = np.repeat(np.arange(len(per_item), dtype=np.int64), lengths)
        keep = ~np.isin(grams, allowed_grams)
        removed_allowed = int((~keep).sum())
        grams, owner = grams[keep], owner[keep]
        order = np.argsort(grams, kind="stable")
        grams, owner = grams[order], owner[order]
        uniq, counts = np.unique(grams, return_counts=True)
        limit = max(2, ceil(max_item_share * len(texts)))
        common = counts > limit
        removed_common = int(counts[common].sum())
        keep_rows = np.repeat(~common, counts)
        uniq, counts = uniq[~common], counts[~common]
        owner = owner[keep_rows]
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        totals = np.bincount(owner, minlength=len(texts)).astype(np.int64)
        return cls(name, n, uniq, ptr, owner, totals, removed_allowed, removed_common)

    def lookup(self, grams: U64) -> I64:
        """Positions in ``hashes`` of the n-grams of ``grams`` that are in the index."""
        return self.confirm(candidates(self.present, grams))

    def confirm(self, cand: U64) -> I64:
        """Positions in ``hashes`` of the sorted candidates that really are in the index."""
        if not len(cand) or not len(self.hashes):
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.hashes, cand)
        pos[pos == len(self.hashes)] = 0
        return pos[self.hashes[pos] == cand].astype(np.int64)

    def item_hits(self, ids: I64) -> I64:
        """Distinct indexed n-grams found per item, given the distinct found positions."""
        ids = np.unique(ids)
        if not len(ids):
            return np.zeros(len(self.totals), dtype=np.int64)
        starts, ends = self.ptr[ids], self.ptr[ids + 1]
        lens = ends - starts
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        owners = self.items[np.arange(lens.sum()) + offsets]
        return np.bincount(owners, minlength=len(self.totals)).astype(np.int64)


@dataclass
class FieldScan:
    """What one stream of text matched in one field index."""

    ids: list[I64] = field(default_factory=list)
    occurrences: int = 0

    def distinct(self) -> I64:
        return np.unique(np.concatenate([np.zeros(0, np.int64), *self.ids]))


class Scanner:
    """Feeds chunks of one text stream (a file) through the field indexes."""

    def __init__(
        self,
        fields: Sequence[FieldIndex],
        by_n: dict[int, npt.NDArray[np.uint8]] | None = None,
    ) -> None:
        self.fields = fields
        self.filters = by_n if by_n is not None else filters(fields)
        self.keep = max(f.n for f in fields) - 1
        self.carry = np.zeros(0, dtype=np.uint64)
        self.scans = {f.name: FieldScan() for f in fields}
        self.bytes = 0

    def feed(self, chunk: bytes) -> None:
        """Chunks must be cut between words (``extract.chunks`` does)."""
        self.bytes += len(chunk)
        new = word_hashes(chunk)
        cands: dict[int, U64] = {}
        for f in self.fields:
            if f.n not in cands:
                # the n-grams that start in the carried words and end in this chunk, then the
                # chunk's own (no copy of the whole chunk's words)
                tail = self.carry[max(0, len(self.carry) - (f.n - 1)) :]
                edge = np.concatenate([tail, new[: f.n - 1]])
                grams = np.concatenate([ngram_hashes(edge, f.n), ngram_hashes(new, f.n)])
                cands[f.n] = candidates(self.filters[f.n], grams)
            ids = f.confirm(cands[f.n])
            if len(ids):
                scan = self.scans[f.name]
                scan.ids.append(np.unique(ids))
                scan.occurrences += len(ids)
        if not self.keep:
            self.carry = new[:0]
        elif len(new) >= self.keep:
            self.carry = new[len(new) - self.keep :]
        else:  # a chunk of fewer words than an n-gram: keep the older ones too
            self.carry = np.concatenate([self.carry, new])[-self.keep :]
