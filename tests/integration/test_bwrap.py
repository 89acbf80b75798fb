"""The bubblewrap sandbox, for real: what the agent can see, write, signal and reach.

Every check runs a command through ``Sandbox.exec``, as the solve stage does. The run folder lives
under /var/tmp, which the sandbox does not replace with a tmpfs (unlike /tmp, /home, /root), so
hiding the sibling run is the experiment-folder tmpfs's doing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import ptb.sandbox.bwrap as bwrap_mod
import ptb.sandbox.overlay as overlay_mod
from ptb.config.sandbox import SandboxConfig
from ptb.sandbox import ExecResult, SandboxSpec
from ptb.sandbox.bwrap import BwrapSandbox
from tests.conftest import FAKE_SECRET, REPO

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("bwrap") is None,
        reason="bubblewrap is not installed: apt-get install bubblewrap fuse-overlayfs",
    ),
]


@dataclass
class World:
    base: Path
    home: Path
    task: Path
    sibling: Path
    cache: Path

    @property
    def run(self) -> Path:
        return self.home.parents[1]


@dataclass
class Output:
    result: ExecResult
    lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def stdout(self) -> list[str]:
        return [line for stream, line in self.lines if stream == "stdout"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("HF_HOME", raising=False)
    base = Path(tempfile.mkdtemp(prefix="ptb-bwrap-", dir="/var/tmp"))
    exp = base / "results" / "exp"
    home = exp / "agent__recipe__tiny__toy__s0" / "solve" / "job"
    task = home / "task"
    (task / "templates").mkdir(parents=True)
    (task / "templates" / "chat.jinja").write_text("{{ messages }}\n")
    (task / "evaluate.py").write_text("print('protected')\n")
    (home.parents[1] / "config.yaml").write_text("judge_key: x\n")
    sibling = exp / "other__recipe__tiny__toy__s1"
    sibling.mkdir()
    (sibling / "score.json").write_text('{"score": 1.0}\n')
    cache = base / "hf"
    (cache / "hub").mkdir(parents=True)
    (cache / "hub" / "cached.txt").write_text("weights\n")
    (cache / "token").write_text("hf_not_for_the_agent\n")
    yield World(base, home, task, sibling, cache)
    shutil.rmtree(base)


def _sandbox(
    w: World,
    *,
    network: str = "open",
    cache: bool = False,
    hide: tuple[Path, ...] = (),
    binds: tuple[str, ...] = (),
    **env: str,
) -> BwrapSandbox:
    spec_env = {"PATH": "/usr/bin:/bin", "HOME": str(w.home), "PTB_ALLOWED": "yes", **env}
    if cache:
        spec_env["HF_HOME"] = str(w.cache)
    spec = SandboxSpec(
        home=w.home,
        workdir=w.task,
        env=spec_env,
        readonly=(w.task / "evaluate.py", w.task / "templates"),
        egress_log=w.run / "solve" / "egress.jsonl",
        cache_layers=w.run / "solve" / "overlay",
        cache_listing=w.run / "solve" / "hf_overlay.json",
        cache_datasets=w.run / "solve" / "hf_datasets",
        hide=hide,
    )
    cfg = SandboxConfig(name="bwrap", impl="bwrap", network=network, binds=list(binds))  # type: ignore[arg-type]
    return BwrapSandbox(cfg, spec)


def _sh(
    sandbox: BwrapSandbox,
    script: str,
    *,
    limit_s: float = 20,
    kill_after_s: float = 2,
    on_line: Callable[[str, str], None] | None = None,
) -> Output:
    out = Output(ExecResult(None, "pending", 0.0))

    def collect(stream: str, line: str) -> None:
        out.lines.append((stream, line))
        if on_line is not None:
            on_line(stream, line)

    with sandbox:
        out.result = sandbox.exec(
            ["sh", "-c", script], limit_s=limit_s, kill_after_s=kill_after_s, on_line=collect
        )
    return out


def _fails(sandbox: BwrapSandbox, script: str) -> bool:
    return _sh(sandbox, script).result.exit_code not in (0, None)


def _host_cmdlines() -> list[str]:
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found.append(path.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def test_home_is_the_job_dir_and_cwd_the_task(world: World) -> None:
    out = _sh(_sandbox(world), 'echo "$HOME"; pwd')
    assert out.stdout == [str(world.home), str(world.task)]


def test_home_is_writable(world: World) -> None:
    out = _sh(_sandbox(world), 'echo hi > "$HOME/note.txt" && mkdir final_model')
    assert out.result.exit_code == 0, out.lines
    assert (world.home / "note.txt").read_text() == "hi\n"
    assert (world.task / "final_model").is_dir()


@pytest.mark.parametrize(
    "script",
    [
        "echo x > evaluate.py",
        "echo x >> evaluate.py",
        "rm -f evaluate.py",
        "mv evaluate.py moved.py",
        "touch templates/new.jinja",
        "rm -f templates/chat.jinja",
    ],
)
def test_readonly_paths_cannot_change(world: World, script: str) -> None:
    assert _fails(_sandbox(world), script)
    assert (world.task / "evaluate.py").read_text() == "print('protected')\n"
    assert sorted(p.name for p in (world.task / "templates").iterdir()) == ["chat.jinja"]


@pytest.mark.parametrize("where", ["/etc", "/usr", "/opt", "/var/tmp", "/home", "/root", "RUN"])
def test_nothing_outside_home_is_writable(world: World, where: str) -> None:
    target = (str(world.run) if where == "RUN" else where) + "/ptb-sandbox-probe"
    assert _fails(_sandbox(world), f"mkdir -p {where} 2>/dev/null; touch {target}")
    assert not Path(target).exists()


def test_extra_ro_binds_expose_the_interpreter(world: World) -> None:
    """The interpreter may live under /root, /home or /tmp, which are emptied: the spec exposes
    it (the solve stage passes the same paths, see ``runtime_paths``)."""
    prefix = Path(sys.base_prefix).resolve()
    binds = (prefix, Path(sys.prefix), world.base / "absent-is-skipped")
    spec = dataclasses.replace(_sandbox(world).spec, extra_ro_binds=binds)
    sandbox = BwrapSandbox(SandboxConfig(name="bwrap", impl="bwrap"), spec)
    out = _sh(sandbox, f"{sys.executable} -c 'print(1)' && touch {prefix}/probe")
    assert out.stdout == ["1"] and out.result.exit_code != 0


def test_tmp_is_private(world: World) -> None:
    out = _sh(_sandbox(world), "touch /tmp/ptb-probe && ls /tmp")
    # a checkout or venv that lives under /tmp (a CI clone) is bound there, read-only
    runtime = {Path(p).parts[2] for p in (sys.prefix, str(REPO)) if Path(p).parts[1:2] == ("tmp",)}
    assert sorted(out.stdout) == sorted({"ptb-probe", *runtime})
    assert not Path("/tmp/ptb-probe").exists()


def test_capabilities_are_dropped(world: World) -> None:
    out = _sh(
        _sandbox(world),
        "grep CapEff /proc/self/status; mount -o remount,rw / && echo REMOUNTED; "
        "touch /etc/ptb-sandbox-probe && echo WROTE",
    )
    assert "CapEff:\t0000000000000000" in out.stdout
    assert "REMOUNTED" not in out.stdout and "WROTE" not in out.stdout
    assert not Path("/etc/ptb-sandbox-probe").exists()


def test_results_and_other_runs_are_hidden(world: World) -> None:
    exp, run = world.run.parent, world.run
    out = _sh(_sandbox(world), f"ls -A {exp}; ls -A {run}; cat {world.sibling}/score.json")
    assert out.result.exit_code != 0
    assert out.stdout == [run.name, "solve"]


HIDE_DOORS = {
    "list_sibling": "ls -A {sibling}",
    "read_sibling_score": "cat {sibling}/score.json",  # another run's result
    "list_experiment": "ls -A {exp} | grep -vqx {run_name}",  # only the way down to HOME
    "list_run": "ls -A {run} | grep -vqx solve",
    "list_solve": "ls -A {run}/solve | grep -vqx job",
    "read_run_config": "cat {run}/config.yaml",
    "read_own_metrics": "cat {run}/evaluate/metrics.json",
    "read_own_score": "cat {run}/score.json",
    "read_egress_log": "cat {run}/solve/egress.jsonl",
}
"""What the agent must not reach when the results root lies in a folder the sandbox binds."""


def _shared_results(world: World) -> tuple[str, dict[str, str]]:
    """The results root in a configured read-only bind (``sandbox.binds``, as a cluster's shared
    file system would be), with this run's own evaluation and score files planted."""
    (world.run / "evaluate").mkdir()
    (world.run / "evaluate" / "metrics.json").write_text('{"score": 0.9}\n')
    (world.run / "score.json").write_text('{"final": 0.9}\n')
    (world.run / "solve" / "egress.jsonl").write_text("{}\n")
    where = {"sibling": str(world.sibling), "exp": str(world.run.parent), "run": str(world.run),
             "run_name": world.run.name}  # fmt: skip
    script = "; ".join(
        f"if {cmd.format(**where)} >/dev/null 2>&1; then echo 'DOOR {name} OPEN'; "
        f"else echo 'DOOR {name} blocked'; fi"
        for name, cmd in HIDE_DOORS.items()
    )
    script += '; echo hi > "$HOME/note.txt" && cat "$HOME/note.txt" && cat evaluate.py'
    return f"{world.base}:ro", {"script": script}


