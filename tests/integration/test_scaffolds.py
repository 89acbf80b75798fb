"""The five agent CLIs, for real: installed from npm at their pinned versions, run by ptb's
solve stage in the bubblewrap sandbox against the fake model server (``tests/support/fake_llm``).

- ``ok``: the scripted shell command really runs in the workspace; the normalised transcript
  shows the tool call, its result and the final message; usage.json is filled; the key reached
  the server and no file of the run holds it.
- error scripts: each CLI's way of failing ends as ``api_error`` with the right kind.
- ``network=none``: the CLI still works through the relay, and under strace it connects to
  nothing but the fake server.

``PTB_RECORD_GOLDEN=1`` copies each run's raw stream to ``tests/golden/scaffolds/<scaffold>/``
(paths and ports normalised), which the unit tests parse (``tests/unit/test_scaffold_parsers.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ptb.plan import RunPlan
from ptb.rundir import RunDir
from ptb.scaffolds import SCAFFOLDS, Scaffold
from ptb.stages import run_stage
from tests.support.fake_llm import COMMAND, FINAL_TEXT, MARKER_FILE, FakeLLM
from tests.support.plans import planned_run
from tests.support.repo import REPO

GOLDEN = REPO / "tests" / "golden" / "scaffolds"
KEY_VAR = "PTB_FAKE_LLM_KEY"
KEY = "sk-fake-llm-0123456789abcdefKEY"


@dataclass(frozen=True)
class Case:
    agent: str
    api_path: str
    """Appended to the server's root URL: the base URL the CLI expects."""


CASES = {
    "claude_code": Case("opus46", ""),
    "codex_cli": Case("gpt52", "/v1"),
    "gemini_cli": Case("gemini31pro", ""),
    "opencode": Case("qwen3coder_vllm", "/v1"),
    "qwen_code": Case("qwen3coderplus", "/v1"),
}
ERRORS = ("auth", "rate_limit", "overloaded", "quota")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
    pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm to install the CLIs"),
]


@pytest.fixture(scope="session")
def clis() -> None:
    """The pinned CLIs, installed once into $PTB_TOOLS_DIR or .tools/ (kept between runs)."""
    subprocess.run(["bash", str(REPO / "scripts" / "install-clis.sh")], check=True, cwd=REPO)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("PTB_TEST_CACHE") or str(tmp_path_factory.mktemp("ptb-cache"))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, model_cache: str, clis: None) -> Iterator[FakeLLM]:
    monkeypatch.setenv(KEY_VAR, KEY)
    monkeypatch.setenv("PTB_CACHE", model_cache)
    with FakeLLM(key=KEY) as fake:
        yield fake


def plan_solve(tmp_path: Path, scaffold: str, server: FakeLLM, *overrides: str) -> RunPlan:
    """The scripted run of ``scaffold`` against ``server``, planned and materialised, not run."""
    case = CASES[scaffold]
    over = [
        f"agent={case.agent}",
        f"scaffold={scaffold}",
        "model=tiny",
        "task=toy_calls",
        f"results_dir={tmp_path / 'results'}",
        f"agent.base_url={server.url}{case.api_path}",
        f"agent.api_key_env={KEY_VAR}",
        "scaffold.max_retries=0",
        "budget.hours=0.05",
        "tracker=none",
        *overrides,
    ]
    return planned_run(over)


def solve(tmp_path: Path, scaffold: str, server: FakeLLM, *overrides: str) -> RunDir:
    plan = plan_solve(tmp_path, scaffold, server, *overrides)
    for stage in ("prepare", "solve"):
        run_stage(stage, plan.context())
    return plan.run


