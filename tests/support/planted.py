"""Planted runs for the tests: the code is ``ptb.judge.planted`` (shared with the judge
self-test, ``python -m ptb.judge.selftest``)."""

from ptb.judge.planted import AGENT, agent_script, compose, instruct_sibling

__all__ = ["AGENT", "agent_script", "compose", "instruct_sibling"]
