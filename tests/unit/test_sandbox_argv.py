"""bubblewrap and Apptainer command lines, compared with golden files (one argv element a line).

Regenerate after an intended change: ``PTB_UPDATE_GOLDEN=1 pytest tests/unit/test_sandbox_argv.py``
and review the diff.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

import ptb.sandbox.apptainer as apptainer_mod
import ptb.sandbox.bwrap as bwrap_mod
import ptb.sandbox.overlay as overlay_mod
from ptb.config.sandbox import SandboxConfig
from ptb.sandbox import SANDBOXES, Sandbox, SandboxSpec
from ptb.sandbox.apptainer import ApptainerSandbox
from ptb.sandbox.base import IsolatedSandbox
from ptb.sandbox.bwrap import BwrapSandbox
from ptb.sandbox.forward import Forward
from ptb.sandbox.overlay import Bind, parse_bind
from tests.conftest import FAKE_SECRET
from tests.support.repo import REPO

REAL_PYTHON_PATHS = bwrap_mod.python_paths
GOLDEN = REPO / "tests" / "golden" / "sandbox"
PATH_VARS = {"HOME", "HF_HOME", "TMPDIR"}
"""Env values that are paths and may legitimately appear as mount points."""


@pytest.fixture(autouse=True)
def _no_host_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setattr(
        bwrap_mod, "gpu_devices", lambda: [Path("/dev/nvidia0"), Path("/dev/nvidiactl")]
    )
    monkeypatch.setattr(bwrap_mod, "probe", lambda path: HOST_LAYOUT.get(path, ("", "")))
    monkeypatch.setattr(bwrap_mod, "python_paths", lambda: [Path("/pyenv/3.11"), Path("/venv")])


HOST_LAYOUT = {
    "/usr": ("dir", ""), "/bin": ("link", "usr/bin"), "/sbin": ("link", "usr/sbin"),
    "/lib": ("link", "usr/lib"), "/lib64": ("link", "usr/lib64"), "/etc": ("dir", ""),
    "/opt": ("dir", ""), "/etc/slurm": ("dir", ""), "/etc/munge": ("dir", ""),
    "/etc/shadow": ("file", ""), "/etc/ssh": ("dir", ""),
}  # fmt: skip
"""A merged-usr Debian host with SLURM and munge installed (``bwrap.probe`` is patched)."""


def _spec(
    tmp: Path, *, cache: bool = False, gpus: int = 0, forward: bool = False, shared: bool = False
) -> SandboxSpec:
    """``shared``: the results root lies in a folder the sandbox binds (``/share``, configured
    in the case), as on a cluster's shared file system, so its ``hide`` paths are mounted over."""
    results = tmp / "share" / "results" if shared else tmp / "results"
    run = results / "exp" / "agent__scaffold__model__task__s0"
    home = run / "solve" / "job"
    task = home / "task"
    (task / "templates").mkdir(parents=True)
    (task / "evaluate.py").write_text("# protected\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "PTB_DEADLINE": "1893456000",
        "ANTHROPIC_API_KEY": FAKE_SECRET,
    }
    (tmp / "models").mkdir()
    if cache:
        hf = tmp / "hf"
        (hf / "hub").mkdir(parents=True)
        (hf / "token").write_text("hf_not_for_the_agent\n")
        env["HF_HOME"] = str(hf)
    return SandboxSpec(
        home=home,
        workdir=task,
        env=env,
        readonly=(task / "evaluate.py", task / "templates"),
        gpus=gpus,
        extra_ro_binds=(tmp / "models", tmp / "absent") if gpus else (),
        forwards=(Forward("127.0.0.1", 4100),) if forward else (),
        hide=(results, run),  # not bound unless shared: no argument for them
        egress_log=run / "solve" / "egress.jsonl",
        cache_layers=run / "solve" / "overlay",
        cache_listing=run / "solve" / "hf_overlay.json",
        cache_datasets=run / "solve" / "hf_datasets",
    )


