"""The offline HTML report: real matplotlib plots, one self-contained file, and (where chromium is
installed) the page as a headless browser sees it."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ptb.report.__main__ import main

pytestmark = pytest.mark.integration

MODELS = ("m1", "m2")
TASKS = ("t1", "t2")
METHODS = (("agent_a", "claude_code"), ("agent_b", "codex_cli"))


class _Dom(HTMLParser):
    """Collects leaderboard rows (cell texts) and image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.images: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table":
            self._table = attr.get("id")
        elif tag == "tr" and self._table == "leaderboard":
            self.rows.append([])
        elif tag == "td" and self._table == "leaderboard":
            self._cell = []
        elif tag == "img":
            self.images.append(attr.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _write(
    root: Path, agent: str, scaffold: str, model: str, task: str, seed: int, final: float
) -> None:
    run_id = f"{agent}__{scaffold}__{model}__{task}__s{seed}"
    run_dir = root / "exp" / run_id
    (run_dir / "solve").mkdir(parents=True)
    score = {"run_id": run_id, "agent": agent, "scaffold": scaffold, "model": model,
             "task": task, "seed": seed, "raw": final, "final": final, "flagged": False,
             "fallback": None}  # fmt: skip
    (run_dir / "score.json").write_text(json.dumps(score))
    usage = {"wall_s": 1800.0 * (seed + 1), "cost_usd": 1.5 + seed}
    (run_dir / "solve" / "usage.json").write_text(json.dumps(usage))


@pytest.fixture
def report_html(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for i, model in enumerate(MODELS):
        for j, task in enumerate(TASKS):
            _write(root, "baseline_zeroshot", "none", model, task, 0, 0.1 + 0.05 * j)
            _write(root, "baseline_instruct", "none", model, task, 0, 0.4 + 0.1 * i)
            for k, (agent, scaffold) in enumerate(METHODS):
                for seed in (0, 1):
                    _write(root, agent, scaffold, model, task, seed, 0.3 + 0.1 * k + 0.03 * seed)
    out = tmp_path / "report.html"
    assert main([str(root), "--html", str(out)]) == 0
    return out


def _check_dom(text: str) -> None:
    dom = _Dom()
    dom.feed(text)
    labels = [row[1] for row in dom.rows if len(row) > 1]
    assert labels[:2] == ["agent_b / codex_cli", "agent_a / claude_code"]  # ranked
    assert {"baseline_zeroshot / none", "baseline_instruct / none"} <= set(labels)
    assert len(dom.images) >= 4  # leaderboard, per task, score vs time, score vs cost
    assert all(src.startswith("data:image/png;base64,iVBOR") for src in dom.images)


def test_html_is_self_contained_with_tables_and_plots(report_html: Path) -> None:
    text = report_html.read_text()
    assert '<table id="leaderboard">' in text
    assert "<h2>Per task</h2>" in text and "<h2>Weights</h2>" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched from outside
    _check_dom(text)


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_renders_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed")
    argv = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--dump-dom",
        report_html.as_uri(),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    _check_dom(done.stdout)
