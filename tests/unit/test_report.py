"""ptb.report: weights, averages, std over seeds, fallbacks, missing cells, JSON and the CLI."""

from __future__ import annotations

import json
import math
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from ptb.report import Options, ReportError, build_report, tables
from ptb.report.__main__ import main
from ptb.report.markdown import render_markdown
from ptb.report.scan import find_run_dirs, info_from_run_id
from ptb.report.wandb_report import GridSpec, TextSpec, build_spec, to_wandb

MODELS = ("m1", "m2")
TASKS = ("t1", "t2", "t3")
SEEDS = (0, 1, 2)
ZEROSHOT = {("m1", "t1"): 0.10, ("m1", "t2"): 0.20, ("m1", "t3"): 0.30,
            ("m2", "t1"): 0.20, ("m2", "t2"): 0.20, ("m2", "t3"): 0.10}  # fmt: skip
INSTRUCT = {("m1", "t1"): 0.50, ("m1", "t2"): 0.30, ("m1", "t3"): 0.40,
            ("m2", "t1"): 0.40, ("m2", "t2"): 0.50, ("m2", "t3"): 0.20}  # fmt: skip
# Gains (x100): t1 45-15=30, t2 40-20=20, t3 30-20=10 -> w ∝ 1/30, 1/20, 1/10 = 2/11, 3/11, 6/11.
PAPER_WEIGHTS = {"t1": 2 / 11, "t2": 3 / 11, "t3": 6 / 11}
FLAGGED_CELL = ("m1", "t1", 1)  # agent_a's flagged run: it takes the zero-shot base score


def a_score(model: str, task: str, seed: int) -> float:
    if (model, task, seed) == FLAGGED_CELL:
        return ZEROSHOT[(model, task)]
    return 0.3 + 0.1 * TASKS.index(task) + 0.05 * MODELS.index(model) + 0.02 * seed


def b_score(model: str, task: str, seed: int) -> float:
    return 0.2 + 0.05 * TASKS.index(task) + 0.01 * seed


def write_run(
    root: Path,
    agent: str,
    scaffold: str,
    model: str,
    task: str,
    seed: int,
    final: float,
    *,
    flagged: bool = False,
    fallback: str | None = None,
    budget: str | None = None,
    usage: dict[str, float] | None = None,
    experiment: str = "paper",
) -> Path:
    run_id = f"{agent}__{scaffold}__{model}__{task}__s{seed}"
    run_dir = root / experiment / run_id
    run_dir.mkdir(parents=True)
    score = {
        "run_id": run_id,
        "agent": agent,
        "scaffold": scaffold,
        "model": model,
        "task": task,
        "seed": seed,
        "raw": 0.9 if flagged else final,
        "final": final,
        "flagged": flagged,
        "fallback": fallback,
    }
    (run_dir / "score.json").write_text(json.dumps(score))
    if budget:
        (run_dir / "config.yaml").write_text(yaml.safe_dump({"budget": {"name": budget}}))
    if usage:
        (run_dir / "solve").mkdir()
        (run_dir / "solve" / "usage.json").write_text(json.dumps(usage))
    return run_dir


def write_failed_run(
    root: Path, agent: str, scaffold: str, model: str, task: str, seed: int
) -> Path:
    run_id = f"{agent}__{scaffold}__{model}__{task}__s{seed}"
    run_dir = root / "paper" / run_id
    (run_dir / "evaluate").mkdir(parents=True)
    stages = {"solve": {"status": "done"}, "evaluate": {"status": "failed"},
              "judge": {"status": "done"}, "score": {"status": "pending"}}  # fmt: skip
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_id, "stages": stages}))
    error = {"type": "OutOfMemoryError", "message": "CUDA out of memory", "attempt": 3}
    (run_dir / "evaluate" / "error.json").write_text(json.dumps(error))
    return run_dir


