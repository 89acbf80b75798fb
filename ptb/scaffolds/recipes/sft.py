"""Supervised fine-tuning recipe run by the scripted agent ``recipe_sft``.

This file is copied into the agent's task folder as ``train_sft.py`` and runs there like code an
agent wrote: it needs only torch and transformers, reads chat-format JSONL
(``{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}``), trains every parameter
with a completion-only loss, and saves model, tokenizer and chat template to ``--out``.
Progress goes to stdout as one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any


def log(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base-model", required=True)
    p.add_argument("--train", required=True, help="chat-format JSONL")
    p.add_argument("--out", default="final_model")
    p.add_argument("--chat-template", help="Jinja chat template file (default: the tokenizer's)")
    p.add_argument("--lr", type=float, default=8e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-steps", type=int, default=800)
    p.add_argument("--max-minutes", type=float, default=3.0)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--max-examples", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load_examples(path: str, tokenizer: Any, limit: int) -> list[tuple[list[int], int]]:
    """Token ids of prompt+answer and the prompt length (loss is on the answer only)."""
    examples = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            messages = json.loads(line)["messages"]
            prompt = tokenizer.apply_chat_template(
                messages[:-1], tokenize=False, add_generation_prompt=True
            )
            answer = messages[-1]["content"] + tokenizer.eos_token
            p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
            examples.append((p_ids + a_ids, len(p_ids)))
            if len(examples) >= limit:
                break
    return examples


def collate(batch: list[tuple[list[int], int]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, n_prompt) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.base_model)
    if args.chat_template:
        tokenizer.chat_template = Path(args.chat_template).read_text(encoding="utf-8")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model: Any = AutoModelForCausalLM.from_pretrained(args.base_model, dtype=torch.float32)
    model = model.to(device)
    model.train()
    examples = load_examples(args.train, tokenizer, args.max_examples)
    n_params = sum(p.numel() for p in model.parameters())
    log("start", examples=len(examples), params=n_params, device=device)

    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: lr_factor(s, args.warmup_steps, args.max_steps)
    )
    deadline = time.monotonic() + args.max_minutes * 60
    order: list[int] = []
    step, t0 = 0, time.monotonic()
    while step < args.max_steps and time.monotonic() < deadline:
        if len(order) < args.batch_size:
            order += random.sample(range(len(examples)), len(examples))
        batch = [examples[i] for i in order[: args.batch_size]]
        del order[: args.batch_size]
        inputs = {k: v.to(device) for k, v in collate(batch, tokenizer.pad_token_id).items()}
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        step += 1
        if step % 25 == 0 or step == 1:
            log(
                "step",
                step=step,
                loss=round(loss.item(), 4),
                elapsed_s=round(time.monotonic() - t0, 1),
            )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    log("saved", path=str(out), steps=step, elapsed_s=round(time.monotonic() - t0, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