def _cfg(impl: str, **kw: object) -> SandboxConfig:
    return SandboxConfig(name=impl, impl=impl, **kw)  # type: ignore[arg-type]


FULL = {"network": "none", "binds": ["/data/shared:/data:ro", "/scratch/x"], "image": "agent.sif"}
SHARED = {"network": "none", "binds": ["<tmp>/share:ro"], "image": "agent.sif"}
"""The results root inside a configured read-only bind (``<tmp>`` filled in by ``_cfg``)."""
CASES: dict[str, tuple[str, dict[str, object], dict[str, object], str | None]] = {
    # name: (backend, config, spec options, cache mode)
    "bwrap_default": ("bwrap", {}, {}, None),
    "bwrap_full": ("bwrap", FULL, {"cache": True, "gpus": 1}, "fuse"),
    "bwrap_cache_kernel": ("bwrap", {}, {"cache": True}, "kernel"),
    "bwrap_cache_ro": ("bwrap", {}, {"cache": True}, "ro"),
    "apptainer_default": ("apptainer", {"image": "/images/agent.sif"}, {}, None),
    "apptainer_full": ("apptainer", FULL, {"cache": True, "gpus": 2}, "fuse"),
    "apptainer_cache_ro": ("apptainer", {"image": "agent.sif"}, {"cache": True}, "ro"),
    "bwrap_forward": ("bwrap", {"network": "none"}, {"forward": True}, None),
    "apptainer_forward": ("apptainer", {**FULL, "binds": []}, {"forward": True}, None),
    "bwrap_egress_forward": ("bwrap", {}, {"forward": True}, None),
    "apptainer_egress_forward": ("apptainer", {"image": "agent.sif"}, {"forward": True}, None),
    "bwrap_host": ("bwrap", {"network": "host"}, {"forward": True}, None),
    "apptainer_host": ("apptainer", {"network": "host", "image": "agent.sif"}, {}, None),
    "bwrap_hide": ("bwrap", SHARED, {"shared": True, "cache": True}, "fuse"),
    "apptainer_hide": ("apptainer", SHARED, {"shared": True, "cache": True}, "ro"),
}


def _sandbox(tmp: Path, name: str) -> Sandbox:
    impl, cfg, spec_kw, mode = CASES[name]
    if "binds" in cfg:
        binds = [str(b).replace("<tmp>", str(tmp)) for b in cfg["binds"]]  # type: ignore[attr-defined]
        cfg = {**cfg, "binds": binds}
    sandbox: Sandbox = SANDBOXES.load(impl)(_cfg(impl, **cfg), _spec(tmp, **spec_kw))  # type: ignore[arg-type]
    overlay = getattr(sandbox, "overlay", None)
    assert (overlay is not None) == (mode is not None)
    if overlay is not None:
        overlay.mode = mode
    return sandbox


