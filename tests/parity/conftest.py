"""The parity tier: every test here is marked ``parity`` (``pytest -m parity`` runs just these).

They need the reference implementation: inspect-ai 0.3.172 and inspect-evals 0.3.106, the
versions the original harness ran (``bash scripts/setup.sh dev,parity``; ``scripts/test.sh``
installs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.parity)
