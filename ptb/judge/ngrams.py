"""Word n-gram hashing in numpy: the compiled core of the contamination scan.

Text is normalised byte-wise, identically for the test sets and for the agent's files: ASCII
letters (lower-cased) and digits make words, every other byte separates them. Escape sequences
(``\\n``, ``\\t``, ``\\r``, ``\\"`` and ``\\uXXXX``) separate words too, so a question stored raw,
inside a JSON string or inside a Python literal gives the same words; non-ASCII characters
separate words on both sides, so ``caf\\u00e9`` and ``café`` agree as well.

A word's hash is a polynomial over its bytes computed with one prefix sum (``uint64`` arithmetic
wraps, which is the modulus); an n-gram's hash combines ``n`` consecutive word hashes with fixed
random multipliers. Everything is a handful of array passes per byte, no Python loop per word,
which is what makes the scan run at hundreds of MB/s on one core.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]

_TABLE = np.zeros(256, dtype=np.uint8)
for _c in range(256):
    _ch = chr(_c)
    if _ch.isascii() and _ch.isalnum():
        _TABLE[_c] = ord(_ch.lower())
_ESCAPED = np.zeros(256, dtype=bool)
for _ch in 'ntr"u':
    _ESCAPED[ord(_ch)] = True

_P = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GRAM_MULT = np.random.default_rng(20260101).integers(1, 2**63, size=64, dtype=np.uint64) | 1
_P_INV = np.uint64(pow(int(_P), -1, 2**64))
_POW_CACHE: dict[int, U64] = {}

CHUNK_BYTES = 4 * 1024 * 1024
"""Scan granularity: big enough to amortise numpy's call overhead, small enough for the cache."""


def _powers(base: np.uint64, n: int) -> U64:
    """``base**j`` for ``j < n`` (wrapping), grown on demand and kept."""
    key = int(base)
    cached = _POW_CACHE.get(key)
    if cached is None or len(cached) < n:
        size = max(n, CHUNK_BYTES + 1, 2 * len(cached) if cached is not None else 0)
        pw = np.full(size, base, dtype=np.uint64)
        pw[0] = 1
        with np.errstate(over="ignore"):
            cached = _POW_CACHE[key] = np.cumprod(pw, dtype=np.uint64)
    return cached[:n]


def _mix(x: U64) -> U64:
    """splitmix64's finaliser: spreads the polynomial hash over all 64 bits."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _MIX1
        x = x ^ (x >> np.uint64(27))
        x = x * _MIX2
        return x ^ (x >> np.uint64(31))


def word_values(data: bytes) -> npt.NDArray[np.uint8]:
    """Per-byte values: the lower-cased ASCII letter or digit, 0 for a separator."""
    raw = np.frombuffer(data, dtype=np.uint8)
    vals = _TABLE[raw]
    backslash = np.flatnonzero(raw[:-1] == 92)
    if len(backslash):
        after = backslash + 1
        esc = after[_ESCAPED[raw[after]]]
        vals[esc] = 0
        uni = esc[raw[esc] == ord("u")]
        for k in range(1, 5):
            vals[np.minimum(uni + k, len(vals) - 1)] = 0
    return vals


def word_hashes(data: bytes) -> U64:
    """One 64-bit hash per normalised word of ``data``, in order."""
    vals = word_values(data)
    is_word = vals != 0
    starts = np.flatnonzero(is_word[1:] & ~is_word[:-1]) + 1
    if len(vals) and is_word[0]:
        starts = np.concatenate([[0], starts])
    if not len(starts):
        return np.zeros(0, dtype=np.uint64)
    # Polynomial hash anchored at each word's start, sum(v_j * P**(j - start)): the sum of
    # v_j * P**j over the word (separators are 0, so each segment may run to the next word),
    # re-anchored with P**-start (P is odd, so invertible mod 2**64).
    with np.errstate(over="ignore"):
        sums = np.add.reduceat(_powers(_P, len(vals)) * vals, starts)
        anchored = sums * _powers(_P_INV, len(vals))[starts]
    return _mix(anchored)


def ngram_hashes(words: U64, n: int) -> U64:
    """Hashes of every run of ``n`` consecutive words (none if there are fewer words)."""
    if n < 1 or n > len(_GRAM_MULT):
        raise ValueError(f"n-gram length must be in 1..{len(_GRAM_MULT)}, got {n}")
    count = len(words) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        acc = words[:count] * _GRAM_MULT[0]
        for i in range(1, n):
            acc += words[i : i + count] * _GRAM_MULT[i]
    return _mix(acc)


def text_ngrams(texts: Iterable[str], n: int) -> list[U64]:
    """The set of n-gram hashes of each text (unique, sorted), one array per text."""
    out: list[U64] = []
    for text in texts:
        grams = ngram_hashes(word_hashes(text.encode("utf-8")), n)
        out.append(np.unique(grams))
    return out


def normalise_words(text: str) -> list[str]:
    """The words the hashes stand for (for evidence and the plain reference scan)."""
    vals = word_values(text.encode("utf-8")).tobytes()
    return vals.replace(b"\x00", b" ").decode("ascii").split()
