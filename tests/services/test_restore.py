"""Recovery through each component's public ``restore(state)``: state read from the ledger and the streams after
a real restart (the first process killed with SIGKILL), handed to a new instance that resumes from it."""

import signal as signals
from decimal import Decimal
from pathlib import Path

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import ExecutionEvent, ExecutionUpdate, SignalType
from ingenium.testing import bar, eventually, order, signal, spawn, stream_events
from ledger import queries
from services.executor import PaperExecutor
from services.portfolio.book import Book
from services.portfolio.portfolio import RiskPortfolio
from services.portfolio.state import PortfolioState
from tests.services.live import fresh, running
from tests.services.test_paper_executor_live import _consumer_exists


async def _fills(nc: Client, settings: Settings) -> list[ExecutionEvent]:
    return [e for e in await stream_events(nc, settings, "execution") if isinstance(e, ExecutionEvent) and e.is_fill]


def test_restore_takes_the_state_it_is_given() -> None:
    portfolio = RiskPortfolio(name="pf", quantity="10")
    book = Book(Decimal(1234))
    portfolio.restore(PortfolioState(book, frozenset({"sig-1"})))
    assert portfolio.book is book and portfolio.handled_signals == {"sig-1"}


async def test_a_restarted_portfolio_restores_the_ledgers_book_exactly(
    db_settings: Settings, nc: Client, bus: JetStreamBus, tmp_path: Path
) -> None:
    settings = db_settings
    assert settings.database_url is not None
    args = ["run", "services.portfolio.portfolio:RiskPortfolio", "--name", "pf", "-p", "quantity=10",
            "-p", "cash=50000"]
    async with running(settings, nc) as loop:
        await loop.start_ledger(starting_cash=50_000)
        executor = PaperExecutor(name="paper", commission_per_share="0.01")
        await loop.start(executor)
        await bus.publish_many([bar("acme", "101.5"), bar("globex", "33.25")])
        await eventually(lambda: len(executor._bars) == 2)
        child = spawn(args, settings, log=tmp_path / "portfolio.log")
        try:
            await bus.publish_many([fresh(signal("acme", SignalType.LONG, price="101.5", event_id="s-1")),
                                    fresh(signal("globex", SignalType.LONG, price="33.25", event_id="s-2"))])
            await eventually(lambda: _count(nc, settings, 2), timeout=30)
            await loop.settle([executor])
        finally:
            child.send_signal(signals.SIGKILL)
            child.wait()

        restarted = RiskPortfolio(name="pf", quantity="10", cash="50000")
        await loop.start(restarted)  # on_start: recovery reads the ledger, restore() takes it
        ledger_cash = await queries.cash(settings.database_url)
        ledger_positions = await queries.positions(settings.database_url)

    assert ledger_cash is not None
    assert restarted.book.cash == ledger_cash.balance == Decimal(50_000) - Decimal("1015") - Decimal("332.5") - \
        Decimal("0.2")
    assert {s: (p.quantity, p.cost_basis) for s, p in restarted.book.positions.items()} == {
        row.symbol: (row.quantity, row.cost_basis) for row in ledger_positions}
    assert not restarted.book.open_orders


async def _count(nc: Client, settings: Settings, n: int) -> bool:
    return len(await _fills(nc, settings)) >= n


async def test_a_restarted_paper_executor_restores_its_working_orders_and_prices(
    settings: Settings, nc: Client, bus: JetStreamBus, tmp_path: Path
) -> None:
    args = ["run", "services.executor.paper:PaperExecutor", "--name", "paper", "-p", "volume_share=0.01"]
    child = spawn(args, settings, log=tmp_path / "executor.log")
    big = fresh(order("acme", quantity="25"))
    try:
        await bus.publish(bar("acme", "100", volume=1000))
        await eventually(lambda: _consumer_exists(nc, settings), timeout=20)
        await bus.publish(big)
        await eventually(lambda: _count(nc, settings, 1), timeout=20)  # 10 of 25 fill at once
    finally:
        child.send_signal(signals.SIGKILL)
        child.wait()

    async with running(settings, nc) as loop:
        restarted = PaperExecutor(name="paper", volume_share="0.01")
        await loop.start(restarted)  # on_start: recovery reads the bucket and the streams, restore() takes it
        working = restarted.working_order(big.id)
        assert working is not None and (working.filled, working.fills, working.leaves) == (Decimal(10), 1,
                                                                                            Decimal(15))
        assert restarted._bars["acme"].close == Decimal(100)
        assert await restarted.order_log.get(big.id) is not None  # the bucket, not a fresh in-memory log
        await bus.publish(bar("acme", "101", minutes=1, volume=1000))
        await eventually(lambda: _count(nc, settings, 2), timeout=20)
        await loop.settle([restarted])
    fills = await _fills(nc, settings)
    assert [(e.quantity, e.price, e.cum_quantity) for e in fills] == [
        (Decimal(10), Decimal(100), Decimal(10)), (Decimal(10), Decimal(101), Decimal(20))]
    assert fills[-1].update is ExecutionUpdate.PARTIAL_FILL
