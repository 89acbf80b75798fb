"""Schema of the `protocol` group: which evaluation and fallback rules a run is scored under.

``paper`` is what the original PostTrainBench harness would have scored, item for item and bugs
included (its prompts, its scorers, decoding from the evaluated model's own generation config,
the paper's integrity rules deciding the fallback). The report's weights are its own option
(``python -m ptb.report --weights``; the paper's fixed factors by default). ``strict``
is ptb's own corrected rules. ``docs/protocol.md`` lists every point where the two differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from ptb.config.choices import Decoding, FallbackRules, Protocol

PROTOCOLS = tuple(p.value for p in Protocol)


@dataclass
class ProtocolConfig:
    name: Protocol = MISSING
    """paper | strict: the scorer variant and prompts every task uses (``Task.protocol``)."""
    decoding: Decoding = Decoding.model
    """model: sampling settings from the evaluated model's own ``generation_config.json`` (as
    vLLM's ``generation_config="auto"``) | task: ``task.eval.temperature`` / ``top_p`` (greedy
    by default). The few-shot base baseline samples at T=0.6, top-p 0.95 under both."""
    fallback: FallbackRules = FallbackRules.paper
    """paper: only the paper's integrity rules (contamination, disallowed model, editing
    evaluate.py or templates/, API misuse) send a run to the base score; ptb's extra findings are
    recorded | strict: every flagged check does."""