def write_baselines(root: Path, tasks: tuple[str, ...] = TASKS) -> None:
    for (model, task), value in ZEROSHOT.items():
        if task in tasks:
            write_run(root, "baseline_zeroshot", "none", model, task, 0, value)
    for (model, task), value in INSTRUCT.items():
        if task in tasks:
            write_run(root, "baseline_instruct", "none", model, task, 0, value)
    write_run(root, "baseline_fewshot", "none", "m1", "t1", 0, 0.15)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_baselines(root)
    for model in MODELS:
        for task in TASKS:
            for seed in SEEDS:
                flagged = (model, task, seed) == FLAGGED_CELL
                write_run(
                    root,
                    "agent_a",
                    "claude_code",
                    model,
                    task,
                    seed,
                    a_score(model, task, seed),
                    flagged=flagged,
                    fallback="flagged" if flagged else None,
                    usage={"wall_s": 3600.0 * (1 + seed), "cost_usd": 2.0},
                )
                if (model, task, seed) == ("m2", "t3", 2):
                    write_failed_run(root, "agent_b", "codex_cli", model, task, seed)
                else:
                    write_run(
                        root, "agent_b", "codex_cli", model, task, seed, b_score(model, task, seed)
                    )
    return root


def run_cli(*args: str) -> int:
    return main(list(args))


def method(data: dict[str, Any], agent: str) -> dict[str, Any]:
    (found,) = [m for m in data["methods"] + data["baselines"] if m["agent"] == agent]
    return found


def per_seed_avg(score: Any, seed: int) -> float:
    return sum(
        w * sum(100 * score(m, t, seed) for m in MODELS) / len(MODELS)
        for t, w in PAPER_WEIGHTS.items()
    )


# --- weights ------------------------------------------------------------------------------------


def test_paper_weights_match_hand_computation(results: Path) -> None:
    report = build_report(results, Options())
    assert report.weights.weights == pytest.approx(PAPER_WEIGHTS)
    assert sum(report.weights.weights.values()) == pytest.approx(1.0)
    assert report.weights.source.startswith("paper")
    assert report.weights.detail["t1"] == pytest.approx(
        {"instruct": 45.0, "zeroshot": 15.0, "gain": 30.0}
    )


def test_paper_tasks_get_the_papers_fixed_factors(tmp_path: Path) -> None:
    from ptb.report.weights import PAPER_FACTORS

    root = tmp_path / "results"
    for task in ("gsm8k", "bfcl"):  # no baselines at all: the fixed factors need none
        write_run(root, "agent_a", "claude_code", "m1", task, 0, 0.5)
    report = build_report(root, Options())
    total = PAPER_FACTORS["gsm8k"] + PAPER_FACTORS["bfcl"]
    assert report.weights.weights == pytest.approx(
        {"gsm8k": PAPER_FACTORS["gsm8k"] / total, "bfcl": PAPER_FACTORS["bfcl"] / total}
    )
    assert "fixed factors" in report.weights.source
    assert sum(PAPER_FACTORS.values()) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ReportError, match="no baseline_instruct"):
        build_report(root, Options(weights="recompute"))  # the rule needs the baselines


def test_fixed_factors_are_the_originals_file_byte_for_byte() -> None:
    """Written back in the original's names and layout, the factors in ptb's source hash to the
    sha256 pinned for the original's ``scripts/factors.json``: no digit was lost or changed."""
    from ptb.report.weights import PAPER_FACTORS
    from ptb.tasks import upstream

    original_names = {"arenahard_writing": "arenahardwriting", "gpqa": "gpqamain"}
    data = dict(sorted((original_names.get(k, k), v) for k, v in PAPER_FACTORS.items()))
    text = json.dumps(data, indent=4)
    assert upstream.sha256_of(text.encode()) == upstream.pinned("factors.json").sha256


def test_tasks_without_a_factor_recompute_and_say_so(results: Path) -> None:
    report = build_report(results, Options())
    assert "no fixed factor for t1, t2, t3" in report.weights.source
    with pytest.raises(ReportError, match="no fixed weight for task"):
        build_report(results, Options(weights="paper"))


def test_weights_option_and_file(results: Path, tmp_path: Path) -> None:
    report = build_report(results, Options(weights="t1=1,t2=1,t3=2"))
    assert report.weights.weights == pytest.approx({"t1": 0.25, "t2": 0.25, "t3": 0.5})
    assert "--weights" in report.weights.source
    weights_file = tmp_path / "w.yaml"
    weights_file.write_text("t1: 1\nt2: 3\nt3: 0\n")
    report = build_report(results, Options(weights=str(weights_file)))
    assert report.weights.weights == pytest.approx({"t1": 0.25, "t2": 0.75, "t3": 0.0})
    assert report.grid.tasks == ("t1", "t2")  # a zero weight leaves the task out
    assert str(weights_file) in report.weights.source


