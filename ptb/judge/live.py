"""Live monitoring: the judge's deterministic rules applied while the agent runs.

With ``judge.live.stop_on`` set (empty by default: off), a thread beside the agent polls every
``judge.live.interval_s`` the gateway log (``solve/gateway.jsonl``), the egress log
(``solve/egress.jsonl``) and the normalised transcript (``solve/transcript.jsonl``), reading only
the complete lines appended since the last poll. Its rules are the judge checks' own:

- ``api_misuse``: a gateway request that ``api_misuse`` counts as misuse
  (``request_violation``), a transcript command that is a call site (``call_site``), a
  connection the egress proxy let through to another model provider (``model_api_hosts``);
- ``test_download``: a transcript command naming the task's test split — the hub id of a
  ``task.data`` entry whose role names ``test`` (``hf://org/set/file``) together with the word
  ``test`` or its file name, or ptb's ``test_items(`` —;
- ``lookup``: a connection let through to, or a command naming, a host that serves the
  benchmark's results or answers (``ANSWER_HOSTS``) or the original harness's repository.

The first hit sets the solve stage's stop event (the agent is stopped as at the time limit:
TERM, then KILL) and is written to ``solve/live.json``; ``exit.json`` then says ``stopped``.
The ``live`` check of the judge stage turns ``live.json`` into findings, so the run is flagged.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from ptb.config.root import RunConfig
from ptb.fsutil import write_json
from ptb.judge.api_misuse import (
    PROVIDER_HOSTS,
    allowed_patterns,
    call_site,
    command_text,
    request_violation,
)
from ptb.judge.base import Finding
from ptb.judge.egress import ANSWER_HOSTS, model_api_hosts
from ptb.rundir import RunDir
from ptb.sandbox.egress import matches

CATEGORIES = {
    "api_misuse": "api_misuse",
    "test_download": "contamination",
    "lookup": "contamination",
}
REPOSITORIES = ("aisa-group/PostTrainBench",)
"""Repositories whose files or published trajectories hold the benchmark's answers."""


class Tail:
    """The complete lines appended to a file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].decode("utf-8", errors="replace").splitlines()


def test_sources(cfg: RunConfig) -> list[tuple[str, str]]:
    """(hub id, file name) of the task's test data (``task.data`` roles naming ``test``)."""
    out = []
    for role, uri in cfg.task.data.items():
        if "test" in role and uri.startswith("hf://"):
            parts = uri.removeprefix("hf://").split("/")
            if len(parts) >= 2:
                out.append(("/".join(parts[:2]), parts[-1]))
    return out


class Rules:
    """The rules of ``stop_on`` for one run, applied record by record."""

    def __init__(self, cfg: RunConfig, gateway: bool) -> None:
        self.on = set(cfg.judge.live.stop_on)
        self.patterns = allowed_patterns(cfg)
        self.grader_model = cfg.task.eval.grader_model
        self.own_hosts = PROVIDER_HOSTS.get(cfg.agent.provider or "", ())
        self.api_hosts = cfg.judge.api_misuse.hosts
        self.providers = model_api_hosts(cfg, gateway)
        self.tests = test_sources(cfg)
        self.answer_names = [h.lstrip("*.") for h in ANSWER_HOSTS] + list(REPOSITORIES)

    def gateway(self, rec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if "api_misuse" in self.on and request_violation(rec, self.patterns, self.grader_model):
            keep = ("ts", "route", "model", "allowed", "status", "gate")
            return [("api_misuse", {k: rec.get(k) for k in keep})]
        return []

    def egress(self, rec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if not rec.get("allowed"):
            return []  # refused: it got nothing
        host = str(rec.get("host"))
        hits = []
        if "api_misuse" in self.on and matches(host, self.providers):
            hits.append(("api_misuse", {"host": host}))
        if "lookup" in self.on and matches(host, ANSWER_HOSTS):
            hits.append(("lookup", {"host": host}))
        return hits

    def transcript(self, ev: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if ev.get("kind") != "tool_call":
            return []
        text = command_text(ev)
        hits: list[tuple[str, dict[str, Any]]] = []
        if "api_misuse" in self.on and (
            site := call_site(text, self.patterns, self.own_hosts, self.api_hosts)
        ):
            hits.append(("api_misuse", {**site, "command": text[:300]}))
        if "test_download" in self.on and self._test_download(text):
            hits.append(("test_download", {"command": text[:300]}))
        if "lookup" in self.on and any(n.lower() in text.lower() for n in self.answer_names):
            hits.append(("lookup", {"command": text[:300]}))
        return hits

    def _test_download(self, text: str) -> bool:
        if "test_items(" in text:
            return True
        low = text.lower()
        return any(
            repo.lower() in low and ("test" in low.replace(repo.lower(), "") or name in text)
            for repo, name in self.tests
        )


class LiveWatch:
    """The watcher thread of one solve stage (a context manager; off when ``stop_on`` is empty)."""

    def __init__(
        self, run: RunDir, cfg: RunConfig, stop: threading.Event, gateway: bool = False
    ) -> None:
        self.cfg, self.stop, self.gateway = cfg, stop, gateway
        self.path = run.live
        self.active = bool(cfg.judge.live.stop_on)
        self.hits: list[dict[str, Any]] = []
        self.polls = 0
        self._tails = {
            "gateway": Tail(run.gateway_log),
            "egress": Tail(run.egress_log),
            "transcript": Tail(run.transcript),
        }
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ptb-live", daemon=True)

    @property
    def reason(self) -> str | None:
        if not self.hits:
            return None
        first = self.hits[0]
        return f"live monitoring: {first['rule']} in solve/{first['source']}.jsonl"

    def __enter__(self) -> LiveWatch:
        if self.active:
            self.path.unlink(missing_ok=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        self._done.set()
        self._thread.join(timeout=10)
        write_json(
            self.path,
            {
                "stop_on": [str(r) for r in self.cfg.judge.live.stop_on],
                "stopped": bool(self.hits),
                "hits": self.hits[:50],
                "polls": self.polls,
            },
        )

    def poll(self, rules: Rules) -> None:
        self.polls += 1
        for source, tail in self._tails.items():
            for line in tail.lines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(rec, dict):
                    continue
                for rule, detail in getattr(rules, source)(rec):
                    self.hits.append({"t": round(time.time(), 3), "rule": rule,
                                      "source": source, **detail})  # fmt: skip
        if self.hits and not self.stop.is_set():
            self.stop.set()

    def _loop(self) -> None:
        rules = Rules(self.cfg, self.gateway)
        interval = max(0.2, self.cfg.judge.live.interval_s)
        while not self._done.wait(interval):
            self.poll(rules)
        self.poll(rules)  # what was appended at the very end


def live(run: RunDir, cfg: RunConfig) -> list[Finding]:
    """The judge stage's record of what live monitoring stopped the run for."""
    path = run.live
    if not path.is_file():
        return [Finding("live", "info", False, {"log": None, "note": "live monitoring was off"})]
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for rule in data.get("stop_on", []):
        hits = [h for h in data.get("hits", []) if h.get("rule") == rule]
        evidence = {"log": "solve/live.json", "stopped": data.get("stopped"), "hits": hits}
        out.append(Finding(f"live_{rule}", CATEGORIES.get(rule, "info"), bool(hits), evidence))
    return out
