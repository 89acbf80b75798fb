"""The n-gram hashing core: one normalisation for raw, JSON-escaped and Python-literal text,
chunking that loses nothing, and agreement with a plain-Python set-of-n-grams reference."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from ptb.config.judge import ContaminationConfig
from ptb.judge.contamination import HeldOutIndex
from ptb.judge.index import Scanner
from ptb.judge.ngrams import PAD, ngram_hashes, word_hashes, word_values
from ptb.tasks.base import Item

_WORDS_TEXT = (
    "alpha beta gamma delta epsilon zeta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega apple river stone cloud market doctor patient "
    "engine theorem "
)
WORDS = _WORDS_TEXT.split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def normalise_words(text: str) -> list[str]:
    """The words the hashes stand for."""
    vals = word_values(text.encode("utf-8"))[:-PAD].tobytes()
    return vals.replace(b"\x00", b" ").decode("ascii").split()


@pytest.mark.parametrize(
    "variant",
    [
        "The  QUICK brown fox, jumps!",
        json.dumps({"text": 'The quick\nbrown fox "jumps"'}),
        repr("The quick\tbrown fox\r\njumps"),
        "the-quick/brown_fox:jumps",
    ],
)
def test_one_normalisation_for_raw_json_and_literals(variant: str) -> None:
    words = [w for w in normalise_words(variant) if w != "text"]
    assert words == ["the", "quick", "brown", "fox", "jumps"]
    hashes = word_hashes(variant.encode())
    ref = word_hashes(b"the quick brown fox jumps")
    assert set(ref.tolist()) <= set(hashes.tolist())


def test_non_ascii_separates_words_the_same_way_escaped_or_not() -> None:
    raw = "café olé".encode()
    escaped = json.dumps("café olé").encode()  # ensure_ascii: caf\u00e9 ol\u00e9
    assert list(word_hashes(raw)) == list(word_hashes(escaped))


def test_long_and_prefix_words_hash_apart() -> None:
    words = ["abcdefgh", "abcdefghi", "abcdefghij", "abcdefghik", "a" * 70, "a" * 71, "ab", "ba"]
    hashes = word_hashes(" ".join(words).encode())
    assert len(hashes) == len(words)
    assert len(set(hashes.tolist())) == len(words)
    assert word_values(b"ab")[-PAD:].sum() == 0


def test_ngram_hashes_count_and_bounds() -> None:
    words = word_hashes(b"a b c d e f g")
    assert len(ngram_hashes(words, 3)) == 5
    assert len(ngram_hashes(words, 8)) == 0
    with pytest.raises(ValueError, match="n-gram length"):
        ngram_hashes(words, 0)


def _index(items: list[Item], n: int = 5) -> HeldOutIndex:
    cfg = ContaminationConfig(question_ngram=n, answer_ngram=n, max_item_share=1.0)
    return HeldOutIndex.build(items, [], cfg)


def test_chunked_scan_equals_whole_scan() -> None:
    rng = random.Random(0)
    items = [Item(str(i), sentence(rng, 30), sentence(rng, 12)) for i in range(20)]
    text = " ".join(sentence(rng, 50) + " " + it.prompt for it in items[:8]).encode()
    index = _index(items)
    whole = Scanner(index.fields)
    whole.feed(text)
    parts = Scanner(index.fields)
    spaces = [m.start() for m in re.finditer(rb" ", text)]
    words = Scanner(index.fields)  # one word a chunk: n-grams span many chunks
    for a, b in zip([0, *spaces], [*spaces, len(text)], strict=True):
        words.feed(text[a:b])
    cuts = sorted(rng.sample(spaces, 40))
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
        parts.feed(text[a:b])
    for name in ("question", "answer"):
        for other in (parts, words):
            assert whole.scans[name].distinct().tolist() == other.scans[name].distinct().tolist()
            assert whole.scans[name].occurrences == other.scans[name].occurrences
    assert len(whole.scans["question"].distinct()) > 0


def test_fast_scan_agrees_with_plain_python_reference() -> None:
    rng = random.Random(1)
    n = 4
    items = [Item(str(i), sentence(rng, 25), sentence(rng, 10)) for i in range(30)]
    data = " . ".join(sentence(rng, 40) for _ in range(200))
    data += " " + " ".join(it.prompt for it in items[::3])
    index = _index(items, n)
    scanner = Scanner(index.fields)
    scanner.feed(data.encode())
    q = index.fields[0]
    found = q.item_hits(scanner.scans["question"].distinct())

    def grams(text: str) -> set[tuple[str, ...]]:
        w = text.split()
        return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}

    seen = grams(data)
    per_item = [grams(it.prompt) for it in items]
    counts = {g: sum(g in p for p in per_item) for p in per_item for g in p}
    for i, own in enumerate(per_item):
        distinctive = {g for g in own if counts[g] <= max(2, len(items))}
        assert q.totals[i] == len(distinctive)
        assert found[i] == len(distinctive & seen), i
    assert np.count_nonzero(found == q.totals) >= 10
