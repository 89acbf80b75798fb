"""The solve stage's record of what the agent did.

``transcript.raw.jsonl`` keeps the scaffold's own stream (one timestamped line per output line),
``transcript.jsonl`` the normalised events ``{"t", "role", "kind", ...}`` with kind one of
message | tool_call | tool_result | error | usage, and ``transcript.md`` a readable rendering.
Everything passes the redactor before it touches the disk.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from ptb.rundir import TranscriptFiles
from ptb.secrets import Redactor

KINDS = ("message", "tool_call", "tool_result", "error", "usage")


class Transcript:
    """Writes ``files`` (``RunDir.transcripts`` for the solve stage; the file names are
    ``ptb.rundir``'s)."""

    def __init__(self, files: TranscriptFiles, redactor: Redactor) -> None:
        self.files = files
        self.raw_path = files.raw
        self.events_path = files.events
        self.md_path = files.md
        self.redact = redactor
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        for path in (files.raw, files.events, files.md):
            path.parent.mkdir(parents=True, exist_ok=True)

    def raw(self, stream: str, line: str) -> None:
        record = {"t": round(time.time(), 3), "stream": stream, "line": self.redact(line)}
        with self._lock, self.raw_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def event(self, role: str, kind: str, **fields: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown transcript kind {kind!r}; valid: {KINDS}")
        text = self.redact(json.dumps(fields, default=str))
        record = {"t": round(time.time(), 3), "role": role, "kind": kind, **json.loads(text)}
        with self._lock:
            self.events.append(record)
            with self.events_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def write_markdown(self, title: str) -> None:
        lines = [f"# {title}", ""]
        for ev in self.events:
            stamp = time.strftime("%H:%M:%S", time.gmtime(ev["t"]))
            body = (
                ev.get("text")
                or ev.get("output")
                or json.dumps({k: v for k, v in ev.items() if k not in ("t", "role", "kind")})
            )
            lines.append(f"**{stamp} {ev['role']} · {ev['kind']}**")
            lines += ["", "```", str(body), "```", ""]
        self.md_path.write_text("\n".join(lines), encoding="utf-8")
