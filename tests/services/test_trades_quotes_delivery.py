"""Strategies ask for trades and quotes: live, in the backtest bus and through ``drive``, each component gets the
data types it declares, a bar-only one (and the paper executor) never meets a trade, and the last bar is found
though trades follow it on the subject."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from nats.aio.client import Client

from ingenium.backtest.bus import InMemoryBus
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import DataEvent, DataType
from ingenium.lastbar import last_bar, last_trade
from ingenium.strategy import Strategy
from ingenium.testing import T0, bar, drive, eventually, quote, stream_messages, trade
from services.executor import PaperExecutor
from tests.services.live import running


class Tape(Strategy):
    """Records the trades and quotes it asked for."""

    data_types = frozenset({DataType.TRADE, DataType.QUOTE})

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.seen: list[DataEvent] = []

    def on_data(self, event: DataEvent) -> None:
        self.seen.append(event)


class Bars(Tape):
    """Records bars: the default data types."""

    data_types = Strategy.data_types


def events() -> list[DataEvent]:
    return [bar("acme", "50"), trade("acme", "50.25", "3", at=T0 + timedelta(seconds=70), trade_id="7"),
            quote("acme", "50.2", "50.3", at=T0 + timedelta(seconds=71)), bar("acme", "51", minutes=1)]


async def test_live_each_component_gets_the_data_types_it_asks_for_and_the_paper_executor_keeps_to_bars(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    sent = events()
    async with running(settings, nc) as loop:
        tape, bars_only = Tape(name="tape"), Bars(name="bars")
        paper = PaperExecutor(name="paper")
        for component in (tape, bars_only, paper):
            await loop.start(component)
        for event in sent:
            await bus.publish(event)
        await eventually(lambda: len(tape.seen) == 2 and len(bars_only.seen) == 2, timeout=20)
        await loop.settle([tape, bars_only, paper])
    assert [e.id for e in tape.seen] == [sent[1].id, sent[2].id]
    assert tape.seen[0].trade is not None and tape.seen[0].trade.price == Decimal("50.25")
    assert tape.seen[1].quote is not None and tape.seen[1].quote.ask_price == Decimal("50.3")
    assert [e.id for e in bars_only.seen] == [sent[0].id, sent[3].id]
    assert paper._bars["acme"].close == Decimal("51")
    assert await stream_messages(nc, settings, "deadletter") == []  # skipped, not failed

    # A restarted paper executor finds the last bar though a trade was stored after it.
    await bus.publish(trade("acme", "52", "1", at=T0 + timedelta(seconds=130)))
    async with running(settings, nc) as loop:
        again = PaperExecutor(name="paper")
        await loop.start(again)
        assert again._bars["acme"].close == Decimal("51")


async def test_the_last_bar_is_found_behind_many_trades_and_the_last_trade_behind_a_bar(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    js, subjects = nc.jetstream(), settings.subjects
    await bus.publish(bar("acme", "50", minutes=3))
    await bus.publish_many([trade("acme", "50", "1", at=T0 + timedelta(seconds=i), trade_id=str(i))
                            for i in range(300)])  # beyond the first backward window of 256
    await bus.publish(bar("other", "9"))
    found = await last_bar(js, subjects.stream("data"), subjects.data("acme"), "1m")
    assert found is not None and found.bar.close == Decimal("50") and found.bar.timestamp == T0 + timedelta(minutes=3)
    assert await last_bar(js, subjects.stream("data"), subjects.data("acme"), "1h") is None
    assert await last_bar(js, subjects.stream("data"), subjects.data("none")) is None
    behind = await last_trade(js, subjects.stream("data"), subjects.data("acme"))
    assert behind is not None and behind.trade is not None and behind.trade.id == "299"
    assert await last_trade(js, subjects.stream("data"), subjects.data("other")) is None


async def test_the_backtest_bus_and_drive_deliver_only_the_declared_types() -> None:
    sent = events()
    bus = InMemoryBus()
    tape, bars_only = Tape(name="tape"), Bars(name="bars")
    bus.attach(tape)
    bus.attach(bars_only)
    for event in sent:
        await bus.deliver(event)
    assert [e.id for e in tape.seen] == [sent[1].id, sent[2].id]
    assert [e.id for e in bars_only.seen] == [sent[0].id, sent[3].id]

    driven = Tape(name="driven")
    assert drive(driven, *sent) == []
    assert [e.type for e in driven.seen] == [DataType.TRADE, DataType.QUOTE]
