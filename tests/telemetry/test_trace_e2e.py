"""End to end on real NATS and PostgreSQL: one connected trace per bar, ingest → strategy → portfolio → order →
fills → ledger writes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ingenium.config import Settings
from ingenium.runtime import Runner
from ingenium.testing import eventually
from ledger import Projector, upgrade
from services.executor.paper import PaperExecutor
from services.ingestors.csv_parquet import HistoricalIngestor
from services.portfolio.portfolio import RiskPortfolio
from services.strategies.sma_cross import SmaCross

# SMA(2) vs SMA(3) of these closes crosses upward on the fourth bar only: one long signal, one order.
CLOSES = ["10", "9", "8", "12", "13", "14"]


def write_bars(path: Path) -> Path:
    rows = ["timestamp,symbol,open,high,low,close,volume"]
    for minute, close in enumerate(CLOSES):
        rows.append(f"2024-03-01T14:{30 + minute:02d}:00Z,ACME,{close},{close},{close},{close},1000")
    path.write_text("\n".join(rows) + "\n")
    return path


def named(spans: Sequence[ReadableSpan], name: str, consumer: str | None = None) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name and (consumer is None or (s.attributes or {}).get(
        "messaging.consumer.group.name") == consumer)]


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def filled_orders(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ledger_orders WHERE status = 'filled'"))
    finally:
        await conn.close()


async def test_one_connected_trace_per_bar_through_every_component_and_the_ledger(
    db_settings: Settings, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    settings = db_settings
    assert settings.database_url is not None
    await asyncio.to_thread(upgrade, settings.database_url)
    subjects = settings.subjects
    stop_ledger = asyncio.Event()
    projector = asyncio.create_task(Projector(settings).run(stop_ledger))
    portfolio = RiskPortfolio(name="book", quantity="100")
    loop = [
        Runner(SmaCross(name="sma", fast=2, slow=3), settings),
        Runner(portfolio, settings),
        Runner(PaperExecutor(name="paper", max_fill_quantity="40"), settings),
    ]
    tasks = [asyncio.create_task(r.run()) for r in loop]
    try:
        await asyncio.gather(*(r.ready.wait() for r in loop))
        await Runner(HistoricalIngestor(name="history", path=write_bars(tmp_path / "bars.csv")), settings).run()
        await eventually(lambda: filled_orders(settings.database_url or ""), timeout=30)
        await eventually(lambda: portfolio.book.position("ACME") == 100, timeout=30)
        ledger_writes = f"project {subjects.execution}"
        await eventually(lambda: named(spans.get_finished_spans(), ledger_writes, "ledger"), timeout=30)
    finally:
        for r in loop:
            r.stop()
        stop_ledger.set()
        await asyncio.gather(*tasks, projector)
    finished = spans.get_finished_spans()

    # Ingest: one root span per bar, each the start of its own trace.
    bars = named(finished, f"publish {subjects.data('acme')}")
    assert len(bars) == len(CLOSES)
    assert all(b.parent is None for b in bars)
    assert len({b.context.trace_id for b in bars if b.context is not None}) == len(CLOSES)

    # The fourth bar's trace holds the whole chain, and nothing in it hangs loose.
    (signal_process,) = named(finished, f"process {subjects.signal}")
    assert signal_process.context is not None
    trace_id = signal_process.context.trace_id
    trace = [s for s in finished if s.context is not None and s.context.trace_id == trace_id]
    (root,) = [s for s in trace if s.parent is None]
    assert root is bars[3]
    ids = {span_id(s) for s in trace}
    assert all(parent_id(s) in ids for s in trace if s is not root)

    def child(name: str, parent: ReadableSpan, consumer: str | None = None) -> list[ReadableSpan]:
        return [s for s in named(trace, name, consumer) if parent_id(s) == span_id(parent)]

    (strategy,) = child(f"process {subjects.data('acme')}", root, "sma-data")
    assert child(f"process {subjects.data('acme')}", root, "paper-data")
    (signal,) = child(f"publish {subjects.signal}", strategy)
    (sizing,) = child(f"process {subjects.signal}", signal, "book-signal")
    (order,) = child(f"publish {subjects.order}", sizing)
    (execution,) = child(f"process {subjects.order}", order, "paper-order")
    (order_write,) = child(f"project {subjects.order}", order, "ledger")
    fills = child(f"publish {subjects.execution}", execution)
    assert len(fills) >= 3  # 100 in lots of at most 40, after any acknowledgement
    for fill in fills:
        assert child(f"process {subjects.execution}", fill, "book-execution")
        (fill_write,) = child(f"project {subjects.execution}", fill, "ledger")
        assert fill_write.attributes is not None
        assert fill_write.attributes["messaging.message.id"] == (fill.attributes or {})["messaging.message.id"]

    assert order.attributes is not None and fills[0].attributes is not None
    assert order.attributes["ingenium.symbol"] == "ACME" and order.attributes["ingenium.strategy_id"] == "sma"
    assert fills[0].attributes["ingenium.order_id"] == order.attributes["ingenium.order_id"]
    assert order_write.attributes is not None
    assert order_write.attributes["messaging.message.id"] == order.attributes["ingenium.order_id"]

    # Every bar was handled by the strategy and the executor in that bar's own trace.
    for each in bars:
        handled = [s for s in named(finished, f"process {subjects.data('acme')}") if parent_id(s) == span_id(each)]
        assert sorted((s.attributes or {})["messaging.consumer.group.name"] for s in handled) == [
            "paper-data", "sma-data"]
        assert all(s.context is not None and each.context is not None and s.context.trace_id == each.context.trace_id
                   for s in handled)
