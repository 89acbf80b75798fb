"""GPU check run inside the sandbox before the agent starts (standalone: needs only torch).

    python gpu_check.py --count 1 --kind h100 [--max-used-gib 2]

Prints one JSON line ``{"ok": bool, "reason": str|null, "gpus": [...]}`` and exits 0 when the
expected GPUs are there, of the expected kind, idle, and a tensor can be written and read back.
A failure makes the run ``void``: the agent never started, so it is not scored as its result.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def check(count: int, kind: str | None, max_used_gib: float) -> dict[str, Any]:
    try:
        import torch
    except ImportError as exc:
        return {"ok": False, "reason": f"torch cannot be imported: {exc}", "gpus": []}
    if not torch.cuda.is_available():
        return {"ok": False, "reason": "CUDA is not available inside the sandbox", "gpus": []}
    gpus: list[dict[str, Any]] = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        gpus.append(
            {
                "index": i,
                "name": torch.cuda.get_device_name(i),
                "used_gib": round((total - free) / 2**30, 2),
                "total_gib": round(total / 2**30, 2),
            }
        )
    problem = _problem(gpus, count, kind, max_used_gib)
    if problem is None:
        problem = _write_read(torch, count)
    return {"ok": problem is None, "reason": problem, "gpus": gpus}


def _problem(
    gpus: list[dict[str, Any]], count: int, kind: str | None, max_used: float
) -> str | None:
    if len(gpus) < count:
        return f"expected {count} GPU(s), found {len(gpus)}"
    for gpu in gpus[:count]:
        if kind and kind.lower() not in gpu["name"].lower():
            return f"GPU {gpu['index']} is a {gpu['name']}, expected {kind}"
        if gpu["used_gib"] > max_used:
            return f"GPU {gpu['index']} is busy: {gpu['used_gib']} GiB already in use"
    return None


def _write_read(torch: Any, count: int) -> str | None:
    for i in range(count):
        try:
            x = torch.arange(1024, device=f"cuda:{i}", dtype=torch.float32)
            if int((x * 2).sum().item()) != 1023 * 1024:
                return f"GPU {i} returned a wrong result"
        except RuntimeError as exc:
            return f"GPU {i} cannot run a tensor op: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--kind", default=None)
    p.add_argument("--max-used-gib", type=float, default=2.0)
    args = p.parse_args(argv)
    result = check(args.count, args.kind, args.max_used_gib)
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
