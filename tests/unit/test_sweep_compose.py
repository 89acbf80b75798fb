"""ptb's sweep composition gives every run exactly the config Hydra composes for its overrides,
with far fewer composes (ptb.launch.sweep.SweepComposer)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from ptb.launch.sweep import SweepComposer, plan_sweep
from ptb.plan import saved_config, to_run_config
from tests.support.repo import REPO, hydra_conf


@pytest.fixture(autouse=True)
def _private_compose_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Sweeps planned here keep their composes in the test's own folder."""
    monkeypatch.setenv("PTB_COMPOSE_CACHE", str(tmp_path / "compose-cache"))


def _grid(**axes: list[str]) -> list[list[str]]:
    keys = list(axes)
    return [["launcher=slurm", *(f"{k}={v}" for k, v in zip(keys, combo, strict=True))]
            for combo in itertools.product(*axes.values())]  # fmt: skip


def _check(jobs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> SweepComposer:
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=jobs[0], return_hydra_config=True)
        composer = SweepComposer(loader, master)
        fulls = [compose("config", overrides=job) for job in jobs]
        for job, full in zip(jobs, fulls, strict=True):
            assert OmegaConf.to_container(composer(job)) == OmegaConf.to_container(full), job
            cfg, saved, _ = composer.resolve(job)  # in place on the shared base, then undone
            assert cfg == to_run_config(full) and saved == saved_config(full), job
        for job, full in zip(jobs, fulls, strict=True):  # the shared bases are as they were
            assert OmegaConf.to_container(composer(job)) == OmegaConf.to_container(full), job
    return composer


def test_grid_configs_are_exact_and_composed_once_per_choice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # opus46 and gpt52 bring different scaffolds, tiny brings its own budget: the footprints
    # (agent+scaffold, model+budget, task) are disjoint, so runs are built by substitution.
    jobs = _grid(agent=["opus46", "gpt52", "glm5"], model=["qwen3_4b", "tiny"],
                 task=["gsm8k", "bfcl"], seed=["0", "1"], **{"budget.hours": ["3.5"]})  # fmt: skip
    composer = _check(jobs, monkeypatch)
    # reference + one per other choice (2 + 1 + 1) + VERIFY full composes; not one per run.
    assert composer.composed <= 1 + 4 + 2 < len(jobs) // 2


def test_interacting_choices_are_composed_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    # model=tiny picks a budget and the sweep picks budgets too: same setting, no substitution.
    jobs = _grid(model=["qwen3_4b", "tiny"], budget=["h100_1h", "cpu_smoke"], task=["gsm8k"])
    composer = _check(jobs, monkeypatch)
    assert composer.composed == len(jobs)


def test_each_baseline_is_planned_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    jobs = [[*j, f"results_dir={tmp_path}"] for j in _grid(agent=["opus46", "gpt52"],
                                                           seed=["0", "1", "2"])]  # fmt: skip
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=jobs[0], return_hydra_config=True)
        plans = plan_sweep(SweepComposer(loader, master), jobs)
    assert len({p.run.path for p in plans}) == 6
    assert len({id(p.baseline) for p in plans}) == 1
    assert plans[0].baseline is not None and plans[0].baseline.cfg.agent.name == "baseline_zeroshot"
    assert [p.cfg.seed for p in plans] == [0, 1, 2, 0, 1, 2]


def test_runs_sharing_a_baseline_share_arrays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ptb.launch.slurm import _shape, plan_jobs
    from ptb.plan import materialize

    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    jobs = [[*j, f"results_dir={tmp_path}"]
            for j in _grid(agent=["opus46"], task=["gsm8k", "bfcl"], seed=["0", "1"])]  # fmt: skip
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=jobs[0], return_hydra_config=True)
        plans = plan_sweep(SweepComposer(loader, master), jobs)
    for plan in plans:
        materialize(plan)
    batch = [plan_jobs(p, {}) for p in plans]
    for rj in batch:
        assert list(rj.todo) == ["solve", "evaluate", "judge", "score"]
        assert rj.todo["solve"] == ["prepare", "solve"] and rj.todo["score"] == ["score", "log"]
        rj.baseline_job = "90_0" if rj.plan.cfg.task.name == "gsm8k" else "90_1"
    shapes = [_shape(rj) for rj in batch]
    assert shapes[0] == shapes[1] and shapes[2] == shapes[3] and shapes[0] != shapes[2]


