"""A sweep's composes with ``ComposeMemo`` (loaded configs and merged prefixes kept between
composes, no unused interpolation maps) give exactly the configs of Hydra's own compose:
values, interpolations, node types, flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal import defaults_list as hydra_defaults
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, ListConfig, OmegaConf

from ptb.launch.compose_memo import ComposeMemo
from tests.support.repo import REPO, hydra_conf

FLAGS = ("struct", "readonly", "allow_objects", "convert", "no_deepcopy_set_nodes")


def _anatomy(node: Any) -> Any:
    """Everything a config node is: its type, reference and object types, own flags, and
    each child's anatomy (interpolations unresolved)."""
    if isinstance(node, DictConfig | ListConfig):
        meta = node._metadata
        own = tuple(meta.flags.get(f) for f in FLAGS)
        head = (type(node).__name__, meta.ref_type, meta.object_type, meta.key, own)
        if node._is_missing() or node._is_none() or node._is_interpolation():
            return (*head, node._value())
        if isinstance(node, DictConfig):
            return (*head, {k: _anatomy(node._get_node(k)) for k in node})
        return (*head, [_anatomy(node._get_node(i)) for i in range(len(node))])
    own = tuple(node._metadata.flags.get(f) for f in FLAGS)
    return (type(node).__name__, node._metadata.ref_type, own, node._value())


def compose_both(conf_dir: Path, runs: list[list[str]], master_overrides: list[str]) -> None:
    """Compose every run plainly and with one memo (in order, as a sweep does); compare."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=master_overrides, return_hydra_config=True)
        memo = ComposeMemo()
        for run in runs:
            plain = loader.load_sweep_config(master, list(run))
            with memo.active(loader):
                fast = loader.load_sweep_config(master, list(run))
            assert _anatomy(fast) == _anatomy(plain), run
            assert OmegaConf.to_yaml(fast) == OmegaConf.to_yaml(plain), run


def test_other_sweeps_and_defaults_compose_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    runs = [
        [],
        ["model=tiny"],
        ["+sweeps=toy_grid", "seed=3"],
        ["+sweeps=budget_ablation", "budget=h100_1h", "model=qwen3_1_7b"],
        ["+sweeps=scaffold_comparison", "agent=opus46", "scaffold=codex_cli"],
        ["+sweeps=paper_baselines", "agent=baseline_fewshot", "task=gpqa"],
        ["judge=rules+llm", "retention=general", "sandbox=none"],
        ["model=tiny"],
    ]
    with hydra_conf():
        pass
    compose_both(REPO / "conf", runs, [])


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_default_that_is_an_interpolation(tmp_path: Path) -> None:
    """``size: ${kind}`` in a defaults list: the interpolation map is built and read."""
    conf = _write(tmp_path, {
        "config.yaml": "defaults:\n  - kind: a\n  - size: ${kind}\n  - _self_\nname: x\n",
        "kind/a.yaml": "k: 1\n", "kind/b.yaml": "k: 2\n",
        "size/a.yaml": "s: small\n", "size/b.yaml": "s: large\n",
    })  # fmt: skip
    runs = [["kind=a"], ["kind=b"], ["kind=a", "name=y"], ["kind=b"]]
    compose_both(conf, runs, [])
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", return_hydra_config=True)
        memo = ComposeMemo()
        with memo.active(loader):
            assert loader.load_sweep_config(master, ["kind=b"]).size.s == "large"


def test_a_compose_changes_nothing_that_a_later_one_reads(tmp_path: Path) -> None:
    """A global-package config (merged by reference) and a packaged one, composed again and
    again: the kept loads and prefixes are copies, never the nodes a compose took over."""
    conf = _write(tmp_path, {
        "config.yaml": "defaults:\n  - opt: a\n  - extra@_global_: g\n  - _self_\ntop: 1\n",
        "opt/a.yaml": "v: [1, 2]\nd: {x: 1}\n", "opt/b.yaml": "v: [3]\nd: {y: 2}\n",
        "extra/g.yaml": "glob: {z: 3}\n",
    })  # fmt: skip
    # opt=b merges extra/g again (its prefix differs) and sets a value in what it took over
    runs = [["opt=a"], ["opt=b", "glob.z=4", "opt.d.y=5"], ["opt=b"], ["opt=a", "glob.z=5"],
            ["opt=a"], ["opt=b", "top=2"]]  # fmt: skip
    compose_both(conf, runs, [])


def test_errors_are_hydras_and_the_patches_are_undone(tmp_path: Path) -> None:
    conf = _write(tmp_path, {"config.yaml": "defaults:\n  - opt: a\n", "opt/a.yaml": "v: 1\n"})
    plain_map = hydra_defaults._create_interpolation_map
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", return_hydra_config=True)
        with pytest.raises(ConfigCompositionException) as plain_error:
            loader.load_sweep_config(master, ["opt=nope"])
        memo = ComposeMemo()
        with pytest.raises(ConfigCompositionException) as fast_error, memo.active(loader):
            loader.load_sweep_config(master, ["opt=nope"])
        assert str(fast_error.value) == str(plain_error.value)
        assert hydra_defaults._create_interpolation_map is plain_map
        assert "_compose_config_from_defaults_list" not in vars(loader)
        assert "__deepcopy__" not in vars(loader.repository)
        assert loader.load_sweep_config(master, []).opt.v == 1
