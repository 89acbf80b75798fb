"""Experiment tracking of single runs (W&B)."""
