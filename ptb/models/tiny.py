"""A tiny Qwen3-architecture model and tokenizer, built offline and deterministically.

The tokenizer is a byte-level BPE trained on text from the local toy tasks; the model is a random
Qwen3 with 2 layers and hidden size 64 (~184k parameters). Both are saved with the usual Hugging
Face files, so every later stage loads them with the Auto classes like any hub model. The build is
cached under ``<cache_dir>/models/<name>-<hash>/``, the hash covering every build setting.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ptb.tasks.templates import load_template

BUILD_VERSION = 1
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SETTINGS: dict[str, Any] = {
    "vocab_size": 1024,
    "hidden_size": 64,
    "intermediate_size": 192,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 1024,
    "seed": 0,
    "corpus_items": 2000,
    "split_digits": True,
    "rope_theta": 10000.0,
}


def _fingerprint(corpus: list[str]) -> str:
    """Covers every build input: settings, chat template and the tokenizer's training text."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": BUILD_VERSION, **SETTINGS}).encode())
    h.update(load_template("tiny_chatml").encode())
    for text in corpus:
        h.update(text.encode())
    return h.hexdigest()[:10]


def _corpus() -> list[str]:
    """Text the tokenizer learns from: the toy tasks' training prompts and answers only."""
    from ptb.config.task import TaskConfig
    from ptb.tasks.toy import ToyCalls, ToyMath

    n = SETTINGS["corpus_items"]
    texts: list[str] = []
    for cls, name in ((ToyCalls, "toy_calls"), (ToyMath, "toy_math")):
        cfg = TaskConfig(
            name=name,
            display_name=name,
            impl=name,
            test_source="generated",
            size={"train": n, "test": 200},
        )
        texts += [f"{it.prompt}\n{it.target}" for it in cls(cfg).train_items()]
    return texts


def _build_tokenizer(out: Path, corpus: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if SETTINGS["split_digits"]:  # one token per digit: numbers are copied digit by digit
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level]
        )
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=SETTINGS["vocab_size"],
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        model_max_length=SETTINGS["max_position_embeddings"],
    )
    fast.chat_template = load_template("tiny_chatml")
    fast.save_pretrained(out)
    return fast


def _build_model(out: Path, tokenizer: Any) -> None:
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=SETTINGS["hidden_size"],
        intermediate_size=SETTINGS["intermediate_size"],
        num_hidden_layers=SETTINGS["num_hidden_layers"],
        num_attention_heads=SETTINGS["num_attention_heads"],
        num_key_value_heads=SETTINGS["num_key_value_heads"],
        head_dim=SETTINGS["head_dim"],
        max_position_embeddings=SETTINGS["max_position_embeddings"],
        tie_word_embeddings=True,
        # Pinned (it is also the default) so the build does not drift with transformers.
        rope_parameters={"rope_type": "default", "rope_theta": SETTINGS["rope_theta"]},
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(SETTINGS["seed"])
    model = Qwen3ForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    model.save_pretrained(out)


def build_tiny_qwen3(cache_dir: Path | str) -> Path:
    """Return the folder of the tiny model, building it first if it is not cached."""
    root = Path(cache_dir).expanduser() / "models"
    corpus = _corpus()
    final = root / f"tiny-qwen3-{_fingerprint(corpus)}"
    if (final / "config.json").exists() and (final / "tokenizer.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        tokenizer = _build_tokenizer(tmp, corpus)
        _build_model(tmp, tokenizer)
        (tmp / "ptb_build.json").write_text(json.dumps({"version": BUILD_VERSION, **SETTINGS}))
        try:
            tmp.rename(final)
        except OSError:  # another process finished first: keep theirs
            if not (final / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