def test_weights_from_a_previous_json_report(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert run_cli(str(results), "--json", str(out)) == 0
    report = build_report(results, Options(weights=str(out)))
    assert report.weights.weights == pytest.approx(PAPER_WEIGHTS)


def test_missing_baseline_fails_naming_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "results"
    write_baselines(root, tasks=("t1", "t2"))
    write_run(root, "baseline_zeroshot", "none", "m1", "t3", 0, 0.1)
    for task in TASKS:
        write_run(root, "agent_a", "claude_code", "m1", task, 0, 0.5)
    assert run_cli(str(root)) == 1
    err = capsys.readouterr().err
    assert "task 't3': no baseline_instruct score for model(s) m1" in err
    assert "--equal-weights" in err
    assert run_cli(str(root), "--equal-weights", "--json", str(tmp_path / "o.json")) == 0
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["weights"] == pytest.approx(dict.fromkeys(TASKS, 1 / 3))
    assert data["weights_source"].startswith("equal weights (--equal-weights)")
    assert "t3" in data["weights_source"]


def test_non_positive_gain_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "results"
    write_run(root, "baseline_zeroshot", "none", "m1", "t1", 0, 0.5)
    write_run(root, "baseline_instruct", "none", "m1", "t1", 0, 0.4)
    write_run(root, "agent_a", "claude_code", "m1", "t1", 0, 0.6)
    assert run_cli(str(root)) == 1
    assert "task 't1': instruct gain is not positive" in capsys.readouterr().err
    assert run_cli(str(root), "--weights", "t1=1") == 0


def test_task_without_any_baseline_is_named(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_run(root, "agent_a", "claude_code", "m1", "t9", 0, 0.6)
    with pytest.raises(
        ReportError, match="task 't9': no baseline_instruct and no baseline_zeroshot"
    ):
        build_report(root, Options())


def test_given_weights_must_name_every_task(results: Path) -> None:
    with pytest.raises(ReportError, match=r"no weight for task.*t3"):
        build_report(results, Options(weights="t1=1,t2=1"))
    with pytest.raises(ReportError, match="not both"):
        build_report(results, Options(weights="t1=1,t2=1,t3=1", equal_weights=True))
    with pytest.raises(ReportError, match="must be ≥ 0"):
        build_report(results, Options(weights="t1=1,t2=-1,t3=1"))
    with pytest.raises(ReportError, match="not task=w"):
        build_report(results, Options(weights="nosuchfile.yaml"))


# --- averages -----------------------------------------------------------------------------------


def test_method_average_and_sample_std(results: Path) -> None:
    data = build_report(results, Options()).to_json()
    a = method(data, "agent_a")
    per_seed = [per_seed_avg(a_score, s) for s in SEEDS]
    mean = sum(per_seed) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in per_seed) / (3 - 1))
    assert a["avg"] == pytest.approx(mean, abs=1e-4)
    assert a["std"] == pytest.approx(std, abs=1e-4)
    assert a["n_seeds"] == 3
    assert a["runs"] == 18


def test_per_task_and_per_model(results: Path) -> None:
    a = method(build_report(results, Options()).to_json(), "agent_a")
    for task in TASKS:
        cells = [100 * a_score(m, task, s) for m in MODELS for s in SEEDS]
        assert a["per_task"][task] == pytest.approx(sum(cells) / len(cells), abs=1e-4)
    for model in MODELS:
        expected = sum(
            w * sum(100 * a_score(model, t, s) for s in SEEDS) / 3 for t, w in PAPER_WEIGHTS.items()
        )
        assert a["per_model"][model] == pytest.approx(expected, abs=1e-4)
    assert a["cells"]["m1"]["t2"] == pytest.approx(100 * (0.4 + 0.02), abs=1e-4)


def test_flagged_and_fallback_counts(results: Path) -> None:
    a = method(build_report(results, Options()).to_json(), "agent_a")
    assert a["flagged"] == 1
    assert a["fallbacks"] == {"flagged": 1}
    assert method(build_report(results, Options()).to_json(), "agent_b")["fallbacks"] == {}


def test_baseline_rows(results: Path) -> None:
    data = build_report(results, Options()).to_json()
    assert [b["agent"] for b in data["baselines"]] == [
        "baseline_zeroshot",
        "baseline_fewshot",
        "baseline_instruct",
    ]
    zs = method(data, "baseline_zeroshot")
    expected = sum(
        w * (100 * ZEROSHOT[("m1", t)] + 100 * ZEROSHOT[("m2", t)]) / 2
        for t, w in PAPER_WEIGHTS.items()
    )
    assert zs["avg"] == pytest.approx(expected, abs=1e-4)
    assert zs["std"] is None  # one seed
    fewshot = method(data, "baseline_fewshot")
    assert fewshot["avg"] is None
    assert len(fewshot["missing"]) == 5


