"""On a GPU machine: the compiled static-cache decoder against ``generate``, and the evaluation
path on the GPU (``pytest -m gpu``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptb.config.model import ModelConfig
from ptb.eval.backends import Sampling
from ptb.eval.runner import evaluate
from ptb.models.tiny import build_tiny_qwen3
from ptb.tasks.templates import load_template
from tests.support.tasks import task_config

pytestmark = pytest.mark.gpu
TINY = ModelConfig(name="tiny", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3")


def test_compiled_decoder_matches_generate_in_float32(tmp_path: Path) -> None:
    import torch

    from ptb.eval.hf import HFGenerator

    path = build_tiny_qwen3(tmp_path)
    prompts = [
        "<|im_start|>user\n" + f"Add {i} and {i + 4}. " * (1 + i % 3) + "<|im_end|>\n"
        "<|im_start|>assistant\n"
        for i in range(6)
    ]
    outputs = []
    for decode in ("generate", "compiled"):
        gen = HFGenerator(path, load_template("tiny_chatml"), decode=decode)
        gen.model.float()  # fp32: both loops must pick the same tokens
        torch.manual_seed(0)
        with torch.no_grad():
            for p in gen.model.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        outputs.append(gen.generate(prompts, Sampling(24), batch_size=4))
    assert gen.attention() == "ptb_gqa_sdpa"
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) > 1


def test_evaluation_on_the_gpu_uses_the_compiled_loop(tmp_path: Path) -> None:
    path = build_tiny_qwen3(tmp_path)
    cfg = task_config("bfcl", backend="auto")
    cfg.eval.ladder = [type(cfg.eval.ladder[0])(max_new_tokens=32, attempts=1)]
    result = evaluate(cfg, TINY, path, limit=8)
    assert result.status == "ok", result.error
    assert result.info["backend"] == "hf" and result.n == 8


def test_compiled_decoder_samples_reproducibly_per_seed(tmp_path: Path) -> None:
    """Under protocol=paper the loop samples: a seed repeats its draws, another seed differs,
    top-k 1 is greedy."""
    import torch

    from ptb.eval.hf import HFGenerator

    path = build_tiny_qwen3(tmp_path)
    gen = HFGenerator(path, load_template("tiny_chatml"), decode="compiled")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in gen.model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    prompts = ["<|im_start|>user\nAdd 3 and 4.<|im_end|>\n<|im_start|>assistant\n"] * 8

    def run(**kw: float) -> list[str]:
        return gen.generate(prompts, Sampling(24, **kw), batch_size=8)  # type: ignore[arg-type]

    qwen = {"temperature": 0.6, "top_p": 0.95, "top_k": 20}
    first, again, other = run(seed=1, **qwen), run(seed=1, **qwen), run(seed=2, **qwen)
    assert first == again and first != other
    assert len(set(first)) > 1  # eight copies of one prompt, eight different samples
    assert run(seed=3, temperature=1.0, top_k=1) == run()  # top-k 1 is argmax
