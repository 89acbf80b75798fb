"""The model-API gateway: the agent's only way to its model, holding the real key outside the
sandbox (``server``), started per run by the solve stage (``run``, ``process``), with usage and
cost accounting (``usage``, ``ledger``). See docs/gateway.md."""