def test_sweep_preflight_checks_every_distinct_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``-m judge=rules,rules+llm``: both judges are checked (the second brings an LLM judge
    whose key and scaffold the first does not need); seeds of one configuration are checked
    once."""
    from ptb.launch import sweep
    from ptb.preflight import Problem

    jobs = [[f"judge={j}", f"seed={s}"] for j in ("rules", "rules+llm") for s in (0, 1)]
    checked: list[tuple[str, str]] = []

    def fake_preflight(cfg):  # type: ignore[no-untyped-def]
        checked.append((cfg.agent.name, cfg.judge.name))
        return [Problem("LLM judge: no key", "export it")] if cfg.judge.name != "rules" else []

    monkeypatch.setattr(sweep, "preflight", fake_preflight)
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=jobs[0], return_hydra_config=True)
        plans = plan_sweep(SweepComposer(loader, master), jobs)
    found = sweep.check(plans)
    run_judges = sorted(j for a, j in checked if not a.startswith("baseline"))
    assert run_judges == ["rules", "rules+llm"]
    assert sorted(found) == [p.run.run_id for p in plans if p.cfg.judge.name == "rules+llm"]


def test_composed_ahead_in_workers_the_same_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``precompose`` forks a worker that composes its share ahead: the runs' configs are the
    same, and the prediction is right (no compose is added when the runs are resolved)."""
    from ptb.plan import baseline_overrides

    jobs = _grid(agent=["opus46", "gpt52", "glm5"], model=["qwen3_4b", "tiny"],
                 task=["gsm8k", "bfcl"], seed=["0", "1"])  # fmt: skip
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=jobs[0], return_hydra_config=True)
        ahead = SweepComposer(loader, master)
        ahead.precompose([r for j in jobs for r in (j, baseline_overrides(j, 0))], workers=2)
        before = ahead.composed
        assert before >= 4
        plans = plan_sweep(ahead, jobs)
        assert ahead.composed == before  # every full compose was predicted
        for job, plan in zip(jobs, plans, strict=True):
            full = compose("config", overrides=job)
            assert plan.cfg == to_run_config(full) and plan.saved == saved_config(full), job
            assert plan.baseline is not None
            b_full = compose("config", overrides=plan.baseline.overrides)
            assert plan.baseline.saved == saved_config(b_full)


def test_a_value_override_that_an_interpolation_reads_takes_the_full_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """budget_ablation's ``experiment: ablation_${budget.name}``: runs still get the right
    experiment when the budget's name is overridden."""
    jobs = [["+sweeps=budget_ablation", "budget=h100_2h", f"budget.name={n}", f"seed={s}"]
            for n in ("a", "b") for s in (0, 1)]  # fmt: skip
    composer = _check(jobs, monkeypatch)
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=jobs[0], return_hydra_config=True)
        plans = plan_sweep(SweepComposer(loader, master), jobs)
    assert [p.cfg.experiment for p in plans] == ["ablation_a"] * 2 + ["ablation_b"] * 2
    assert composer.composed >= 1


def test_a_second_sweep_takes_its_composes_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The compose cache (``ptb.launch.compose_cache``): the same sweep again composes only the
    one combination it checks the cache with, and gets the configs Hydra composes; a cache that
    disagrees with that compose is dropped."""
    import pickle

    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    monkeypatch.setenv("PTB_COMPOSE_CACHE", str(tmp_path / "cache"))
    jobs = [[*j, f"results_dir={tmp_path / 'results'}"] for j in _grid(
        agent=["opus46", "gpt52"], model=["qwen3_4b", "tiny"], seed=["0", "1"])]  # fmt: skip
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=jobs[0], return_hydra_config=True)
        first = SweepComposer(loader, master)
        plan_sweep(first, jobs)
        assert first.composed >= 3
        (cache,) = (tmp_path / "cache").iterdir()
        again = SweepComposer(loader, master)
        plans = plan_sweep(again, jobs)
        assert again.composed == 1
        for job, plan in zip(jobs, plans, strict=True):
            full = compose("config", overrides=job)
            assert plan.cfg == to_run_config(full) and plan.saved == saved_config(full), job
        stale = pickle.loads(cache.read_bytes())
        for t in stale.values():
            t.saved = {**t.saved, "seed": 99}
        cache.write_bytes(pickle.dumps(stale))
        third = SweepComposer(loader, master)
        plans = plan_sweep(third, jobs)
        assert third.composed == first.composed
        for job, plan in zip(jobs, plans, strict=True):
            assert plan.saved == saved_config(compose("config", overrides=job)), job


def test_the_cache_key_follows_the_configs_and_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ptb.launch import compose_cache

    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    monkeypatch.setenv("PTB_COMPOSE_CACHE", str(tmp_path))
    with hydra_conf():
        master = compose("config", overrides=["launcher=slurm"], return_hydra_config=True)
        key = compose_cache.cache_file(master)
        assert key is not None and key == compose_cache.cache_file(master)
        monkeypatch.setenv("PTB_HEALTHBENCH_EASY", "/elsewhere.jsonl")  # read by oc.env
        assert compose_cache.cache_file(master) not in (key, None)
        monkeypatch.setenv("PTB_COMPOSE_CACHE", "off")
        assert compose_cache.cache_file(master) is None
    assert compose_cache.cacheable({"a": "${oc.env:X,1}", "b": "${a}"})
    assert not compose_cache.cacheable({"a": "${now:%H}"})