def _normalised(argv: list[str], tmp: Path) -> list[str]:
    return [
        a.replace(str(tmp), "<tmp>")
        .replace(sys.executable, "<python>")
        .replace(str(REPO), "<repo>")
        for a in argv
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_argv_matches_golden(name: str, tmp_path: Path) -> None:
    sandbox = _sandbox(tmp_path, name)
    assert isinstance(sandbox, IsolatedSandbox)
    sandbox.start_network()  # the proxy and relays: their sockets' folder is bound in
    try:
        argv = _normalised(sandbox.wrap(["bash", "agent.sh"]), tmp_path)
        if sandbox.relays.socket_dir is not None:
            argv = [a.replace(str(sandbox.relays.socket_dir), "<relays>") for a in argv]
        if sandbox.proxy is not None:
            argv = [re.sub(rf"^{sandbox.proxy.port}=", "<proxy-port>=", a) for a in argv]
        hide_root = getattr(sandbox, "hide_root", None)
        if hide_root is not None:
            argv = [a.replace(str(hide_root), "<hide-root>") for a in argv]
    finally:
        sandbox.stop_network()
        if isinstance(sandbox, ApptainerSandbox) and sandbox.hide_root is not None:
            shutil.rmtree(sandbox.hide_root)
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("PTB_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text("\n".join(argv) + "\n")
    assert golden.exists(), f"no golden file {golden}: run with PTB_UPDATE_GOLDEN=1"
    assert argv == golden.read_text().splitlines()


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_env_value_in_argv(name: str, tmp_path: Path) -> None:
    sandbox = _sandbox(tmp_path, name)
    argv = sandbox.wrap(["bash", "agent.sh"])
    assert not any(FAKE_SECRET in a for a in argv)
    for key, value in sandbox.spec.env.items():
        if key not in PATH_VARS:
            assert value not in argv, key
    assert FAKE_SECRET in sandbox.host_env().values()


def test_bwrap_env_is_the_spec_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-only")
    sandbox = _sandbox(tmp_path, "bwrap_default")
    assert sandbox.host_env() == sandbox.spec.env


def test_bwrap_cache_home_reaches_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hf").mkdir()
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    sandbox = BwrapSandbox(_cfg("bwrap"), _spec(tmp_path))
    assert sandbox.host_env()["HF_HOME"] == str(tmp_path / "hf")


def test_apptainer_env_goes_through_apptainerenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-only")
    sandbox = _sandbox(tmp_path, "apptainer_default")
    env = sandbox.host_env()
    inside = {k.removeprefix("APPTAINERENV_"): v for k, v in env.items() if "APPTAINERENV_" in k}
    assert inside == {k: v for k, v in sandbox.spec.env.items() if k != "HOME"}
    assert "sk-host-only" not in env.values()
    assert set(env) - {f"APPTAINERENV_{k}" for k in inside} <= set(apptainer_mod.HOST_VARS)


def test_apptainer_without_image_names_the_setting(tmp_path: Path) -> None:
    sandbox = ApptainerSandbox(_cfg("apptainer"), _spec(tmp_path))
    with pytest.raises(RuntimeError, match=r"sandbox\.image.*containers/build\.sh agent"):
        sandbox.wrap(["true"])


def test_apptainer_start_names_the_missing_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    sandbox = ApptainerSandbox(_cfg("apptainer", image="agent.sif"), _spec(tmp_path))
    with pytest.raises(RuntimeError, match="`apptainer` binary"):
        sandbox.start()


def test_bwrap_start_names_the_missing_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get install bubblewrap"):
        BwrapSandbox(_cfg("bwrap"), _spec(tmp_path)).start()


@pytest.mark.parametrize("impl", ["bwrap", "apptainer"])
def test_bad_network_lists_the_valid_ones(impl: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="egress, none, host"):
        SANDBOXES.load(impl)(_cfg(impl, network="off"), _spec(tmp_path))


@pytest.mark.parametrize(
    ("text", "bind"),
    [
        ("/a", Bind(Path("/a"), Path("/a"), False)),
        ("/a:ro", Bind(Path("/a"), Path("/a"), True)),
        ("/a:/b", Bind(Path("/a"), Path("/b"), False)),
        ("/a:/b:ro", Bind(Path("/a"), Path("/b"), True)),
        ("/a:/b:rw", Bind(Path("/a"), Path("/b"), False)),
    ],
)
def test_parse_bind(text: str, bind: Bind) -> None:
    assert parse_bind(text) == bind


@pytest.mark.parametrize("text", ["", "rel:/b", "/a:/b:/c", "/a::ro", "/a:/b:xx"])
def test_parse_bind_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"sandbox\.binds"):
        parse_bind(text)


@pytest.mark.parametrize("impl", ["bwrap", "apptainer"])
def test_open_is_the_deprecated_name_of_host(
    impl: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = SANDBOXES.load(impl)(_cfg(impl, network="open"), _spec(tmp_path))
    assert sandbox.network == "host" and "deprecated" in caplog.text
    assert sandbox.warning and "debugging only" in sandbox.warning


def test_egress_is_the_default_and_isolated(tmp_path: Path) -> None:
    sandbox = BwrapSandbox(_cfg("bwrap"), _spec(tmp_path))
    assert sandbox.network == "egress" and sandbox.own_netns and sandbox.warning is None


@pytest.mark.parametrize("impl", ["bwrap", "apptainer"])
def test_scheduler_variables_never_reach_the_agent(impl: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    spec.env.update(SLURM_JOB_ID="7", SLURM_CONF="/etc/slurm/slurm.conf", SBATCH_ACCOUNT="a")
    sandbox = SANDBOXES.load(impl)(_cfg(impl, image="agent.sif"), spec)
    names = {k.removeprefix("APPTAINERENV_") for k in sandbox.host_env()}
    assert not {n for n in names if n.startswith(("SLURM_", "SBATCH_"))}


@pytest.mark.parametrize("impl", ["bwrap", "apptainer"])
def test_egress_points_the_agent_at_the_relayed_proxy(impl: str, tmp_path: Path) -> None:
    sandbox = SANDBOXES.load(impl)(_cfg(impl, image="agent.sif"), _spec(tmp_path, forward=True))
    assert isinstance(sandbox, IsolatedSandbox)
    sandbox.start_network()
    try:
        assert sandbox.proxy is not None
        env = {k.removeprefix("APPTAINERENV_"): v for k, v in sandbox.host_env().items()}
        url = f"http://127.0.0.1:{sandbox.proxy.port}"
        assert env["HTTPS_PROXY"] == env["http_proxy"] == env["ALL_PROXY"] == url
        assert "127.0.0.1" in env["NO_PROXY"].split(",")
        ports = {f.port for f in sandbox.relays.sockets}
        assert ports == {4100, sandbox.proxy.port}  # the gateway and the proxy
        assert sandbox.spec.egress_log.exists()
    finally:
        sandbox.stop_network()


def test_bwrap_binds_no_host_root(tmp_path: Path) -> None:
    """An allow-list: no `--ro-bind / /`, and nothing of /run, /var, /home or /root is bound."""
    argv = _sandbox(tmp_path, "bwrap_default").wrap(["true"])
    pairs = list(itertools.pairwise(argv))
    assert ("--ro-bind", "/") not in pairs and ("--bind", "/") not in pairs
    sources = {b for a, b in pairs if a in ("--ro-bind", "--bind", "--ro-bind-try", "--dev-bind")}
    for hidden in ("/run", "/var", "/var/run", "/var/tmp", "/home", "/root", "/tmp"):
        assert hidden not in sources
    assert "/" in [argv[i + 1] for i, a in enumerate(argv) if a == "--remount-ro"]


def test_bwrap_hides_the_schedulers_files(tmp_path: Path) -> None:
    argv = _sandbox(tmp_path, "bwrap_default").wrap(["true"])
    for path in ("/etc/slurm", "/etc/munge", "/etc/ssh"):
        assert ["--tmpfs", path] == argv[argv.index(path) - 1 : argv.index(path) + 1]
    i = argv.index("/etc/shadow")
    assert argv[i - 2 : i] == ["--ro-bind", "/dev/null"]


def test_python_paths_skip_the_source_checkout() -> None:
    """sys.path folders are bound (a layered venv's too), but not one that holds ptb's
    package (only the package is, through the spec) nor the current directory."""
    paths = REAL_PYTHON_PATHS()
    assert REPO not in paths and Path.cwd().resolve() not in paths
    assert Path(sys.base_prefix).resolve() in [p.resolve() for p in paths]
    for entry in sys.path:
        path = Path(entry).resolve() if entry else None
        if path and path.name == "site-packages" and path.is_dir():
            assert path in paths, entry


def test_agent_image_pins_the_scaffold_clis() -> None:
    """containers/agent.def installs each CLI at the version its scaffold config names."""
    definition = (REPO / "containers" / "agent.def").read_text()
    for path in sorted((REPO / "conf" / "scaffold").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        if cfg.get("npm_package"):
            arg = re.sub(r"\W", "_", cfg["name"])
            assert f"\n    {arg}={cfg['version']}\n" in definition, path.name
            assert f"{cfg['npm_package']}@{{{{ {arg} }}}}" in definition, path.name


@pytest.mark.parametrize("name", sorted(n for n in CASES if n.startswith("apptainer")))
def test_apptainer_guarantees(name: str, tmp_path: Path) -> None:
    """--containall, a cleared environment, no site binds, no host /run or scheduler files, and
    a network namespace of its own unless network=host."""
    sandbox = _sandbox(tmp_path, name)
    argv = sandbox.wrap(["true"])
    assert {"--containall", "--cleanenv", "--no-home"} <= set(argv)
    assert argv[argv.index("--no-mount") + 1] == "hostfs,bind-paths"
    binds = [argv[i + 1].split(":")[0] for i, a in enumerate(argv) if a == "--bind"]
    for src in binds:
        assert not src.startswith(("/run", "/var/run", "/etc/slurm", "/etc/munge", "/var/tmp"))
    has_netns = "--net" in argv and argv[argv.index("--net") + 1 : argv.index("--net") + 3] == [
        "--network",
        "none",
    ]
    assert has_netns == (sandbox.network != "host")


def _pairs_after(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_egress_log_lands_where_the_spec_says(tmp_path: Path) -> None:
    """The sandbox names no run-directory path itself: the egress log is the spec's."""
    spec = _spec(tmp_path)
    log_path = tmp_path / "elsewhere" / "proxy.jsonl"
    spec = dataclasses.replace(spec, egress_log=log_path)
    sandbox = BwrapSandbox(_cfg("bwrap"), spec)
    sandbox.start_network()
    try:
        assert sandbox.proxy is not None and log_path.exists()
        assert not (spec.home.parent / "egress.jsonl").exists()
    finally:
        sandbox.stop_network()


def test_egress_without_a_log_path_is_refused(tmp_path: Path) -> None:
    spec = dataclasses.replace(_spec(tmp_path), egress_log=None)
    with pytest.raises(ValueError, match="egress_log"):
        BwrapSandbox(_cfg("bwrap"), spec).start_network()


def test_cache_layers_and_listing_are_the_spec_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(overlay_mod, "fuse_available", lambda: False)
    layers, listing, kept = tmp_path / "L", tmp_path / "out" / "list.json", tmp_path / "out" / "ds"
    spec = dataclasses.replace(
        _spec(tmp_path, cache=True), cache_layers=layers, cache_listing=listing, cache_datasets=kept
    )
    sandbox = BwrapSandbox(_cfg("bwrap"), spec)
    assert sandbox.overlay is not None and sandbox.overlay.root == layers
    sandbox.overlay.start()
    assert layers.is_dir()
    sandbox.stop()
    assert json.loads(listing.read_text())["mode"] == "ro" and not layers.exists()
    assert not (spec.home.parent / "hf_overlay.json").exists()
    unnamed = dataclasses.replace(spec, cache_layers=None)
    assert BwrapSandbox(_cfg("bwrap"), unnamed).overlay is None  # no folder: not mounted


def _hide_world(tmp: Path) -> tuple[SandboxSpec, Path, Path]:
    """A spec whose results root lies in ``<tmp>/share``; another run beside it."""
    spec = _spec(tmp, shared=True)
    results = tmp / "share" / "results"
    other = results / "exp" / "other__scaffold__model__task__s1"
    other.mkdir(parents=True)
    (other / "score.json").write_text("{}\n")
    return spec, results, other


@pytest.mark.parametrize("impl", ["bwrap", "apptainer"])
def test_hide_covers_a_results_root_in_a_bind_and_keeps_home(impl: str, tmp_path: Path) -> None:
    spec, results, _ = _hide_world(tmp_path)
    cfg = _cfg(impl, network="none", binds=[f"{tmp_path}/share:ro"], image="agent.sif")
    sandbox = SANDBOXES.load(impl)(cfg, spec)  # type: ignore[arg-type]
    argv = sandbox.wrap(["true"])
    home = str(spec.home)
    if impl == "bwrap":
        hidden = argv.index("--tmpfs", argv.index("--tmpfs", argv.index("/tmp") - 1) + 1)
        assert argv[hidden + 1] == str(results)
        assert argv[hidden + 2 : hidden + 5] == ["--bind", home, home]  # HOME on top
        assert f"--remount-ro {results}" in " ".join(argv)
        assert " ".join(argv).index(f"--remount-ro {results}") < " ".join(argv).index(
            "--remount-ro / "
        )
    else:
        binds = _pairs_after(argv, "--bind")
        over = next(b for b in binds if b.endswith(f":{results}:ro"))
        assert binds[binds.index(over) + 1] == f"{home}:{home}"  # HOME on top
        assert isinstance(sandbox, ApptainerSandbox) and sandbox.hide_root is not None
        empty = Path(over.split(":")[0])
        assert sorted(p.name for p in empty.iterdir()) == ["exp"]  # only the way to HOME
        assert spec.home.relative_to(results).parts[0] == "exp"
        sandbox.stop()
        assert not empty.exists()


@pytest.mark.parametrize("impl", ["bwrap", "apptainer"])
def test_hide_adds_nothing_where_no_bind_shows_the_path(impl: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path)  # results under <tmp>/results: bound by nothing
    cfg = _cfg(impl, network="none", image="agent.sif")
    with_hide = SANDBOXES.load(impl)(cfg, spec).wrap(["true"])  # type: ignore[arg-type]
    without = SANDBOXES.load(impl)(cfg, dataclasses.replace(spec, hide=())).wrap(["true"])  # type: ignore[arg-type]
    assert with_hide == without


def test_hide_never_hides_home(tmp_path: Path) -> None:
    spec, _, _ = _hide_world(tmp_path)
    spec = dataclasses.replace(spec, hide=(spec.home, spec.workdir))
    cfg = _cfg("bwrap", network="none", binds=[f"{tmp_path}/share:ro"])
    argv = BwrapSandbox(cfg, spec).wrap(["true"])
    assert str(spec.home) not in _pairs_after(argv, "--tmpfs")
    assert str(spec.workdir) not in _pairs_after(argv, "--tmpfs")


def test_hide_masks_a_file_with_dev_null(tmp_path: Path) -> None:
    spec, _, other = _hide_world(tmp_path)
    secret = other / "score.json"
    spec = dataclasses.replace(spec, hide=(secret,))
    for impl in ("bwrap", "apptainer"):
        cfg = _cfg(impl, network="none", binds=[f"{tmp_path}/share:ro"], image="agent.sif")
        argv = SANDBOXES.load(impl)(cfg, spec).wrap(["true"])  # type: ignore[arg-type]
        joined = " ".join(argv)
        assert (f"--ro-bind /dev/null {secret}" in joined) or (
            f"--bind /dev/null:{secret}:ro" in joined
        ), impl


def test_bwrap_binds_again_what_lies_in_a_hidden_folder(tmp_path: Path) -> None:
    """A base model inside the hidden results root, bound on purpose, stays visible."""
    spec, results, other = _hide_world(tmp_path)
    model = other / "final_model"
    model.mkdir()
    spec = dataclasses.replace(spec, extra_ro_binds=(model,))
    cfg = _cfg("bwrap", network="none", binds=[f"{tmp_path}/share:ro"])
    argv = BwrapSandbox(cfg, spec).wrap(["true"])
    joined = " ".join(argv)
    assert joined.index(f"--tmpfs {results}") < joined.rindex(f"--ro-bind {model} {model}")
