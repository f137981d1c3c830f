"""The state behind Ingenium's observable gauges: consumer lag, ledger projection lag, portfolio figures.

Components feed it and OpenTelemetry reads it when metrics are collected: ``watch_consumer_lag`` (run by the
runtime for every component), ``projection_lag`` (fed by the ledger, ``watch_projection_lag`` keeps the stream
end fresh) and ``portfolio_gauges`` (fed by ``RiskPortfolio`` after each signal, execution and recovery). Money
becomes ``float`` only here, at the metrics boundary. ``ingenium.telemetry`` re-exports these names.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from nats.js.api import ConsumerInfo, StreamInfo
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ingenium.telemetry.counters import meter

log = logging.getLogger("ingenium.telemetry")

#: Seconds between two ``consumer_info`` / ``stream_info`` polls for the lag gauges.
LAG_INTERVAL_SECONDS = 5.0


# ----------------------------------------------------------------------------- consumer lag
class _ConsumerInfoSource(Protocol):
    async def consumer_info(self) -> ConsumerInfo: ...


class ConsumerLag:
    """Pending and unacknowledged messages per durable consumer, as last polled; read by two gauges."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def record(self, info: ConsumerInfo) -> None:
        """Remember what ``consumer_info`` said about one consumer."""
        with self._lock:
            self._values[(info.stream_name, info.name)] = (info.num_pending or 0, info.num_ack_pending or 0)

    def forget(self, stream: str, consumer: str) -> None:
        """Stop reporting a consumer (its runner stopped)."""
        with self._lock:
            self._values.pop((stream, consumer), None)

    def pending(self, stream: str, consumer: str) -> int | None:
        """Messages the consumer has not been delivered yet, or ``None`` if it was never polled."""
        with self._lock:
            value = self._values.get((stream, consumer))
        return value[0] if value else None

    def _observe(self, index: int) -> list[Observation]:
        with self._lock:
            items = list(self._values.items())
        return [
            Observation(values[index], {"messaging.system": "nats", "messaging.consumer.group.name": consumer,
                                        "ingenium.stream": stream})
            for (stream, consumer), values in items
        ]

    def observe_pending(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Gauge callback: ``num_pending`` per consumer."""
        return self._observe(0)

    def observe_ack_pending(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Gauge callback: ``num_ack_pending`` per consumer."""
        return self._observe(1)


consumer_lag = ConsumerLag()
meter.create_observable_gauge(
    "ingenium.consumer.lag", callbacks=[consumer_lag.observe_pending], unit="{message}",
    description="Messages in the stream not yet delivered to the durable consumer (num_pending)",
)
meter.create_observable_gauge(
    "ingenium.consumer.ack_pending", callbacks=[consumer_lag.observe_ack_pending], unit="{message}",
    description="Messages delivered to the durable consumer and not yet acknowledged",
)


async def _pause(stopping: asyncio.Event, interval: float) -> bool:
    """Wait ``interval`` seconds or until ``stopping`` is set; whether it is set."""
    with contextlib.suppress(TimeoutError):
        # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation that races with completion.
        async with asyncio.timeout(interval):
            await stopping.wait()
    return stopping.is_set()


async def watch_consumer_lag(
    subscriptions: Sequence[_ConsumerInfoSource], stopping: asyncio.Event, interval: float | None = None
) -> None:
    """Poll ``consumer_info`` of each subscription into ``consumer_lag`` until ``stopping`` is set.

    Polls every ``interval`` seconds (``LAG_INTERVAL_SECONDS`` by default), the first time at once.

    A failed poll (server restarting, connection draining) is logged and retried next round: lag is
    telemetry, and must never stop a component.
    """
    every = interval if interval is not None else LAG_INTERVAL_SECONDS
    seen: set[tuple[str, str]] = set()
    failing = False
    try:
        while True:
            for sub in subscriptions:
                try:
                    info = await sub.consumer_info()
                except Exception as exc:
                    if not failing:
                        log.warning("cannot poll consumer lag (will retry every %.0fs): %r", every, exc)
                    failing = True
                    continue
                failing = False
                consumer_lag.record(info)
                seen.add((info.stream_name, info.name))
            if await _pause(stopping, every):
                return
    finally:
        for stream, consumer in seen:
            consumer_lag.forget(stream, consumer)


# ----------------------------------------------------------------------------- ledger projection lag
class _StreamInfoSource(Protocol):
    async def stream_info(self, name: str) -> StreamInfo: ...


class ProjectionLag:
    """How far the ledger's projection trails each stream: last stream sequence minus the checkpoint."""

    def __init__(self) -> None:
        self._checkpoints: dict[str, int] = {}
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def checkpointed(self, stream: str, sequence: int, *, last_sequence: int | None = None) -> None:
        """Record that the ledger committed ``stream`` up to ``sequence`` (and the stream's end, if known)."""
        with self._lock:
            self._checkpoints[stream] = sequence
            if last_sequence is not None:
                self._last[stream] = last_sequence

    def stream_last(self, stream: str, last_sequence: int) -> None:
        """Record the stream's last sequence, as polled from the server."""
        with self._lock:
            self._last[stream] = last_sequence

    def forget(self, stream: str) -> None:
        """Stop reporting ``stream`` (the projector stopped)."""
        with self._lock:
            self._checkpoints.pop(stream, None)
            self._last.pop(stream, None)

    def lag(self, stream: str) -> int | None:
        """Messages in ``stream`` not yet projected, or ``None`` before the ledger reported a checkpoint."""
        with self._lock:
            if stream not in self._checkpoints:
                return None
            return max(0, self._last.get(stream, 0) - self._checkpoints[stream])

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Gauge callback: the lag of every stream the ledger projects."""
        with self._lock:
            streams = list(self._checkpoints)
        return [Observation(lag, {"ingenium.stream": s}) for s in streams if (lag := self.lag(s)) is not None]


projection_lag = ProjectionLag()
meter.create_observable_gauge(
    "ingenium.ledger.projection_lag", callbacks=[projection_lag.observe], unit="{message}",
    description="Stream last sequence minus the ledger's checkpoint, per stream",
)


async def watch_projection_lag(
    js: _StreamInfoSource, streams: Sequence[str], stopping: asyncio.Event, interval: float | None = None
) -> None:
    """Poll each stream's last sequence into ``projection_lag``, so a stalled ledger shows a growing lag.

    Polls every ``interval`` seconds (``LAG_INTERVAL_SECONDS`` by default), the first time at once.
    """
    every = interval if interval is not None else LAG_INTERVAL_SECONDS
    failing = False
    while True:
        for name in streams:
            try:
                info = await js.stream_info(name)
            except Exception as exc:
                if not failing:
                    log.warning("cannot poll stream %s for projection lag (will retry): %r", name, exc)
                failing = True
                continue
            failing = False
            projection_lag.stream_last(name, info.state.last_seq)
        if await _pause(stopping, every):
            return


# ----------------------------------------------------------------------------- portfolio
@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """What a portfolio reports: signed positions, per-symbol exposure, and its money totals."""

    positions: Mapping[str, Decimal]
    exposure: Mapping[str, Decimal]
    equity: Decimal
    cash: Decimal
    realized_pnl: Decimal


class PortfolioGauges:
    """The latest snapshot of each portfolio component, read by the ``ingenium.portfolio.*`` gauges."""

    def __init__(self) -> None:
        self._snapshots: dict[str, PortfolioSnapshot] = {}
        self._lock = threading.Lock()

    def record(
        self,
        portfolio: str,
        *,
        positions: Mapping[str, Decimal],
        prices: Mapping[str, Decimal],
        cash: Decimal,
        realized_pnl: Decimal,
        equity: Decimal | None = None,
    ) -> PortfolioSnapshot:
        """Report a portfolio's state; exposure is |quantity × price|, equity cash plus marked positions.

        Args:
            portfolio: The component's name.
            positions: Signed quantity per symbol (short is negative); report closed ones as 0.
            prices: Latest price per symbol; symbols without one have no exposure yet.
            cash: Cash after fills and commissions.
            realized_pnl: Realized profit and loss so far.
            equity: Equity if the portfolio computes it itself; default cash + Σ quantity × price.

        """
        exposure = {s: abs(q * prices[s]) for s, q in positions.items() if s in prices}
        marked = sum((q * prices[s] for s, q in positions.items() if s in prices), Decimal(0))
        snapshot = PortfolioSnapshot(
            dict(positions), exposure, equity if equity is not None else cash + marked, cash, realized_pnl
        )
        with self._lock:
            self._snapshots[portfolio] = snapshot
        return snapshot

    def snapshot(self, portfolio: str) -> PortfolioSnapshot | None:
        """Return the last state reported by ``portfolio``."""
        with self._lock:
            return self._snapshots.get(portfolio)

    def _items(self) -> list[tuple[str, PortfolioSnapshot]]:
        with self._lock:
            return list(self._snapshots.items())

    def observe_positions(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Gauge callback: signed position per portfolio and symbol."""
        return [Observation(float(q), {"ingenium.component": p, "ingenium.symbol": s})
                for p, snap in self._items() for s, q in snap.positions.items()]

    def observe_exposure(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Gauge callback: |quantity × price| per portfolio and symbol."""
        return [Observation(float(e), {"ingenium.component": p, "ingenium.symbol": s})
                for p, snap in self._items() for s, e in snap.exposure.items()]

    def observe_totals(self, field: str, _options: CallbackOptions) -> Iterable[Observation]:
        """Gauge callback: one money total (``equity``, ``cash``, ``realized_pnl``) per portfolio."""
        return [Observation(float(getattr(snap, field)), {"ingenium.component": p}) for p, snap in self._items()]


def register_portfolio_gauges(on: metrics.Meter, gauges: PortfolioGauges) -> None:
    """Create the ``ingenium.portfolio.*`` gauges on meter ``on``, reading ``gauges``.

    Done once for the global meter at import; a test may call it with a meter of its own provider (and an
    in-memory reader) to read the same instruments the exporters read.
    """
    on.create_observable_gauge(
        "ingenium.portfolio.position", callbacks=[gauges.observe_positions], unit="{share}",
        description="Signed position per symbol (short is negative)",
    )
    on.create_observable_gauge(
        "ingenium.portfolio.exposure", callbacks=[gauges.observe_exposure], unit="{currency}",
        description="Absolute market value of the position per symbol",
    )
    for field, description in (
        ("equity", "Cash plus positions marked at the latest prices"),
        ("cash", "Cash after fills and commissions"),
        ("realized_pnl", "Realized profit and loss"),
    ):
        on.create_observable_gauge(
            f"ingenium.portfolio.{field}", unit="{currency}", description=description,
            callbacks=[functools.partial(gauges.observe_totals, field)],
        )


portfolio_gauges = PortfolioGauges()
register_portfolio_gauges(meter, portfolio_gauges)
