"""Signals a dead portfolio was delivered but never acknowledged are decided first on restart, in stream order,
from a direct get of the signal stream: its durable consumer is neither deleted nor recreated (issue #14)."""

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import OrderEvent, Side, SignalType
from ingenium.testing import eventually, signal, stream_events
from services.portfolio.portfolio import RiskPortfolio
from tests.services.live import fresh, running


async def _orders(nc: Client, settings: Settings) -> list[OrderEvent]:
    return [e for e in await stream_events(nc, settings, "order") if isinstance(e, OrderEvent)]


async def test_unacked_signals_are_decided_before_newer_ones_without_touching_the_consumer(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    js = nc.jetstream()
    stream = settings.subjects.stream("signal")
    async with running(settings, nc) as loop:
        first = await loop.start(RiskPortfolio(name="pf", quantity="10"))  # makes its durable
        await loop.stop(first)
        before = await js.consumer_info(stream, "pf-signal")
        await bus.publish_many([fresh(signal("acme", SignalType.LONG, price="10", event_id="s-1")),
                                fresh(signal("globex", SignalType.LONG, price="20", event_id="s-2"))])
        # A process that fetched both and died before deciding them: delivered, never acknowledged.
        dead = await js.pull_subscribe_bind("pf-signal", stream=stream)
        assert [m.subject for m in await dead.fetch(2, timeout=5)] == [settings.subjects.signal] * 2
        await bus.publish(fresh(signal("acme", SignalType.SHORT, price="11", event_id="s-3")))

        await loop.start(RiskPortfolio(name="pf", quantity="10"))
        await eventually(lambda: _at_least(nc, settings, 3), timeout=30)
        after = await js.consumer_info(stream, "pf-signal")

    orders = await _orders(nc, settings)
    assert [(o.signal_id, o.symbol, o.side) for o in orders] == [
        ("s-1", "acme", Side.BUY), ("s-2", "globex", Side.BUY), ("s-3", "acme", Side.SELL)]
    assert after.created == before.created and after.name == "pf-signal"


async def _at_least(nc: Client, settings: Settings, n: int) -> bool:
    return len(await _orders(nc, settings)) >= n