def events(run: RunDir) -> list[dict[str, object]]:
    lines = (run.solve / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def exit_info(run: RunDir) -> dict[str, object]:
    return json.loads(run.exit_file.read_text(encoding="utf-8"))


def record_golden(run: RunDir, scaffold: str, name: str, server: FakeLLM) -> None:
    if not os.environ.get("PTB_RECORD_GOLDEN"):
        return
    text = (run.solve / "transcript.raw.jsonl").read_text(encoding="utf-8")
    text = text.replace(str(run.path), "/RUN").replace(str(server.port), "PORT")
    text = re.sub(r"/tmp/ptb-relay-\w+", "/tmp/ptb-relay-X", text)
    text = text.replace(os.environ["PTB_CACHE"], "/CACHE")
    folder = GOLDEN / scaffold
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.raw.jsonl").write_text(text, encoding="utf-8")
    meta = {k: exit_info(run)[k] for k in ("exit_code", "reason", "api_error")}
    (folder / f"{name}.meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def assert_no_key_written(run: RunDir) -> None:
    for path in run.path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert KEY.encode() not in path.read_bytes(), f"the key leaked into {path}"


@pytest.mark.parametrize("scaffold", sorted(CASES))
def test_scripted_run(tmp_path: Path, server: FakeLLM, scaffold: str) -> None:
    run = solve(tmp_path, scaffold, server)
    record_golden(run, scaffold, "ok", server)
    info = exit_info(run)
    assert info["reason"] == "finished", info
    assert info["api_error"] is None
    marker = run.workspace / "task" / MARKER_FILE
    assert marker.read_text().strip() == "scripted-by-fake-llm"  # the command really ran

    evs = events(run)
    calls = [e for e in evs if e["kind"] == "tool_call"]
    results = [e for e in evs if e["kind"] == "tool_result"]
    messages = [e for e in evs if e["kind"] == "message" and e["role"] == "assistant"]
    assert any(MARKER_FILE in json.dumps(c["input"]) for c in calls), calls
    assert any("scripted-by-fake-llm" in str(r["output"]) for r in results), results
    assert messages and messages[-1]["text"] == FINAL_TEXT
    order = [evs.index(calls[0]), evs.index(results[0]), evs.index(messages[-1])]
    assert order == sorted(order)
    assert FINAL_TEXT in (run.solve / "transcript.md").read_text()

    usage = json.loads((run.solve / "usage.json").read_text())
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0, usage
    assert usage["turns"] >= 1 and usage["tool_calls"] >= 1, usage

    calls_seen = server.model_calls()
    assert calls_seen and all(r.key_ok for r in calls_seen)
    assert any(r.reply == "tool_call" for r in calls_seen)
    model_id = yaml.safe_load(run.config.read_text())["agent"]["model_id"]
    assert model_id in {r.model for r in calls_seen}  # the agent's model went on the wire
    command = json.loads((run.solve / "command.json").read_text())
    assert COMMAND not in json.dumps(command)  # sanity: argv holds the prompt, not the reply
    assert_no_key_written(run)


SLOW = {("qwen_code", s) for s in ("rate_limit", "overloaded", "quota")}
"""Qwen Code retries 429 and 5xx ~7 times with back-off (~80 s) whatever its settings say."""


@pytest.mark.parametrize(
    ("scaffold", "script"),
    [
        pytest.param(sc, s, marks=[pytest.mark.slow] if (sc, s) in SLOW else [])
        for sc in sorted(CASES)
        for s in ERRORS
    ],
)
def test_api_error_is_classified(
    tmp_path: Path, server: FakeLLM, scaffold: str, script: str
) -> None:
    server.script = script
    run = solve(tmp_path, scaffold, server)
    record_golden(run, scaffold, script, server)
    info = exit_info(run)
    assert info["reason"] == "api_error", info
    assert info["api_error"] == script, info
    assert not (run.workspace / "task" / MARKER_FILE).exists()
    assert any(e["kind"] == "error" for e in events(run))
    assert_no_key_written(run)


INET = re.compile(
    r"sin6?_port=htons\((\d+)\).*?sin6?_addr=inet_(?:addr|pton)\((?:AF_INET6, )?\"([^\"]+)\""
)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
@pytest.mark.parametrize("scaffold", sorted(CASES))
def test_no_other_lookup_without_network(
    tmp_path: Path, server: FakeLLM, scaffold: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``sandbox.network=none`` the CLI reaches the fake server through the relay, and
    strace shows it connecting to nothing else: no DNS, no telemetry, no update check."""
    cls = SCAFFOLDS.load(scaffold)
    plain = cls.argv

    def traced(self: Scaffold) -> list[str]:
        log = str(self.ctx.home / "strace.log")
        # -D: strace runs detached, so the CLI stays the main process and the run ends with it
        trace = ["strace", "-D", "-f", "-qq", "-e", "trace=connect,sendto", "-e", "signal=none"]
        return [*trace, "-o", log, *plain(self)]

    monkeypatch.setattr(cls, "argv", traced)
    # The CLI's own lookups: talking straight to the fake server (through the gateway, it would
    # connect to the gateway's port instead; test_gateway_clis covers that path).
    run = solve(tmp_path, scaffold, server, "sandbox.network=none", "gateway.enabled=false")
    info = exit_info(run)
    assert info["reason"] == "finished", info
    assert (run.workspace / "task" / MARKER_FILE).is_file()
    trace = (run.workspace / "strace.log").read_text()
    inet = set(INET.findall(trace))
    if scaffold == "opencode":
        # Known and left alone: OpenCode's background `npm install @opencode-ai/plugin` into
        # its config folder resolves registry.npmjs.org (port 53) on every fresh HOME, even
        # with the package pre-installed or npm offline; it fails and the run goes on.
        inet = {(port, addr) for port, addr in inet if port != "53"}
    assert inet == {(str(server.port), "127.0.0.1")}, inet  # no DNS (port 53) either


@pytest.mark.parametrize("scaffold", sorted(CASES))
def test_reprompt_resumes_the_session_while_time_remains(
    tmp_path: Path, server: FakeLLM, scaffold: str
) -> None:
    """An agent that stops early is resumed in its own session with the time left, until less
    than ``reprompt_min_minutes`` remain (budget 3 min, threshold 2.6 min: a few resumes)."""
    run = solve(tmp_path, scaffold, server, "scaffold.reprompt_min_minutes=2.6")
    assert exit_info(run)["reason"] == "finished"
    notes = [e["text"] for e in events(run) if str(e.get("text", "")).startswith("reprompt ")]
    assert notes, "the agent was never resumed"
    resumed = [r for r in server.model_calls() if "You still have about" in json.dumps(r.body)]
    assert resumed, "the continue prompt never reached the model"
    assert MARKER_FILE in json.dumps(resumed[0].body)  # the same session: its history came along
