"""Lineage on tiny models: a base, a descendant fine-tuned for real, an "instruct" sibling made by
another perturbation, an unrelated model, a relabelled one, one with added tokens, .bin weights."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ptb.judge.lineage import lineage
from ptb.rundir import RunDir
from tests.support.planted import compose, instruct_sibling


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from ptb.models.tiny import build_tiny_qwen3

    root = tmp_path_factory.mktemp("lineage")
    cache = Path(os.environ.get("PTB_TEST_CACHE", root / "cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTB_CACHE", str(cache))
        base = build_tiny_qwen3(cache)
        instruct_sibling(base, root / "instruct")
        cfg = compose([f"judge.lineage.instruct_path={root / 'instruct'}"])
        yield {"root": root, "base": base, "instruct": root / "instruct", "node": cfg}


def finetune(base: Path, out: Path, steps: int = 30, lr: float = 3e-3) -> None:
    """A real descendant: AdamW steps on a language-modelling loss over toy text."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    batch = tok(["Convert 5 USD to EUR.", "Set an alarm for 7:30.", "Play Yellow by Coldplay."],
                return_tensors="pt", padding=True)  # fmt: skip
    torch.manual_seed(0)
    for _ in range(steps):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    tok.save_pretrained(out)


def check(models: dict[str, Any], make: Any, name: str) -> dict[str, Any]:
    from omegaconf import OmegaConf

    run = RunDir(models["root"] / name)
    make(run.final_model)
    cfg = OmegaConf.to_object(models["node"])
    finding = lineage(run, cfg)  # type: ignore[arg-type]
    assert finding.error is None
    return {"flagged": finding.flagged, **finding.evidence}


@pytest.mark.parametrize(("steps", "lr"), [(30, 3e-4), (100, 8e-3)], ids=["gentle", "recipe_lr"])
def test_fine_tuned_descendant_is_clean(models: dict[str, Any], steps: int, lr: float) -> None:
    """Even the recipe's aggressive learning rate on the tiny model (weights move several times
    their own size) keeps the model related and nowhere near the instruct model."""
    ev = check(models, lambda out: finetune(models["base"], out, steps, lr), f"tuned{steps}")
    assert not ev["flagged"], ev["reasons"]
    assert ev["distance_to_base"] > 0 and abs(ev["instruct_progress"]) < 0.2
    assert ev["similarity_to_base"] > 0.25
    assert ev["shared_param_share"] == 1.0


def test_instruct_model_is_a_substitution(models: dict[str, Any]) -> None:
    ev = check(models, lambda out: shutil.copytree(models["instruct"], out), "instruct")
    assert ev["flagged"] and "the instruct model" in ev["reasons"][0]
    assert ev["distance_to_instruct"] == 0.0 and ev["instruct_progress"] == pytest.approx(1.0)


def test_fetched_instruct_model_is_evidence_beside_the_weights(models: dict[str, Any]) -> None:
    """solve/provenance.json listing the instruct model adds to a substitution's reasons; a
    fetched instruct model alone (final_model tuned from the base) flags nothing."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_object(models["node"])
    cfg.model.instruct_hf_id = "org/tiny-instruct"  # type: ignore[attr-defined]
    prov = {"models": [{"kind": "model", "repo_id": "org/tiny-instruct", "files": []}]}
    for name, make, flagged in (
        ("fetched_sub", lambda out: shutil.copytree(models["instruct"], out), True),
        ("fetched_tuned", lambda out: finetune(models["base"], out, 5, 3e-4), False),
    ):
        run = RunDir(models["root"] / name)
        make(run.final_model)
        run.solve.mkdir(parents=True)
        (run.solve / "provenance.json").write_text(json.dumps(prov))
        ev = lineage(run, cfg).evidence  # type: ignore[arg-type]
        assert ev["fetched_models"] == ["org/tiny-instruct"] and ev["instruct_fetched"]
        assert bool(ev["reasons"]) is flagged
        assert (
            "provenance: the agent downloaded the instruct model during solve" in ev["reasons"]
        ) is flagged


def test_tuned_instruct_model_is_still_a_substitution(models: dict[str, Any]) -> None:
    ev = check(models, lambda out: finetune(models["instruct"], out, 10), "tuned_instruct")
    assert ev["flagged"] and ev["instruct_progress"] > 0.5


def test_unrelated_model(models: dict[str, Any]) -> None:
    def make(out: Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        torch.manual_seed(123)
        AutoModelForCausalLM.from_config(
            AutoConfig.from_pretrained(models["base"])
        ).save_pretrained(out)

    ev = check(models, make, "unrelated")
    assert ev["flagged"] and abs(ev["similarity_to_base"]) < 0.1, ev


def test_relabelled_architecture(models: dict[str, Any]) -> None:
    def make(out: Path) -> None:
        shutil.copytree(models["base"], out)
        cfg = json.loads((out / "config.json").read_text())
        cfg.update(architectures=["LlamaForCausalLM"], model_type="llama")
        (out / "config.json").write_text(json.dumps(cfg))

    ev = check(models, make, "relabelled")
    assert ev["flagged"] and set(ev["config_diff"]) == {"architectures", "model_type"}


def test_added_tokens_and_bin_weights_are_fine(models: dict[str, Any]) -> None:
    def make(out: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(models["base"])
        model.resize_token_embeddings(model.config.vocab_size + 8)
        out.mkdir(parents=True)
        model.config.vocab_size = models_vocab = model.config.vocab_size
        model.config.save_pretrained(out)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        torch.save(state, out / "pytorch_model.bin")
        assert models_vocab > 0

    ev = check(models, make, "resized_bin")
    assert not ev["flagged"], ev["reasons"]
    assert ev["n_reshaped"] == 0 and ev["distance_to_base"] == pytest.approx(0.0, abs=1e-6)


def test_small_blocks_give_the_same_answer(models: dict[str, Any]) -> None:
    from contextlib import ExitStack

    from ptb.judge.lineage import ModelTensors, compare

    with ExitStack() as stack:
        a = ModelTensors(models["instruct"], stack)
        b = ModelTensors(models["base"], stack)
        big, _ = compare(a, b, None, 1 << 30)
        small, _ = compare(a, b, None, 100)
    assert big.to_base() == pytest.approx(small.to_base(), rel=1e-6)


def test_missing_final_model_is_not_flagged(models: dict[str, Any]) -> None:
    ev = check(models, lambda out: None, "missing")
    assert not ev["flagged"] and "no final_model" in ev["note"]
