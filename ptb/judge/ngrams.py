"""Word n-gram hashing in numpy: the compiled core of the contamination scan.

Text is normalised byte-wise, identically for the test sets and for the agent's files: ASCII
letters (lower-cased) and digits make words, every other byte separates them. Escape sequences
(``\\n``, ``\\t``, ``\\r``, ``\\"`` and ``\\uXXXX``) separate words too, so a question stored raw,
inside a JSON string or inside a Python literal gives the same words; non-ASCII characters
separate words on both sides, so ``caf\\u00e9`` and ``café`` agree as well.

A word's hash comes from unaligned 8-byte loads at its start (see ``word_hashes``); an n-gram's
hash combines ``n`` consecutive word hashes with fixed random multipliers. Everything is a
handful of array passes, no Python loop per word, which is what makes the scan run at more than
a hundred MB/s on one core.
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
_TRANSLATE = _TABLE.tobytes()
_ESCAPED = np.zeros(256, dtype=bool)
for _ch in 'ntr"u':
    _ESCAPED[ord(_ch)] = True

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GRAM_MULT = np.random.default_rng(20260101).integers(1, 2**63, size=64, dtype=np.uint64) | 1

CHUNK_BYTES = 4 * 1024 * 1024
"""Scan granularity: big enough to amortise numpy's call overhead, small enough for the cache."""


def _mix(x: U64) -> U64:
    """splitmix64's finaliser: spreads the polynomial hash over all 64 bits."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _MIX1
        x = x ^ (x >> np.uint64(27))
        x = x * _MIX2
        return x ^ (x >> np.uint64(31))


PAD = 16
"""Zero bytes after the text, so an 8-byte load at any word start stays inside the buffer."""
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
_WORD_MULT = np.uint64(0x9E3779B97F4A7C15)
MAX_WORD_LOADS = 8
"""Words are hashed on their first 8 * 8 = 64 characters (longer ones are not prose)."""


def word_values(data: bytes) -> npt.NDArray[np.uint8]:
    """Per-byte values: the lower-cased ASCII letter or digit, 0 for a separator; followed by
    ``PAD`` zero bytes."""
    raw = np.frombuffer(data, dtype=np.uint8)
    # bytes.translate is a C loop over a 256-byte table: faster than a numpy gather
    vals = np.empty(len(raw) + PAD, dtype=np.uint8)
    vals[len(raw) :] = 0
    vals[: len(raw)] = np.frombuffer(bytes(data).translate(_TRANSLATE), dtype=np.uint8)
    backslash = np.flatnonzero(raw[:-1] == 92)
    if len(backslash):
        after = backslash + 1
        esc = after[_ESCAPED[raw[after]]]
        vals[esc] = 0
        uni = esc[raw[esc] == ord("u")]
        for k in range(1, 5):
            vals[np.minimum(uni + k, len(raw))] = 0
    return vals


def word_hashes(data: bytes) -> U64:
    """One 64-bit hash per normalised word of ``data``, in order.

    A word's first 8 bytes are read with one unaligned 8-byte load at its start (a strided
    ``uint64`` view over the byte buffer), masked to the word's length; longer words fold in
    further loads. Every step is an array operation over words, not bytes, except finding the
    word boundaries.
    """
    vals = word_values(data)
    n = len(vals) - PAD
    is_word = vals != 0
    edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
    if n and is_word[0]:
        edges = np.concatenate([[0], edges])
    starts, ends = edges[0::2], edges[1::2]
    if not len(starts):
        return np.zeros(0, dtype=np.uint64)
    lengths = ends - starts
    words64 = np.frombuffer(vals.data, dtype=np.uint64, count=len(vals) // 8)
    at = np.lib.stride_tricks.as_strided(words64, shape=(n + 8,), strides=(1,))
    h = at[starts] & _MASKS[np.minimum(lengths, 8)]
    longer = np.flatnonzero(lengths > 8)
    with np.errstate(over="ignore"):
        for k in range(1, MAX_WORD_LOADS):
            if not len(longer):
                break
            rest = lengths[longer] - 8 * k
            h[longer] = h[longer] * _WORD_MULT + (
                at[starts[longer] + 8 * k] & _MASKS[np.minimum(rest, 8)]
            )
            longer = longer[rest > 8]
        return _mix(h ^ lengths.astype(np.uint64))


def ngram_hashes(words: U64, n: int) -> U64:
    """Hashes of every run of ``n`` consecutive words (none if there are fewer words)."""
    if n < 1 or n > len(_GRAM_MULT):
        raise ValueError(f"n-gram length must be in 1..{len(_GRAM_MULT)}, got {n}")
    count = len(words) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    # The word hashes are already mixed, so a sum with random odd multipliers is well spread
    # and needs no finaliser of its own.
    acc = np.empty(count, dtype=np.uint64)
    tmp = np.empty(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.multiply(words[:count], _GRAM_MULT[0], out=acc)
        for i in range(1, n):
            np.multiply(words[i : i + count], _GRAM_MULT[i], out=tmp)
            acc += tmp
    return acc


def text_ngrams(texts: Iterable[str], n: int) -> list[U64]:
    """The set of n-gram hashes of each text (unique, sorted), one array per text."""
    out: list[U64] = []
    for text in texts:
        grams = ngram_hashes(word_hashes(text.encode("utf-8")), n)
        out.append(np.unique(grams))
    return out
