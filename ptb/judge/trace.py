"""The agent's transcript as an LLM judge reads it: whole, in numbered pages, with an index.

PostTrainBench v1.1 has its judges read the agent's trace first. ptb gives them the normalised
transcript (``solve/transcript.jsonl``; the raw stream when there is none) rendered one event a
block — ``[#12 +00:03:21 assistant tool_call]`` and the event's text, command or output — in
pages of about ``page_bytes`` (``trace/page-0001.txt``, …), never cut: an event larger than a
page continues on the next one, marked so. The index (``solve_parsed.txt``, the file name the
original's prompts point at) lists every page with its event numbers and times, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.rundir import TranscriptFiles

INDEX = "solve_parsed.txt"
PAGES = "trace"


@dataclass
class Page:
    name: str
    first: int
    last: int
    t_first: float
    t_last: float
    bytes: int


def events(solve_dir: Path) -> list[dict[str, Any]]:
    """The normalised events; the raw stream's lines (as messages) when there are none."""
    files = TranscriptFiles.in_folder(solve_dir)
    for path, raw in ((files.events, False), (files.raw, True)):
        if not path.is_file():
            continue
        out = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                ev = {"kind": "message", "text": line}
            if not isinstance(ev, dict):
                continue
            if raw:
                ev = {"t": ev.get("t"), "role": ev.get("stream"), "kind": "raw",
                      "text": ev.get("line")}  # fmt: skip
            out.append(ev)
        if out:
            return out
    return []


def _clock(t: float | None, t0: float) -> str:
    s = max(0, int((t or t0) - t0))
    return f"+{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def render(n: int, ev: dict[str, Any], t0: float) -> str:
    head = f"[#{n} {_clock(ev.get('t'), t0)} {ev.get('role', '?')} {ev.get('kind', '?')}]"
    rest = {k: v for k, v in ev.items() if k not in ("t", "role", "kind")}
    if set(rest) <= {"text", "stream"} and isinstance(rest.get("text"), str):
        body = rest["text"]
    else:
        body = json.dumps(rest, ensure_ascii=False)
    return f"{head}\n{body}\n\n"


def write_pages(solve_dir: Path, dest: Path, page_bytes: int) -> list[Page]:
    """Write ``dest/trace/page-NNNN.txt`` and the index ``dest/solve_parsed.txt``."""
    if page_bytes < 1024:
        raise ValueError(f"judge.llm.page_bytes={page_bytes}: use at least 1024")
    evs = events(solve_dir)
    t0 = next((float(e["t"]) for e in evs if isinstance(e.get("t"), int | float)), 0.0)
    (dest / PAGES).mkdir(parents=True, exist_ok=True)
    pages: list[Page] = []
    buf: list[str] = []
    size, first = 0, 1

    def flush(last: int, t_last: float | None) -> None:
        nonlocal buf, size, first
        if not buf:
            return
        name = f"{PAGES}/page-{len(pages) + 1:04d}.txt"
        text = "".join(buf)
        (dest / name).write_text(text, encoding="utf-8")
        t_first = float(evs[first - 1].get("t") or t0) if evs else t0
        pages.append(Page(name, first, last, t_first, float(t_last or t0), len(text.encode())))
        buf, size, first = [], 0, last + 1

    for n, ev in enumerate(evs, 1):
        block = render(n, ev, t0)
        if buf and len(block.encode()) > page_bytes - size:
            flush(n - 1, evs[n - 2].get("t"))
        while len(block.encode()) > page_bytes:  # one event larger than a page: split it
            part, block = _cut(block, page_bytes)
            buf.append(part + f"\n[#{n} continues on the next page]\n")
            flush(n, ev.get("t"))
            first = n
            block = f"[#{n} continued]\n" + block
        buf.append(block)
        size += len(block.encode())
    flush(len(evs), evs[-1].get("t") if evs else None)
    (dest / INDEX).write_text(index_text(pages, len(evs), t0), encoding="utf-8")
    return pages


def _cut(block: str, room: int) -> tuple[str, str]:
    data = block.encode()
    head = data[:room].decode("utf-8", errors="ignore")
    return head, block[len(head) :]


def index_text(pages: list[Page], n_events: int, t0: float) -> str:
    lines = [
        f"The agent's trace: {n_events} events in {len(pages)} pages. Read every page, in order;",
        "nothing is left out. Paths are relative to this file's folder. Each event starts with",
        "[#<number> +<time since the start> <role> <kind>].",
        "",
    ]
    for p in pages:
        lines.append(
            f"{p.name}: events {p.first}-{p.last}, {_clock(p.t_first, t0)} to "
            f"{_clock(p.t_last, t0)}, {p.bytes} bytes"
        )
    if not pages:
        lines.append("(the transcript is empty)")
    return "\n".join(lines) + "\n"
