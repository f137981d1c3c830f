"""Deploy checks: the chart, the NATS values, the image and compose files, exercised with real tools."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deploy: checks of deploy/ that run real tools (helm, pip, nats-server)")
