"""A portfolio that sizes signals into orders under risk limits and keeps its book from executions.

``ingenium run services.portfolio.portfolio:RiskPortfolio --param sizing=notional --param notional=5000``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field

from ingenium import telemetry
from ingenium.component import Params, Schedule
from ingenium.events import CancelRequest, Event, ExecutionEvent, OrderEvent, OrderType, Side, SignalEvent, SignalType
from ingenium.fields import PositiveDuration
from ingenium.portfolio import Portfolio
from services.portfolio.book import Book
from services.portfolio.risk import Rejection, RiskLimits, check
from services.portfolio.sizing import SizingMode, target_size, whole_lots
from services.portfolio.state import PortfolioState

rejections = telemetry.meter.create_counter(
    "ingenium.portfolio.rejections", unit="{order}", description="Orders the portfolio refused, by reason"
)
stale_signals = telemetry.Tally(
    "ingenium.portfolio.signals_stale", unit="{signal}",
    description="Signals older than max_signal_age, dropped without an order",
)
_BPS = Decimal(10_000)


class RiskPortfolioParams(Params):
    """Sizing, limits and order style of the portfolio."""

    cash: Decimal = Field(
        default=Decimal(100_000), ge=0, description="Starting cash when there is no ledger to recover from."
    )
    sizing: SizingMode = Field(default="quantity", description="quantity, notional or equity_fraction.")
    quantity: Decimal = Field(default=Decimal(100), gt=0, description="Units per position (quantity sizing).")
    notional: Decimal = Field(default=Decimal(10_000), gt=0, description="Money per position (notional sizing).")
    equity_fraction: Decimal = Field(
        default=Decimal("0.1"), gt=0, le=10, description="Share of equity per position (equity_fraction sizing)."
    )
    lot: Decimal = Field(
        default=Decimal(1), gt=0, description="Order sizes are whole multiples of this (rounded toward zero)."
    )
    long_only: bool = Field(default=True, description="A short signal only closes a long; never go short.")
    max_position: Decimal | None = Field(default=None, gt=0, description="Largest |position| per symbol (units).")
    max_gross_exposure: Decimal | None = Field(
        default=None, gt=0, description="Largest sum of |position| × price over all symbols."
    )
    max_leverage: Decimal = Field(default=Decimal(1), gt=0, description="Gross exposure ≤ equity × this.")
    cash_buffer_bps: Decimal = Field(
        default=Decimal(50), ge=0, description="Cash a buy leaves for slippage and commission (bps of its cost)."
    )
    limit_offset_bps: Decimal | None = Field(
        default=None, ge=0, description="Send marketable limit orders this far beyond the signal price instead of "
        "market orders."
    )
    max_signal_age: PositiveDuration = Field(
        default=timedelta(minutes=5), description="Signals older than this (by the portfolio's clock) are dropped "
        "unanswered: after an outage the portfolio does not act on old news. 90s, 5m, 1h or seconds."
    )
    max_working_age: PositiveDuration | None = Field(
        default=timedelta(days=1), description="Open orders older than this (by the portfolio's clock) are "
        "canceled, so a GTC limit order does not stay open forever. 90s, 5m, 1h, 1d or seconds."
    )


class RiskPortfolio(Portfolio[RiskPortfolioParams]):
    """Turns each signal into the order that brings the symbol to its target position.

    A long signal targets ``+size``; a short one ``-size``, or flat when ``long_only``. The order is the
    difference between the target and the position including open orders, rounded toward zero to whole lots (an
    odd quantity held from a manual order is never traded by the portfolio), so a repeated signal sends nothing.
    Orders that would break a limit (``long_only``, ``max_position``, ``max_gross_exposure``, ``margin``,
    ``cash``) are refused: logged with the reason and counted by ``ingenium.portfolio.rejections``. A signal
    older than ``max_signal_age`` is dropped (logged, counted by ``ingenium.portfolio.signals_stale``).
    The ``ingenium.portfolio.*`` gauges are fed from the book after every signal and execution. Open orders
    older than ``max_working_age`` are canceled (a ``CancelRequest``, sent once per order), checked on every
    signal and execution and, live, every ``max_working_age / 4`` (at most a minute) in between.

    Live with a database, ``on_start`` recovers cash, positions and open orders from the ledger's tables (and
    the stream messages the ledger has not projected yet) before any message is consumed.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        p = self.params
        self.book = Book(p.cash)
        self.limits = RiskLimits(
            max_position=p.max_position,
            max_gross_exposure=p.max_gross_exposure,
            max_leverage=p.max_leverage,
            long_only=p.long_only,
            cash_buffer_bps=p.cash_buffer_bps,
        )
        #: Refusals since start, by code (also exported as a metric).
        self.rejected: dict[str, int] = {}
        #: Signals recovery found already decided before a restart; their redelivery is skipped.
        self.handled_signals: set[str] = set()

    async def on_start(self) -> None:
        """Recover the book from the ledger (or the streams) before consuming anything."""
        from services.portfolio.recovery import recover  # database and NATS code stays out of the backtest path

        recovered = await recover(self, self.params.cash)
        if recovered is not None:
            self.restore(recovered[0])
            await self._decide_first(recovered[0].first_signals)
        self.report_gauges()

    async def _decide_first(self, signals: tuple[SignalEvent, ...]) -> None:
        """Decide, in order, signals delivered before the restart but not answered; skip their redelivery.

        Order ids derive from the signal as in the handler, so a signal decided twice yields one stored order.
        """
        if not signals or self.context is None:
            return
        bus = self.context.bus
        try:
            for signal in signals:
                self.begin(signal)
                for event in self.collect(self.on_signal(signal)):
                    await bus.publish(event)
                self.handled_signals.add(signal.id)
        finally:
            self.begin(None)

    def restore(self, state: PortfolioState) -> None:
        """Resume from ``state`` (what recovery read from the ledger and the streams), before any message."""
        self.book = state.book
        self.handled_signals = set(state.handled_signals)

    def schedules(self) -> list[Schedule]:
        """Live, with ``max_working_age``: cancel requests for orders that outlive a quiet market.

        Signals and executions check ages too; this catches orders no event comes for.
        """
        age = self.params.max_working_age
        if age is None:
            return []
        return [Schedule(every=min(age / 4, timedelta(seconds=60)), emit=self.too_old, failed=self._cancels_failed)]

    def _cancels_failed(self, requests: list[Event], exc: Exception) -> None:
        """Cancel requests that were not stored are asked for again at the next check."""
        for request in requests:
            if isinstance(request, CancelRequest) and (still := self.book.open_orders.get(request.order_id)):
                still.cancel_requested = False

    def too_old(self) -> list[CancelRequest]:
        """Cancel requests for open orders older than ``max_working_age`` (each asked for once)."""
        age = self.params.max_working_age
        if age is None or not self.book.open_orders:
            return []
        out = []
        for stale in self.book.older_than(self.clock.now() - age):
            stale.cancel_requested = True
            self.log.info("%s: canceling order %s for %s: open longer than max_working_age %s", self.name,
                          stale.order_id, stale.symbol, age)
            out.append(self.cancel(stale.order_id, reason=f"open longer than max_working_age {age}"))
        return out

    def on_signal(self, event: SignalEvent) -> OrderEvent | None:
        """Size the signal, check the limits, and return the order (or nothing)."""
        for request in self.too_old():
            self.publish(request)
        if self.handled_signals and event.id in self.handled_signals:
            self.handled_signals.discard(event.id)
            return None
        age = self.clock.now() - event.timestamp
        if age > self.params.max_signal_age:
            self.log.warning("%s: dropped signal %s for %s: it is %.0fs old, beyond max_signal_age %s; not traded "
                             "at today's price", self.name, event.id, event.symbol, age.total_seconds(),
                             self.params.max_signal_age)
            stale_signals.add(1, {"ingenium.component": self.name})
            return None
        order = self._decide(event)
        self.report_gauges()  # the signal's price marks the position even when no order follows
        return order

    def _decide(self, event: SignalEvent) -> OrderEvent | None:
        book = self.book
        symbol = event.symbol
        price = event.price if event.price is not None else book.mark(symbol)
        if price is None:
            self.reject(event, Rejection("no_price", f"{symbol}: the signal carries no price and none is known"))
            return None
        book.marks[symbol] = price
        p = self.params
        size = target_size(p.sizing, price=price, equity=book.equity(), quantity=p.quantity, notional=p.notional,
                           equity_fraction=p.equity_fraction, lot=p.lot)
        closing_only = event.signal is SignalType.SHORT and p.long_only
        if size == 0 and not closing_only:
            self.reject(event, Rejection("size_zero", f"{symbol}: the position size rounds to zero lots"))
            return None
        target = size if event.signal is SignalType.LONG else Decimal(0) if p.long_only else -size
        effective = book.effective(symbol)
        delta = target - effective
        if delta == 0:
            return None
        # Whole lots toward the target, never past it: an odd quantity (from a manual order) stays as it is.
        quantity = abs(whole_lots(delta, p.lot))
        if quantity == 0:
            self.reject(event, Rejection("odd_lot", f"{symbol}: the position of {effective} is {abs(delta)} from the "
                                                    f"target {target}, less than one lot of {p.lot}"))
            return None
        side = Side.BUY if delta > 0 else Side.SELL
        refusal = check(book, self.limits, symbol, side, quantity, price)
        if refusal is not None:
            self.reject(event, refusal)
            return None
        if p.limit_offset_bps is None:
            order = self.order(symbol, side, quantity, signal=event)
        else:
            offset = price * p.limit_offset_bps / _BPS
            limit = (price + offset if side is Side.BUY else price - offset).quantize(Decimal("0.0001"))
            order = self.order(symbol, side, quantity, order_type=OrderType.LIMIT, limit_price=limit, signal=event)
        book.add_order(order, order.limit_price or price)
        return order

    def on_execution(self, event: ExecutionEvent) -> None:
        """Apply a fill or status change to the book (a fill seen before changes nothing)."""
        if self.book.apply(event) and event.is_fill:
            self.report_gauges()
        for request in self.too_old():
            self.publish(request)

    def report_gauges(self) -> None:
        """Show the book in the ``ingenium.portfolio.*`` gauges: positions, exposure, equity, cash, realized PnL."""
        book = self.book
        telemetry.portfolio_gauges.record(
            self.name,
            positions={s: held.quantity for s, held in book.positions.items()},
            prices={s: mark for s in book.positions if (mark := book.mark(s)) is not None},
            cash=book.cash,
            realized_pnl=book.realized_pnl(),
            equity=book.equity(),
        )

    def reject(self, signal: SignalEvent, refusal: Rejection) -> None:
        """Log and count a refused order."""
        self.log.warning("%s: no order for signal %s: %s", self.name, signal.id, refusal.reason)
        self.rejected[refusal.code] = self.rejected.get(refusal.code, 0) + 1
        rejections.add(1, {"ingenium.component": self.name, "reason": refusal.code, "symbol": signal.symbol})
