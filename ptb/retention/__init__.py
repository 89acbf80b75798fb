"""Capability retention: lm-eval suites on a run's final model and on its base model.

``results`` turns lm-eval's output into per task and metric values and compares final with base;
``lmeval`` runs a suite through lm-eval's Python API; ``base`` computes the base model's results
once per model and experiment; ``data`` finds the hub datasets a suite reads (prefetch,
preflight). None of it imports lm-eval at import time: ``retention=none`` does not need it.
"""