def test_hide_blocks_the_results_root_inside_a_bind(world: World) -> None:
    bind, parts = _shared_results(world)
    results = world.base / "results"
    open_ = _sh(_sandbox(world, network="none", binds=(bind,)), parts["script"])
    assert "DOOR read_sibling_score OPEN" in open_.stdout, "the control: the bind shows them"
    sandbox = _sandbox(world, network="none", binds=(bind,), hide=(results, world.run))
    out = _sh(sandbox, parts["script"])
    assert out.stdout[: len(HIDE_DOORS)] == [f"DOOR {n} blocked" for n in HIDE_DOORS], out.lines
    assert out.stdout[len(HIDE_DOORS) :] == ["hi", "print('protected')"], out.lines
    assert out.result.exit_code == 0
    assert (world.home / "note.txt").read_text() == "hi\n"  # HOME is the host's, writable
    assert _sh(sandbox, "echo x >> evaluate.py").result.exit_code != 0  # still read-only
    assert _sh(sandbox, f"touch {results}/x").result.exit_code != 0
    assert not (results / "x").exists()


def test_env_is_the_allow_list(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_SECRET)
    out = _sh(_sandbox(world), "env")
    assert "PTB_ALLOWED=yes" in out.stdout
    assert not any("OPENAI_API_KEY" in line or FAKE_SECRET in line for line in out.stdout)


