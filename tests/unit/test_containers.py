"""containers/: the Apptainer definition files and build script, checked as data.

Apptainer cannot be installed on the development machines, so the images are never built here.
These tests parse the .def files the way Apptainer does (build arguments, sections) and with
spython (the parser the tests that need it skip without), and run build.sh against a stub.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.support.repo import REPO

CONTAINERS = REPO / "containers"
BUILD_SH = CONTAINERS / "build.sh"
IMAGES = ("agent", "eval")

VLLM_NEEDS = {
    "0.33.0": {"torch": SpecifierSet("==2.14.0"), "transformers": SpecifierSet(">=5.16.1,<5.21")}
}
"""What each vLLM release requires (its wheel's metadata). Add a row when moving vLLM."""

BUILD_ARG = re.compile(r"{{\s*(\w+)\s*}}")
"""Apptainer's own pattern for a build argument (pkg/build/types/parser)."""
SECTIONS = {"help", "setup", "files", "labels", "environment", "pre", "post", "runscript", "test",
            "startscript", "arguments"}  # fmt: skip
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def def_text(image: str) -> str:
    return (CONTAINERS / f"{image}.def").read_text(encoding="utf-8")


def split_sections(text: str) -> tuple[str, dict[str, str]]:
    """(header, {section: body}) as Apptainer splits them: a line whose first word starts with %."""
    header: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = header
    for line in text.splitlines():
        words = line.split()
        if words and words[0].startswith("%"):
            current = sections.setdefault(words[0][1:].lower(), [])
        else:
            current.append(line)
    return "\n".join(header), {k: "\n".join(v) for k, v in sections.items()}


def header_fields(image: str) -> dict[str, str]:
    header, _ = split_sections(def_text(image))
    fields = {}
    for line in header.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
    return fields


def arguments(image: str) -> dict[str, str]:
    """The %arguments defaults."""
    _, sections = split_sections(def_text(image))
    args = {}
    for line in sections.get("arguments", "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            args[key.strip()] = value.strip()
    return args


def render(image: str, overrides: dict[str, str] | None = None) -> str:
    """The definition after Apptainer's build-argument substitution (defaults + overrides)."""
    values = {**arguments(image), **(overrides or {})}

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{image}.def: build argument {name!r} has no default in %arguments")
        return values[name]

    return BUILD_ARG.sub(sub, def_text(image))


def pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line of a requirements/constraints file."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = PIN.match(line.strip())
        if m:
            found[m.group(1).lower().replace("_", "-")] = m.group(2)
    return found


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def npm_scaffolds() -> list[dict[str, Any]]:
    cfgs = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "conf/scaffold").glob("*.yaml"))]
    return [c for c in cfgs if c.get("npm_package")]


@pytest.fixture(scope="module")
def recipes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each image's rendered definition parsed by spython (one Recipe each)."""
    parsers = pytest.importorskip(
        "spython.main.parse.parsers",
        reason="spython is not installed (pip install spython): the .def parsing tests need it",
    )
    folder = tmp_path_factory.mktemp("defs")
    out = {}
    for image in IMAGES:
        path = folder / f"{image}.def"
        path.write_text(render(image), encoding="utf-8")
        recipe = parsers.SingularityParser(str(path)).recipe  # parses in the constructor
        assert list(recipe) == ["spython-base"], f"{image}.def: expected one build stage"
        out[image] = recipe["spython-base"]
    return out


def files_map(recipe: Any) -> dict[str, Path]:
    """%files destination in the image -> source in the repository."""
    out = {}
    for line in recipe.files:
        src, dst = line.split()
        out[dst] = REPO / src
    return out


def installed_from(recipe: Any, flag: str) -> list[Path]:
    """Repository files the image hands to pip as ``<flag> /path`` (-r or -c)."""
    files = files_map(recipe)
    paths = []
    for line in recipe.install:
        for dst in re.findall(rf"(?:^|[\s(]){re.escape(flag)}\s+(/[^\s)]+)", line):
            assert dst in files, f"{dst} is not copied into the image by %files"
            paths.append(files[dst])
    return paths


# --- the definition files -------------------------------------------------------------------


@pytest.mark.parametrize("image", IMAGES)
def test_sections_are_the_ones_apptainer_knows(image: str) -> None:
    """A body line starting with % would start a new (invalid) section in Apptainer's parser."""
    _, sections = split_sections(def_text(image))
    assert set(sections) <= SECTIONS
    assert {"arguments", "labels", "files", "post", "environment", "test"} <= set(sections)


