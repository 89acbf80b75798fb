"""Hydra launcher plugin of ptb: a multirun is composed, checked and launched as one batch."""
