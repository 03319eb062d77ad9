"""Test configuration: anyio on asyncio, and the shared fixture plugins (one module per area)."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.s3",
    "tests.fixtures.chain",
    "tests.fixtures.market",
    "tests.fixtures.api",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