@pytest.mark.parametrize("image", IMAGES)
def test_every_build_argument_has_a_default_and_is_used(image: str) -> None:
    text = render(image)
    assert "{{" not in text
    used = set(BUILD_ARG.findall(def_text(image)))
    assert set(arguments(image)) == used, "remove unused %arguments or add the missing ones"


@pytest.mark.parametrize("image", IMAGES)
def test_bootstrap_and_from_are_set(image: str, recipes: dict[str, Any]) -> None:
    fields = header_fields(image)
    assert fields.get("bootstrap") == "docker"
    base = fields.get("from", "")
    repo, _, tag = base.partition(":")
    assert repo and tag and tag != "latest", f"pin the base image's tag: {base!r}"
    # spython reads the same base (a stray 'from:' in a section would replace it)
    assert recipes[image].fromHeader == base.lower()


def test_both_images_share_the_base_and_the_python_stack(recipes: dict[str, Any]) -> None:
    assert header_fields("agent")["from"] == header_fields("eval")["from"]
    agent, evals = arguments("agent"), arguments("eval")
    for name in ("ptb_version", "pip", "bfcl_eval", "inspect_ai", "inspect_evals"):
        assert agent[name] == evals[name], name
    # protocol=paper reads the original's prompt templates from the same inspect packages the
    # dev environment installs (scripts/setup.sh)
    setup = (Path(__file__).resolve().parents[2] / "scripts" / "setup.sh").read_text()
    assert f"inspect-ai=={evals['inspect_ai']}" in setup
    assert f"inspect-evals=={evals['inspect_evals']}" in setup
    for flag in ("-c", "-r"):
        shared = set(installed_from(recipes["eval"], flag))
        assert shared and shared <= set(installed_from(recipes["agent"], flag)), flag


def test_agent_image_pins_the_scaffold_clis_of_the_configs(recipes: dict[str, Any]) -> None:
    install = "\n".join(recipes["agent"].install)
    scaffolds = npm_scaffolds()
    assert len(scaffolds) == 5
    for cfg in scaffolds:
        pkg, version = cfg["npm_package"], str(cfg["version"])
        found = re.findall(rf'"{re.escape(pkg)}@([^"]+)"', install)
        assert found == [version], f"{pkg}: agent.def installs {found}, conf says {version}"
    npm = re.search(r"npm install -g((?:.*\\\n)*.*)", install)
    assert npm is not None
    assert len(re.findall(r'"(@?[^"@]+)@[^"]+"', npm.group(1))) == len(scaffolds)


def test_eval_image_torch_and_transformers_match_vllm(recipes: dict[str, Any]) -> None:
    wanted: dict[str, str] = {}
    for path in installed_from(recipes["eval"], "-r"):
        wanted.update(pins(path))
    vllm = wanted.get("vllm")
    assert vllm in VLLM_NEEDS, f"eval.def installs vllm=={vllm}: add its requirements to the table"
    for name, spec in VLLM_NEEDS[vllm].items():
        assert name in wanted, f"pin {name} next to vllm"
        assert wanted[name] in spec, f"vllm {vllm} needs {name}{spec}, eval.def pins {wanted[name]}"
    (constraints,) = installed_from(recipes["eval"], "-c")
    locked = pins(constraints)
    for name in ("vllm", "torch", "transformers"):
        assert locked[name] == wanted[name], f"{constraints.name} is stale for {name}"


def test_constraints_agree_with_every_pin_and_with_ptb() -> None:
    locked = pins(CONTAINERS / "constraints.txt")
    for file in ("eval-requirements.txt", "agent-requirements.txt"):
        for name, version in pins(CONTAINERS / file).items():
            assert locked.get(name) == version, f"{file} pins {name}=={version}: run lock.sh"
    meta = pyproject()["project"]
    extras = meta["optional-dependencies"]
    for dep in [*meta["dependencies"], *extras["gpu"], *extras["retention"]]:
        req = Requirement(dep)
        name = req.name.lower().replace("_", "-")
        assert name in locked, f"ptb needs {dep}: run containers/lock.sh"
        assert locked[name] in req.specifier, f"ptb needs {dep}, the images lock {locked[name]}"


@pytest.mark.parametrize("image", IMAGES)
def test_ptb_is_installed_with_its_version_label(image: str, recipes: dict[str, Any]) -> None:
    recipe = recipes[image]
    files = files_map(recipe)
    assert files.get("/opt/ptb/pyproject.toml") == REPO / "pyproject.toml"
    assert files.get("/opt/ptb/ptb") == REPO / "ptb"
    target = '"/opt/ptb[gpu,retention]"' if image == "eval" else '"/opt/ptb[gpu]"'
    assert any(target in line and "pip" in line for line in recipe.install)
    version = pyproject()["project"]["version"]
    assert arguments(image)["ptb_version"] == version, "ptb_version must equal pyproject.toml"
    assert f"ptb.version {version}" in recipe.labels
    assert f"org.opencontainers.image.version {version}" in recipe.labels
    _, sections = split_sections(def_text(image))
    assert "import" in sections["test"] and "ptb" in sections["test"]


