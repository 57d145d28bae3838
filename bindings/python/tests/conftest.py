"""Fixtures: a real phoenix client per test (see phx.py)."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from phx import Phx


@pytest.fixture
async def phx() -> AsyncIterator[Phx]:
    client = await Phx.start()
    try:
        yield client
    finally:
        await client.close()