# --- missing cells ------------------------------------------------------------------------------


def test_missing_cell_nulls_the_average_and_is_listed(results: Path) -> None:
    data = build_report(results, Options()).to_json()
    b = method(data, "agent_b")
    assert b["avg"] is None and b["std"] is None
    assert b["n_seeds"] == 3
    assert b["runs"] == 17 and b["runs_without_score"] == 1
    assert b["missing"] == [
        {
            "model": "m2",
            "task": "t3",
            "seeds": [2],
            "unscored_runs": [
                {
                    "run_id": "agent_b__codex_cli__m2__t3__s2",
                    "stage": "evaluate",
                    "status": "failed",
                }
            ],
        }
    ]
    # the cell's other seeds still count in the per-task table
    assert b["per_task"]["t3"] == pytest.approx(
        (sum(100 * b_score("m1", "t3", s) for s in SEEDS) / 3 + 100 * (0.3 + 0.005)) / 2, abs=1e-4
    )
    (failed,) = data["missing"]
    assert failed["stage"] == "evaluate" and failed["status"] == "failed"
    assert failed["agent"] == "agent_b" and failed["seed"] == 2
    assert "CUDA out of memory" in failed["error"]


def test_a_cell_missing_for_all_seeds(results: Path) -> None:
    for seed in SEEDS:
        shutil.rmtree(results / "paper" / f"agent_a__claude_code__m2__t2__s{seed}")
    a = method(build_report(results, Options()).to_json(), "agent_a")
    assert a["avg"] is None
    assert a["per_task"]["t2"] is None and a["per_model"]["m2"] is None
    assert a["per_task"]["t1"] is not None
    assert a["missing"] == [{"model": "m2", "task": "t2", "seeds": [0, 1, 2], "unscored_runs": []}]


def test_models_option_restricts_the_grid(results: Path) -> None:
    report = build_report(results, Options(models=("m1",)))
    b = method(report.to_json(), "agent_b")
    assert b["avg"] is not None and b["missing"] == []
    # the weights come from m1's baselines only: gains 40, 10, 10
    assert report.weights.weights == pytest.approx({"t1": 1 / 9, "t2": 4 / 9, "t3": 4 / 9})


# --- methods, scanning --------------------------------------------------------------------------