def test_agent_image_has_node_and_lets_the_agent_pip_install() -> None:
    text = render("agent")
    assert "deb.nodesource.com/node_20.x" in text  # gemini-cli needs node >= 20
    assert "python3 -m venv --system-site-packages" in text  # user site stays enabled
    _, sections = split_sections(text)
    assert "$HOME/.local/bin" in sections["environment"]


# --- build.sh -------------------------------------------------------------------------------

STUB = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "apptainer version ${STUB_VERSION:-1.3.4}"; exit 0; fi
printf '%s\\n' "$@" >> "$STUB_LOG"
echo "--" >> "$STUB_LOG"
n=0; for a in "$@"; do n=$((n + 1)); done
i=0; for a in "$@"; do i=$((i + 1)); if [ $i -eq $((n - 1)) ]; then : > "$a"; fi; done
exit "${STUB_EXIT:-0}"
"""


def run_build(
    args: list[str], path: str, tmp: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    full_env = {
        "PATH": path,
        "HOME": str(tmp),
        "PTB_GIT_COMMIT": "0123456789ab",
        "STUB_LOG": str(tmp / "apptainer.log"),
        **env,
    }
    return subprocess.run(
        [bash, str(BUILD_SH), *args], env=full_env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def stub_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "apptainer"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"


def stub_calls(tmp: Path) -> list[list[str]]:
    text = (tmp / "apptainer.log").read_text()
    return [call.strip("\n").splitlines() for call in text.split("--\n") if call.strip()]


def test_build_sh_is_valid_bash() -> None:
    proc = subprocess.run(["bash", "-n", str(BUILD_SH)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_build_sh_without_apptainer_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    proc = run_build(["agent", str(tmp_path / "out")], str(empty), tmp_path)
    assert proc.returncode != 0
    assert "apptainer" in proc.stderr and "not on PATH" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [[], ["bogus"], ["agent", "out", "stray"]])
def test_build_sh_rejects_bad_arguments(args: list[str], tmp_path: Path, stub_path: str) -> None:
    proc = run_build(args, stub_path, tmp_path)
    assert proc.returncode != 0
    assert "usage:" in proc.stderr or "unexpected argument" in proc.stderr
    assert not (tmp_path / "apptainer.log").exists()


def test_build_sh_builds_each_image_with_its_labels(tmp_path: Path, stub_path: str) -> None:
    out = tmp_path / "images"
    proc = run_build(["all", str(out), "--", "--fakeroot"], stub_path, tmp_path)
    assert proc.returncode == 0, proc.stderr
    version = pyproject()["project"]["version"]
    calls = stub_calls(tmp_path)
    assert [c[-1] for c in calls] == ["containers/eval.def", "containers/agent.def"]
    for call in calls:
        image = call[-1].removeprefix("containers/").removesuffix(".def")
        assert call[:2] == ["build", "--fakeroot"]
        assert call[-2] == f"{out}/ptb-{image}-{version}.sif.partial"
        passed = dict(call[i + 1].split("=", 1) for i, a in enumerate(call) if a == "--build-arg")
        assert passed == {"ptb_version": version, "ptb_commit": "0123456789ab"}
        # Apptainer stops on build arguments the definition does not use
        assert set(passed) <= set(BUILD_ARG.findall(def_text(image)))
        assert (out / f"ptb-{image}-{version}.sif").exists()
    assert sorted(p.name for p in out.iterdir()) == [
        f"ptb-agent-{version}.sif",
        f"ptb-eval-{version}.sif",
    ]
    assert f"sandbox.image={out}/ptb-agent-{version}.sif" in proc.stdout


def test_build_sh_keeps_no_partial_image(tmp_path: Path, stub_path: str) -> None:
    out = tmp_path / "images"
    proc = run_build(["eval", str(out)], stub_path, tmp_path, STUB_EXIT="3")
    assert proc.returncode == 3
    assert list(out.iterdir()) == []


def test_build_sh_refuses_an_old_apptainer(tmp_path: Path, stub_path: str) -> None:
    proc = run_build(["agent", str(tmp_path)], stub_path, tmp_path, STUB_VERSION="1.1.9")
    assert proc.returncode != 0
    assert ">= 1.2" in proc.stderr
