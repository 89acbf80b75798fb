"""The contamination index and scan on a small natural-text fixture task: every file format, the
allowed-data and boilerplate exclusions, repetition, the item and whole-set rules."""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path

import pytest

from ptb.config.judge import ContaminationConfig
from ptb.judge.contamination import HeldOutIndex, overlapping_items, scan_sources, set_coverage
from ptb.judge.extract import find_sources
from ptb.tasks.base import Item

_VOCAB_TEXT = (
    "the a farmer sells eggs apples market morning each day dozen price dollars she he "
    "buys keeps rest bakes muffins friends four three seven sixteen how many much does "
    "make train leaves station travels miles hour speed later arrives city noon what "
    "distance total tank water litres fills empties minutes pipe rate "
)
VOCAB = _VOCAB_TEXT.split()
BOILERPLATE = "Solve the problem and put the final answer after four hashes"


def fixture_items(n: int = 40, seed: int = 0) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        q = " ".join(rng.choice(VOCAB) for _ in range(45))
        a = " ".join(rng.choice(VOCAB) for _ in range(18)) + f" #### {rng.randint(1, 999)}"
        items.append(Item(f"q{i}", f"{q}. {BOILERPLATE}.", a))
    return items


ITEMS = fixture_items()
ALLOWED = fixture_items(40, seed=1)
CFG = ContaminationConfig()


def scan(folder: Path, cfg: ContaminationConfig = CFG, allowed: list[Item] | None = None):  # type: ignore[no-untyped-def]
    index = HeldOutIndex.build(ITEMS, allowed or [], cfg)
    sources, skipped = find_sources(folder, [], 1 << 30)
    report = scan_sources(index, sources)
    return index, report, overlapping_items(index, report, cfg), skipped


def _pairs(items: list[Item]) -> list[dict[str, str]]:
    return [{"question": it.prompt, "answer": it.target} for it in items]


def write_jsonl(d: Path) -> None:
    (d / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _pairs(ITEMS[:10])))


def write_json_renamed(d: Path) -> None:
    rows = {f"k{i}": {"meta": {"x": 1}, "gold_answer": it.target, "input_txt": it.prompt}
            for i, it in enumerate(ITEMS[:10])}  # fmt: skip
    (d / "b.json").write_text(json.dumps(rows, indent=2))


def write_csv(d: Path) -> None:
    with (d / "c.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "q"])
        w.writerows([(it.target, it.prompt) for it in ITEMS[:10]])


def write_py_literals(d: Path) -> None:
    body = ",\n".join(f"    ({it.prompt!r},\n     {it.target!r})" for it in ITEMS[:10])
    (d / "train.py").write_text(f"DATA = [\n{body}\n]\n")


def write_gz(d: Path) -> None:
    with gzip.open(d / "d.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in _pairs(ITEMS[:10]))


def write_parquet(d: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"conv": [[{"role": "user", "text": it.prompt}] for it in ITEMS[:10]],
                  "label": [it.target for it in ITEMS[:10]]}),
        d / "e.parquet",
    )  # fmt: skip


def write_hf_dataset(d: Path) -> None:
    """The layout of ``datasets.Dataset.save_to_disk``: an Arrow *stream* file plus JSON."""
    import pyarrow as pa

    ds = d / "saved_ds"
    ds.mkdir()
    table = pa.table({"text": [it.prompt + "\n" + it.target for it in ITEMS[:10]]})
    sink = pa.OSFile(str(ds / "data-00000-of-00001.arrow"), "wb")
    with sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    (ds / "state.json").write_text("{}")


def write_arrow_file(d: Path) -> None:
    import pyarrow as pa

    table = pa.table({"q": [it.prompt for it in ITEMS[:10]], "a": [it.target for it in ITEMS[:10]]})
    sink = pa.OSFile(str(d / "f.arrow"), "wb")
    with sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


WRITERS = [write_jsonl, write_json_renamed, write_csv, write_py_literals, write_gz,
           write_parquet, write_hf_dataset, write_arrow_file]  # fmt: skip


@pytest.mark.parametrize("writer", WRITERS, ids=[w.__name__ for w in WRITERS])
def test_every_format_finds_the_copied_items(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    writer(tmp_path)
    _, _, items, skipped = scan(tmp_path)
    assert {it["id"] for it in items} == {f"q{i}" for i in range(10)}, skipped
    assert all(it["question"]["coverage"] == 1.0 for it in items)
    assert all(it["files"] for it in items)


def test_binary_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01" * 100)
    _, _, items, skipped = scan(tmp_path)
    assert items == [] and skipped == [{"path": "blob.bin", "bytes": 200, "why": "binary"}]


def test_partial_paraphrase_and_repetition(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = []
    for it in ITEMS[:10]:
        words = it.prompt.split()
        for i in rng.sample(range(len(words)), len(words) // 10):  # reword 10% of the words
            words[i] = "reworded"
        lines.append(" ".join(words))
    (tmp_path / "para.txt").write_text("\n".join(lines * 50))  # and repeated 50 times
    _, report, items, _ = scan(tmp_path)
    assert len(items) == 10
    assert all(0.3 <= it["question"]["coverage"] < 1.0 for it in items)
    assert report.occurrences["question"] > 40 * sum(it["question"]["found"] for it in items) / 10


def test_allowed_data_and_boilerplate_never_count(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _pairs(ALLOWED)))
    (tmp_path / "prompts.txt").write_text((BOILERPLATE + ". ") * 100)
    index, report, items, _ = scan(tmp_path, allowed=ALLOWED)
    assert items == [] and report.per_file == {}
    index, report, items, _ = scan(tmp_path)  # no allowed data: the instruction is boilerplate
    assert index.fields[0].removed_common > 0 and items == []
    # An allowed item that is also a test item: its n-grams are ignored, so it cannot flag.
    index = HeldOutIndex.build(ITEMS, [ITEMS[0]], CFG)
    assert index.fields[0].totals[0] == 0 and index.fields[0].removed_allowed > 0


def test_whole_set_rule_catches_many_short_copies(tmp_path: Path) -> None:
    (tmp_path / "answers.txt").write_text("\n".join(it.target for it in ITEMS))
    strict = ContaminationConfig(min_matches=100)  # no single item can overlap
    index, report, items, _ = scan(tmp_path, strict)
    assert items == []
    cov = set_coverage(index, report)
    assert cov["answer"]["share"] == 1.0 and cov["question"]["found"] == 0


def test_clean_text_finds_nothing(tmp_path: Path) -> None:
    rng = random.Random(9)
    text = "\n".join(" ".join(rng.choice(VOCAB) for _ in range(40)) for _ in range(500))
    (tmp_path / "mine.txt").write_text(text)
    index, report, items, _ = scan(tmp_path)
    assert items == []
    assert set_coverage(index, report)["question"]["share"] < 0.01


def test_unreadable_file_is_listed_and_the_rest_still_scanned(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    write_jsonl(tmp_path)
    _, report, items, _ = scan(tmp_path)
    assert len(items) == 10
    assert [u["path"] for u in report.unreadable] == ["broken.parquet"]
