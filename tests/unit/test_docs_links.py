"""The docs point at things that exist: every relative Markdown link, and every repository path
that they name (BENCHMARKS.md: the scripts and files behind its figures)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.repo import REPO

DOCS = sorted(
    {
        REPO / "README.md",
        REPO / "BENCHMARKS.md",
        *REPO.glob("docs/*.md"),
        *REPO.glob("containers/**/README.md"),
        *REPO.glob("launchers/**/README.md"),
        *REPO.glob("sweeps/**/README.md"),
    }
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
TOP = ("benchmarks", "conf", "containers", "docs", "hydra_plugins", "launchers", "ptb",
       "scripts", "sweeps", "tests")  # fmt: skip
REPO_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./*-]*)")
"""A repository path (or glob): starts with a top-level folder, not inside a longer path or URL."""
ELSEWHERE = {
    "conf/site/local.yaml": "git-ignored: each site writes its own",
    "scripts/factors.json": "a file of the original harness, not of ptb",
}
"""Paths the docs name that are rightly not in the repository."""


def relative_links(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def repo_paths(text: str) -> list[str]:
    return sorted({p.rstrip(".") for p in REPO_PATH.findall(text)})


def test_the_doc_list_covers_the_docs() -> None:
    names = {d.relative_to(REPO).as_posix() for d in DOCS}
    assert {"README.md", "BENCHMARKS.md", "docs/design.md", "containers/README.md"} <= names
    assert "launchers/slurm-local/README.md" in names


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_relative_links_exist(doc: Path) -> None:
    missing = []
    for target in relative_links(doc):
        path = target.split("#", 1)[0]
        if path and not (doc.parent / path).exists():
            missing.append(target)
    assert not missing, f"{doc.relative_to(REPO)} links to missing files: {missing}"


def missing_paths(text: str) -> list[str]:
    return [
        p
        for p in repo_paths(text)
        if p not in ELSEWHERE
        and not (next(REPO.glob(p), None) if "*" in p else (REPO / p).exists())
    ]


def test_paths_named_in_benchmarks_exist() -> None:
    text = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "benchmarks/slurm_submit.py" in repo_paths(text)
    missing = missing_paths(text)
    assert not missing, f"BENCHMARKS.md names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_paths_named_in_the_docs_exist(doc: Path) -> None:
    missing = missing_paths(doc.read_text(encoding="utf-8"))
    assert not missing, f"{doc.relative_to(REPO)} names paths that do not exist: {missing}"


def test_the_checks_catch_a_missing_target(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("[a](gone.md#top) [b](https://example.org/x) [c](#anchor) [d](x.md)\n")
    assert relative_links(doc) == ["gone.md#top", "x.md"]
    text = "run `benchmarks/gone.py`, see ptb/plan.py, not https://h/ptb/x or a/ptb/y"
    assert repo_paths(text) == ["benchmarks/gone.py", "ptb/plan.py"]
    assert missing_paths(text + " tests/golden/sbatch/*.sh tests/golden/none_*.sh") == [
        "benchmarks/gone.py",
        "tests/golden/none_*.sh",
    ]