def test_budget_splits_methods(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_run(root, "baseline_zeroshot", "none", "m1", "t1", 0, 0.1)
    write_run(root, "baseline_instruct", "none", "m1", "t1", 0, 0.5)
    write_run(root, "agent_a", "claude_code", "m1", "t1", 0, 0.6, budget="h100_10h")
    write_run(
        root, "agent_a", "claude_code", "m1", "t1", 0, 0.3, budget="h100_1h", experiment="abl"
    )
    data = build_report(root, Options()).to_json()
    labels = {m["label"]: m["avg"] for m in data["methods"]}
    assert labels == {
        "agent_a / claude_code / h100_10h": pytest.approx(60.0),
        "agent_a / claude_code / h100_1h": pytest.approx(30.0),
    }


def test_duplicate_runs_are_an_error(results: Path) -> None:
    write_run(results, "agent_a", "claude_code", "m1", "t1", 0, 0.5, experiment="rerun")
    with pytest.raises(ReportError, match="scored more than once"):
        build_report(results, Options())


def test_scan_does_not_enter_run_folders(results: Path) -> None:
    run_dir = results / "paper" / "agent_a__claude_code__m1__t1__s0"
    stray = run_dir / "solve" / "workspace" / "copy"
    stray.mkdir(parents=True)
    (stray / "score.json").write_text("{not json")
    assert run_dir in find_run_dirs(results)
    assert not any("workspace" in str(p) for p in find_run_dirs(results))


def test_run_id_parsing() -> None:
    info = info_from_run_id("opus46__claude_code__qwen3_1_7b__gsm8k__s2")
    assert info is not None
    assert (info.agent, info.scaffold, info.model, info.task, info.seed) == (
        "opus46",
        "claude_code",
        "qwen3_1_7b",
        "gsm8k",
        2,
    )
    assert info_from_run_id("not-a-run-id") is None


def test_malformed_score_is_named(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = results / "paper" / "agent_a__claude_code__m1__t1__s0" / "score.json"
    data = json.loads(path.read_text())
    data["final"] = 45.0  # a percentage where a fraction belongs
    path.write_text(json.dumps(data))
    assert run_cli(str(results)) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "'final' must be a number in [0, 1]" in err


# --- CLI and outputs ----------------------------------------------------------------------------


def test_cli_json_shape(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, md = tmp_path / "out" / "report.json", tmp_path / "report.md"
    assert run_cli(str(results), "--json", str(out), "--md", str(md)) == 0
    stdout = capsys.readouterr().out
    assert "agent_a / claude_code" in stdout and "Weights: paper" in stdout
    data = json.loads(out.read_text())
    assert set(data) >= {"weights", "weights_source", "methods", "baselines", "missing"}
    assert [m["agent"] for m in data["methods"]] == ["agent_a", "agent_b"]  # ranked, null last
    keys = {"agent", "scaffold", "avg", "std", "n_seeds", "per_task", "per_model", "runs"}
    for row in data["methods"] + data["baselines"]:
        assert keys | {"flagged", "fallbacks", "missing"} <= set(row)
    assert set(data["methods"][0]["per_task"]) == set(TASKS)
    assert set(data["methods"][0]["per_model"]) == set(MODELS)
    assert 0 <= data["methods"][0]["avg"] <= 100 and data["methods"][0]["avg"] > 1  # x100
    text = md.read_text()
    assert "## Leaderboard" in text and "| agent_b / codex_cli |" in text
    assert "n/a (missing cells)" in text


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(tmp_path / "nope")) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(str(tmp_path / "empty")) == 1
    assert "no run directories" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run_cli("--bogus")
    assert exc.value.code == 2


def test_markdown_lists_missing(results: Path) -> None:
    text = render_markdown(build_report(results, Options()))
    assert "## Missing cells" in text
    assert "agent_b__codex_cli__m2__t3__s2 (failed at evaluate)" in text
    assert "## Runs without score.json" in text


# --- W&B report spec ----------------------------------------------------------------------------


def test_wandb_spec(results: Path) -> None:
    write_run(results, "agent_a", "codex_cli", "m1", "t1", 0, 0.5)
    spec = build_spec(build_report(results, Options()), project="ptb", entity="team")
    assert (spec.project, spec.entity) == ("ptb", "team")
    grids = [b for b in spec.blocks if isinstance(b, GridSpec)]
    task_grids = [g for g in grids if g.runset.startswith("task ")]
    assert [g.filters for g in task_grids] == [f"Config('task') == '{t}'" for t in TASKS]
    assert {p.groupby for p in task_grids[0].panels} == {"agent", "scaffold", "model"}
    assert all(p.y == "score/final" for g in grids for p in g.panels)
    scaffold_grids = [
        g for g in grids if g.runset.startswith("agent ") and g.runset != "agent runs"
    ]
    assert [g.filters for g in scaffold_grids] == ["Config('agent') == 'agent_a'"]
    usage = next(g for g in grids if g.runset == "agent runs")
    assert "not in" in usage.filters and "baseline_instruct" in usage.filters
    texts = [b.text for b in spec.blocks if isinstance(b, TextSpec) and b.kind == "markdown"]
    assert any("| agent_a / claude_code |" in t for t in texts)
    assert any("Missing" in b.text for b in spec.blocks if isinstance(b, TextSpec))


def test_wandb_missing_package_is_explained(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wandb_workspaces", None)
    monkeypatch.setitem(sys.modules, "wandb_workspaces.reports", None)
    monkeypatch.setitem(sys.modules, "wandb_workspaces.reports.v2", None)
    spec = build_spec(build_report(results, Options()), project="ptb")
    with pytest.raises(ReportError, match="pip install wandb-workspaces"):
        to_wandb(spec, "team")


def test_wandb_cli_without_package_exits_1(
    results: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "wandb_workspaces", None)
    monkeypatch.setitem(sys.modules, "wandb_workspaces.reports.v2", None)
    assert run_cli(str(results), "--wandb", "--wandb-entity", "team") == 1
    assert "pip install wandb-workspaces" in capsys.readouterr().err


def test_to_wandb_maps_the_spec(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mapping onto wandb_workspaces classes, with a stand-in module (no network)."""

    def recorder(kind: str) -> Any:
        return lambda *args, **kwargs: (kind, args, kwargs)

    names = ["Report", "PanelGrid", "Runset", "BarPlot", "ScatterPlot", "SummaryMetric", "Config"]
    names += ["H1", "H2", "P", "MarkdownBlock"]
    fake = types.ModuleType("wandb_workspaces.reports.v2")
    for name in names:
        setattr(fake, name, recorder(name))
    package, reports = (
        types.ModuleType("wandb_workspaces"),
        types.ModuleType("wandb_workspaces.reports"),
    )
    package.reports, reports.v2 = reports, fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wandb_workspaces", package)
    monkeypatch.setitem(sys.modules, "wandb_workspaces.reports", reports)
    monkeypatch.setitem(sys.modules, "wandb_workspaces.reports.v2", fake)
    spec = build_spec(build_report(results, Options()), project="ptb")
    kind, _, report = to_wandb(spec, "team")
    assert kind == "Report" and (report["project"], report["entity"]) == ("ptb", "team")
    grids = [b for b in report["blocks"] if b[0] == "PanelGrid"]
    (runset,) = grids[0][2]["runsets"]
    assert runset[2]["filters"] == "Config('task') == 't1'" and runset[2]["entity"] == "team"
    bar = grids[0][2]["panels"][0][2]
    assert bar["groupby"] == ("Config", ("agent",), {})
    assert bar["metrics"] == [("SummaryMetric", ("score/final",), {})]
    assert (bar["groupby_aggfunc"], bar["groupby_rangefunc"]) == ("mean", "stddev")
    assert report["blocks"][0] == ("H1", (), {"text": "Leaderboard"})


def test_seeds_outside_the_grid_do_not_count(results: Path) -> None:
    write_run(results, "agent_a", "claude_code", "m2", "t1", 7, 0.5)  # a seed only m2 ran
    a = method(build_report(results, Options(models=("m1",))).to_json(), "agent_a")
    assert a["seeds"] == [0, 1, 2] and a["avg"] is not None
    a = method(build_report(results, Options()).to_json(), "agent_a")
    assert a["seeds"] == [0, 1, 2, 7] and a["avg"] is None and len(a["missing"]) == 5


# --- infrastructure failures and the gate -------------------------------------------------------


def test_cell_counts_tell_infra_failures_from_base_scores(results: Path) -> None:
    data = build_report(results, Options()).to_json()
    a, b = method(data, "agent_a"), method(data, "agent_b")
    assert a["counts"] == {"cells": 18, "scored": 18, "scored_as_base": 1, "infra_failed": 0,
                           "unfinished": 0, "missing": 0}  # fmt: skip
    assert b["counts"]["infra_failed"] == 1 and b["counts"]["scored"] == 17
    assert data["missing"][0]["failure"] == "infra"
    gate = data["gate"]
    assert (gate["cells"], gate["clean"], gate["infra_failed"]) == (36, 35, 1)
    assert gate["passed"] and not gate["withheld"]


def test_infra_gate_withholds_averages_unless_told(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = build_report(results, Options(min_clean=0.99))
    assert strict.gate is not None and strict.gate.withheld
    assert all(m.avg is None for m in strict.methods + strict.baselines)
    assert "withheld" in tables.leaderboard(strict).rows[0][2]
    told = build_report(results, Options(min_clean=0.99, ignore_gate=True))
    assert method(told.to_json(), "agent_a")["avg"] is not None
    assert run_cli(str(results), "--min-clean", "0.99") == 3
    captured = capsys.readouterr()
    assert "Clean cells: 35/36 (97.2%)" in captured.out
    assert "averages withheld" in captured.err
    assert run_cli(str(results), "--min-clean", "0.99", "--ignore-infra-gate") == 0
    assert "IGNORED" in capsys.readouterr().out


def test_score_built_on_an_older_infra_result_is_not_trusted(results: Path) -> None:
    run = results / "paper" / "agent_a__claude_code__m1__t1__s0"
    (run / "evaluate").mkdir()
    old = {"status": "eval_failed", "error": "scoring failed: JudgeError: judge endpoint: 503"}
    (run / "evaluate" / "metrics.json").write_text(json.dumps(old))
    report = build_report(results, Options())
    a = method(report.to_json(), "agent_a")
    assert a["avg"] is None and a["counts"]["infra_failed"] == 1
    (stale,) = [u for u in report.missing if u.path == run]
    assert (stale.failure, stale.reason, stale.stage) == ("infra", "grader", "evaluate")