def test_secret_is_in_no_command_line(world: World) -> None:
    sandbox = _sandbox(world, AGENT_API_KEY=FAKE_SECRET)
    seen: list[str] = []

    def scan(stream: str, line: str) -> None:
        if line == "ready":
            seen.extend(_host_cmdlines())

    out = _sh(sandbox, 'echo ready; sleep 1; printf %s "$AGENT_API_KEY" | sha256sum', on_line=scan)
    digest = hashlib.sha256(FAKE_SECRET.encode()).hexdigest()
    assert out.stdout[-1].split()[0] == digest, "the allow-listed key must reach the agent"
    assert any("--die-with-parent" in c for c in seen), "scanned while the sandbox ran"
    assert not any(FAKE_SECRET in c for c in seen)


def test_network_none_leaves_only_loopback(world: World) -> None:
    out = _sh(_sandbox(world, network="none"), "tail -n +3 /proc/net/dev | cut -d: -f1")
    assert [line.strip() for line in out.stdout] == ["lo"]


def test_pid_namespace_hides_host_processes(world: World) -> None:
    out = _sh(_sandbox(world), 'echo "$$"; ls /proc | grep -E "^[0-9]+$"')
    own, *visible = (int(line) for line in out.stdout)
    assert own <= 3
    assert len(visible) <= 4 and max(visible) < 20, visible


def _survivors(tag: str) -> list[str]:
    return [c for c in _host_cmdlines() if tag in c]


def test_time_limit_kills_the_tree(world: World) -> None:
    out = _sh(_sandbox(world), "sleep 37.01 & sleep 37.02", limit_s=1, kill_after_s=2)
    assert out.result.reason == "timeout"
    assert out.result.wall_s < 2.5, "TERM alone stops a tree that does not handle it"
    assert not _survivors("sleep 37.0")


def test_term_gives_the_agent_its_grace(world: World) -> None:
    save = 'echo saving; sleep 0.5; echo saved > "$HOME/saved"; exit 0'
    script = f"trap '{save}' TERM; sleep 37.03 & wait"
    out = _sh(_sandbox(world), script, limit_s=1, kill_after_s=5)
    assert out.result.reason == "timeout"
    assert "saving" in out.stdout
    assert (world.home / "saved").read_text() == "saved\n"


def test_kill_reaches_what_ignores_term(world: World) -> None:
    script = "trap '' TERM; setsid sleep 37.04 & sleep 37.05; sleep 37.06"
    out = _sh(_sandbox(world), script, limit_s=1, kill_after_s=1)
    assert out.result.reason == "timeout"
    assert 1.8 <= out.result.wall_s < 4
    assert not _survivors("sleep 37.0")


def test_hf_cache_overlay_discards_writes(world: World) -> None:
    sandbox = _sandbox(world, cache=True)
    assert sandbox.overlay is not None
    hub, modes = world.cache / "hub", []
    out = _sh(
        sandbox,
        f'cat {hub}/cached.txt; echo "[$(cat $HF_HOME/token)]"; echo new > {hub}/new.txt && echo W',
        on_line=lambda stream, line: modes.append(sandbox.overlay and sandbox.overlay.mode),
    )
    assert out.stdout[:2] == ["weights", "[]"], "cache readable, token masked"
    writable = modes[0] in ("fuse", "kernel")
    assert ("W" in out.stdout) == writable, modes[0]
    if os.geteuid() == 0 and overlay_mod.fuse_available():
        assert writable, "as root, fuse-overlayfs must give a writable layer"
    assert sorted(p.name for p in hub.iterdir()) == ["cached.txt"]
    assert not sandbox.overlay.root.exists()


def test_hf_cache_falls_back_to_read_only(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlay_mod, "fuse_available", lambda: False)
    monkeypatch.setattr(bwrap_mod, "supports_overlay", lambda binary: False)
    sandbox = _sandbox(world, cache=True)
    out = _sh(sandbox, f"cat {world.cache}/hub/cached.txt; touch {world.cache}/hub/x && echo W")
    assert sandbox.overlay is not None and sandbox.overlay.mode == "ro"
    assert out.stdout == ["weights"]
    assert not (world.cache / "hub" / "x").exists()
