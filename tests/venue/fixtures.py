"""Fixtures for tests against the local fake Alpaca: the venue on a real socket, the SDK pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.venue.server import KEY, SECRET, FakeAlpaca


@pytest_asyncio.fixture
async def alpaca(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAlpaca]:
    """A fake Alpaca venue; ``APCA_API_*`` point at it, for this process and the children it spawns."""
    venue = FakeAlpaca()
    url = await venue.start()
    monkeypatch.setenv("APCA_API_BASE_URL", url)
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("APCA_API_DATA_URL", url)
    monkeypatch.setenv("APCA_API_DATA_STREAM_URL", url.replace("http://", "ws://"))
    yield venue
    await venue.stop()
