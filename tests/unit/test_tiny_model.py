import hashlib
from pathlib import Path

from ptb.models import BUILDERS
from ptb.models.tiny import build_tiny_qwen3


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_build_is_deterministic_cached_and_loadable(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    a = build_tiny_qwen3(tmp_path / "a")
    b = build_tiny_qwen3(tmp_path / "b")
    assert a.name == b.name and _digest(a) == _digest(b)
    mtime = (a / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_qwen3(tmp_path / "a") == a  # cached: not rebuilt
    assert (a / "model.safetensors").stat().st_mtime_ns == mtime

    tok = AutoTokenizer.from_pretrained(a)
    model = AutoModelForCausalLM.from_pretrained(a)
    assert model.config.model_type == "qwen3"
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 1_000_000
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Add 3 and 4."}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nAdd 3 and 4.<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == "<|im_end|>"


def test_builder_registry_names_the_tiny_model() -> None:
    assert BUILDERS.load("tiny_qwen3") is build_tiny_qwen3
