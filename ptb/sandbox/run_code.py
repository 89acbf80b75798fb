"""Run untrusted Python programs (a model's generated code) inside a sandbox, never on the host.

All programs of one evaluation go into one scratch HOME and run from one sandbox start: a small
harness inside it runs each program as its own process with a time limit and a memory cap and
writes the outcomes to ``results.json``. The sandbox has no network, no capabilities, a read-only
view of the host and sees only the scratch folder writable. A sandbox that cannot start or whose
harness dies raises ``CodeSandboxError``: an infrastructure failure (``ptb.failures``), never a
score of 0 for the model.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ptb.config.choices import Network
from ptb.config.sandbox import SandboxConfig
from ptb.failures import CodeSandboxError, InfraError
from ptb.sandbox import SANDBOXES
from ptb.sandbox.base import SandboxSpec
from ptb.sandbox.process import ExecResult, run_limited

ISOLATING = ("bwrap", "apptainer")
ENCLOSING = "enclosing"
"""The caller already runs inside ptb's sandbox (the agent's ``evaluate.py``): the programs run
in that same sandbox, as the caller's children. Nested bubblewrap is not possible there (all
capabilities are dropped), and the agent's own code runs at that same level of trust anyway."""

HARNESS = """\
import json, os, resource, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

timeout, mem = float(sys.argv[1]), int(sys.argv[2])
files = sorted(os.listdir("progs"), key=lambda f: int(f.split(".")[0]))

def limits():
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))

def run(name):
    cwd = os.path.join(os.getcwd(), "scratch", name.split(".")[0])
    os.makedirs(cwd)
    try:
        p = subprocess.run([sys.executable, os.path.join(os.getcwd(), "progs", name)],
                           capture_output=True, text=True, errors="replace", timeout=timeout,
                           preexec_fn=limits, cwd=cwd)
    except subprocess.TimeoutExpired:
        return {"passed": False, "result": "timed out"}
    if p.returncode == 0:
        return {"passed": True, "result": "passed"}
    tail = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    return {"passed": False, "result": "failed: " + tail[-300:]}

with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
    results = list(pool.map(run, files))
with open("results.json", "w") as fh:
    json.dump(results, fh)
"""


@dataclass(frozen=True)
class ProgramResult:
    passed: bool
    result: str


def run_programs(
    programs: list[str],
    *,
    backend: str = "bwrap",
    timeout_s: float = 10.0,
    memory_bytes: int = 4 << 30,
    image: str | None = None,
) -> list[ProgramResult]:
    """Run each program (exit status 0 = passed) isolated; one result per program, in order."""
    if backend not in (*ISOLATING, ENCLOSING):
        raise ValueError(
            f"generated code runs only in an isolating sandbox ({', '.join(ISOLATING)}), "
            f"not {backend!r}: set task.eval.code_sandbox=bwrap"
        )
    if not programs:
        return []
    root = Path(tempfile.mkdtemp(prefix="ptb-code-"))
    try:
        home = root / "job"
        (home / "progs").mkdir(parents=True)
        for i, program in enumerate(programs):
            (home / "progs" / f"{i}.py").write_text(program, encoding="utf-8")
        (home / "harness.py").write_text(HARNESS, encoding="utf-8")
        return _run(home, len(programs), backend, timeout_s, memory_bytes, image)
    except InfraError:
        raise
    except Exception as exc:  # the sandbox could not start: not the model's fault
        raise CodeSandboxError(
            f"the code sandbox ({backend}) could not run: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(
    home: Path, n: int, backend: str, timeout_s: float, memory_bytes: int, image: str | None
) -> list[ProgramResult]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    argv = ["harness.py", str(timeout_s), str(memory_bytes)]
    lines: list[str] = []
    limit_s = 60 + timeout_s * n
    if backend == ENCLOSING:
        res = run_limited(
            [sys.executable, *argv],
            env=env,
            cwd=home,
            limit_s=limit_s,
            kill_after_s=5,
            on_line=lambda _stream, line: lines.append(line),
        )
        return _results(home, res, lines)
    cfg = SandboxConfig(name="code", impl=backend, network=Network.none, image=image)
    # the interpreter may live under a hidden folder (/root/.pyenv): bind it read-only
    interpreter = (Path(sys.base_prefix).resolve(), Path(sys.prefix))
    spec = SandboxSpec(home=home, workdir=home, env=env, extra_ro_binds=interpreter)
    sandbox = SANDBOXES.load(backend)(cfg, spec)
    sandbox.overlay = None  # generated code needs no HF cache
    with sandbox:
        res = sandbox.exec(
            [sandbox.python, *argv],
            limit_s=limit_s,
            kill_after_s=5,
            on_line=lambda _stream, line: lines.append(line),
        )
    return _results(home, res, lines)


def _results(home: Path, res: ExecResult, lines: list[str]) -> list[ProgramResult]:
    out = home / "results.json"
    if res.reason != "finished" or res.exit_code != 0 or not out.exists():
        tail = "\n".join(lines[-10:])
        raise CodeSandboxError(
            f"sandboxed code run failed ({res.reason}, exit {res.exit_code}): {tail}"
        )
    return [ProgramResult(bool(r["passed"]), str(r["result"])) for r in json.loads(out.read_text())]
