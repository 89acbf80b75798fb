"""Cost from the price table, running totals, the per-run limits and the request log.

The request log (``solve/gateway.jsonl``, one line per request the agent made) is a contract: the
integrity checks (``api_misuse``) and the reports read it. Fields of every line:
``ts, api, model, allowed, status, input_tokens, output_tokens, cached_tokens, cost_usd,
latency_ms`` plus ``route, method, path, stream, cache_write_tokens, usage_reported, reason,
gate`` (``docs/gateway.md``). No secrets and no bodies (bodies go to a separate file, and only
with ``gateway.log_bodies=true``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ptb.gateway.usage import Usage


def cost_usd(usage: Usage, price: Mapping[str, Any] | None) -> float | None:
    """Dollars for one response; None when the model has no price."""
    if price is None:
        return None
    cached_rate = price.get("cached_input")
    write_rate = price.get("cache_write")
    plain = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    total = (
        plain * price["input"]
        + usage.cached_tokens * (price["input"] if cached_rate is None else cached_rate)
        + usage.cache_write_tokens * (price["input"] if write_rate is None else write_rate)
        + usage.output_tokens * price["output"]
    )
    return round(total / 1e6, 9)


class Ledger:
    """Totals over the run, checked against the limits before each request is passed on."""

    def __init__(
        self,
        prices: Mapping[str, Mapping[str, Any]],
        max_cost_usd: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.prices = prices
        self.max_cost_usd = max_cost_usd
        self.max_tokens = max_tokens
        self.usage = Usage()
        self.cost_usd = 0.0
        self.unpriced = 0
        self.requests = 0
        self.refused = 0

    def charge(self, model: str | None, usage: Usage) -> float | None:
        cost = cost_usd(usage, self.prices.get(model or ""))
        self.usage.add(usage)
        if cost is None:
            self.unpriced += 1 if usage.reported else 0
        else:
            self.cost_usd = round(self.cost_usd + cost, 9)
        return cost

    def limit_reached(self) -> str | None:
        """Why no further request may pass, or None."""
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            return (
                f"the run's cost limit is reached (US${self.cost_usd:.2f} of "
                f"US${self.max_cost_usd:.2f}, gateway.max_cost_usd)"
            )
        tokens = self.usage.input_tokens + self.usage.output_tokens
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return (
                f"the run's token limit is reached ({tokens} of {self.max_tokens}, "
                "gateway.max_tokens)"
            )
        return None

    def totals(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.usage.as_dict().items() if k != "reported"},
            "cost_usd": self.cost_usd,
            "requests": self.requests,
            "refused": self.refused,
            "unpriced_responses": self.unpriced,
        }


class RequestLog:
    """Appends one JSON line per request and flushes it at once (a crash loses nothing)."""

    def __init__(self, path: Path, bodies: Path | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._bodies: IO[str] | None = bodies.open("a", encoding="utf-8") if bodies else None

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def write_body(self, ts: str, model: str | None, body: bytes) -> None:
        if self._bodies is not None:
            text = body.decode("utf-8", errors="replace")
            self._bodies.write(json.dumps({"ts": ts, "model": model, "request": text}) + "\n")
            self._bodies.flush()

    def close(self) -> None:
        self._file.close()
        if self._bodies is not None:
            self._bodies.close()


def summarize(path: Path) -> dict[str, Any]:
    """Totals over a request log (what ``usage.json`` records as ``gateway``)."""
    totals: dict[str, Any] = {
        "requests": 0,
        "refused": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.0,
        "models": {},
    }
    if not path.exists():
        return totals
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("api") == "probe":
            continue
        totals["requests"] += 1
        totals["refused"] += 0 if rec.get("allowed") else 1
        for key in ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens"):
            totals[key] += rec.get(key) or 0
        totals["cost_usd"] = round(totals["cost_usd"] + (rec.get("cost_usd") or 0.0), 9)
        model = rec.get("model") or "?"
        totals["models"][model] = totals["models"].get(model, 0) + 1
    return totals
