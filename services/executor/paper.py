"""The paper executor: fills orders against the market data it sees, as a simple broker simulator.

``ingenium run services.executor.paper:PaperExecutor --param slippage_bps=2 --param max_fill_quantity=50``.
The same class fills orders in the in-process backtest, with ``fill_at=next_open`` there.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from nats.js import JetStreamContext
from pydantic import Field

from ingenium import telemetry
from ingenium.component import Params
from ingenium.config import Settings
from ingenium.events import (
    CancelRequest,
    DataEvent,
    ExecutionEvent,
    ExecutionUpdate,
    Ohlc,
    OrderEvent,
    OrderType,
    TimeInForce,
)
from ingenium.executor import Executor
from ingenium.fields import PositiveDuration
from ingenium.ids import derive_id
from services.executor.cancels import Endings, answer_cancel, cancel_rejected_id, filled_by
from services.executor.orderlog import MemoryOrderLog, OrderLog, WorkingRecord, provision_order_log
from services.executor.pricing import Pricing, average, crosses
from services.executor.refusals import refuse
from services.executor.state import ExecutorState
from services.executor.working import WorkingOrder

duplicate_orders = telemetry.meter.create_counter(
    "ingenium.executor.duplicate_orders", unit="{order}", description="Orders the executor had handled already"
)
_ZERO = Decimal(0)
#: ``ExecutionUpdate.moves_quantity`` as a set: a fill's report is built for every fill.
_MOVES_QUANTITY = frozenset(u for u in ExecutionUpdate if u.moves_quantity)
rejected_orders = telemetry.meter.create_counter(
    "ingenium.executor.rejected_orders", unit="{order}", description="Orders the paper executor rejected"
)
stale_orders = telemetry.Tally(
    "ingenium.executor.orders_stale", unit="{order}", description="Orders older than max_order_age, rejected unfilled"
)


class PaperParams(Params):
    """Fill model of the paper executor."""

    fill_at: Literal["last", "next_open", "close"] = Field(
        default="last",
        description="Market orders fill at the latest close seen ('last', live), the close of the bar they were "
        "decided on ('close'), or the next bar's open ('next_open', the backtest convention). With 'close' and "
        "'next_open' a fill's ExecutionTimestamp is the time label (start) of the bar whose price it took.",
    )
    slippage_bps: Decimal = Field(default=Decimal(0), ge=0, le=1000, description="Adverse slippage per fill (bps).")
    commission_per_share: Decimal = Field(default=Decimal(0), ge=0, description="Commission per unit filled.")
    commission_bps: Decimal = Field(default=Decimal(0), ge=0, le=1000, description="Commission in bps of notional.")
    max_fill_quantity: Decimal | None = Field(
        default=None, gt=0, description="Largest single fill; bigger orders fill in several partial fills."
    )
    volume_share: Decimal | None = Field(
        default=None, gt=0, le=1, description="Share of a bar's volume one symbol's orders may take; the rest "
        "fills on later bars."
    )
    quantity_increment: Decimal = Field(
        default=Decimal(1), gt=0, description="Lot size the volume capacity is rounded down to."
    )
    price_increment: Decimal = Field(default=Decimal("0.0001"), gt=0, description="Tick fill prices round to.")
    max_order_age: PositiveDuration = Field(
        default=timedelta(minutes=1), description="Orders older than this (by the executor's clock) are rejected "
        "unfilled: after an outage the executor does not trade old orders at today's price. 90s, 5m, 1h or seconds."
    )


class PaperExecutor(Executor[PaperParams]):
    """Fills market and limit orders against the bars it receives.

    * Market orders fill at the reference price of ``fill_at``, moved by ``slippage_bps``; limit orders when a
      bar trades through the limit, at the limit or the open if that is better. DAY limit orders expire on the
      first bar of a later day.
    * ``max_fill_quantity`` splits fills; ``volume_share`` caps what one bar can fill, the rest waits for later
      bars. Each fill is one ``partial_fill`` or final ``filled`` execution with ``ExecId``, cumulative and
      leaves quantities, average price and commission. An order that does not fill at once is ``accepted``.
    * Orders for symbols outside ``symbols`` (when given), or with no bar seen yet, are ``rejected`` with the reason;
      so are orders older than ``max_order_age`` (also counted by ``ingenium.executor.orders_stale``).
    * Execution ids derive from (executor, order id, fill number), so a re-run reproduces them exactly.
    * A duplicate order (same ``Id``) is never executed again: the executor replays its first report, with the
      same ids, which JetStream (inside the duplicate window) or the ledger (by ``ExecId``) drops. Live, the
      record of handled and working orders is a JetStream key-value bucket; a restart resumes working orders.
    * A ``CancelRequest`` for a working order ends it ``canceled`` (fills kept, nothing left); for a final one it
      is answered ``cancel_rejected``, saying how the order ended; for an order never received it is
      dead-lettered. The answer is recorded, so a redelivered request gets the same one. In-process (a backtest)
      the executor remembers its latest 100,000 orders, so what it keeps of them does not grow with a long run.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        p = self.params
        self.pricing = Pricing(
            slippage_bps=p.slippage_bps,
            commission_per_share=p.commission_per_share,
            commission_bps=p.commission_bps,
            price_increment=p.price_increment,
        )
        self.order_log: OrderLog = MemoryOrderLog()
        self._allowed = {s.lower() for s in self.symbols} if self.symbols is not None else None
        self._next_open = p.fill_at == "next_open"
        # The backtest fill models stamp a fill with the time label of the bar whose price it took (as
        # backtesting.py and its peers do); a live fill at the last price happened now.
        self._bar_time = p.fill_at != "last"
        self._capped = p.volume_share is not None
        self._keys: dict[str, str] = {}  # symbol → its lower-case key, computed once per symbol
        self._bars: dict[str, Ohlc] = {}
        self._seeded: set[str] = set()
        self._capacity: dict[str, Decimal] = {}
        self._working: dict[str, dict[str, WorkingOrder]] = {}
        self.endings: Endings[WorkingOrder] = Endings()  # how orders ended, to answer cancels that come late

    async def on_start(self) -> None:
        """Live: open the order log bucket, learn the latest prices, resume orders that were working."""
        from services.executor.recovery import recover  # live-only imports stay out of the backtest's path

        state = await recover(self)
        if state is not None:
            self.restore(state)

    def restore(self, state: ExecutorState) -> None:
        """Resume from ``state`` (what recovery read from the order log and the streams), before any message."""
        self.order_log = state.order_log
        for symbol, bar in state.bars.items():
            self.remember_bar(symbol, bar)
        for working in state.working:
            self.resume(working)

    async def provision(self, js: JetStreamContext, settings: Settings) -> list[str]:
        """Create the order log's bucket, which the executor's own NATS user may not."""
        return await provision_order_log(js, settings, self.name)

    # ------------------------------------------------------------------ handlers
    def on_data(self, event: DataEvent) -> list[ExecutionEvent] | None:
        """Remember the bar as the symbol's latest price and fill the symbol's working orders against it."""
        # Called for every bar, live and in backtests: the common case (a newer bar, no working order) is kept
        # to a few lookups.
        bar = event.ohlc
        if bar is None:
            return None
        symbol = event.symbol
        key = self._keys.get(symbol)
        if key is None:
            key = self._keys[symbol] = symbol.lower()
        bars = self._bars
        previous = bars.get(key)
        # A replayed or redelivered bar must not move the price back or fill twice; only the bar taken as the
        # latest price on start still has to be worked, once, when it arrives.
        if previous is not None:
            timestamp, seen = bar.timestamp, previous.timestamp
            if timestamp <= seen and (timestamp < seen or key not in self._seeded):
                return None
        if self._seeded:
            self._seeded.discard(key)
        bars[key] = bar
        if self._capped and (previous is None or bar.timestamp > previous.timestamp):
            # Not for the bar taken on start arriving: its volume was given then, and orders may have used it.
            self._capacity[key] = self._bar_capacity(bar)
        book = self._working.get(key)
        if not book:
            return None
        return self._work(key, book, bar)

    async def on_order(self, event: OrderEvent) -> list[ExecutionEvent]:
        """Execute a new order; for an order handled before, replay the first report instead."""
        # Decided first, then claimed in the order log, which says whether the order is new: an order done at
        # once is claimed in one round trip (create if absent) instead of a get and a put.
        key = event.symbol.lower()
        decided_on, before = self._bars.get(key), self._capacity.get(key)
        refusal = refuse(event, self.clock.now(), self.params.max_order_age, self._allowed, self._bars)
        if refusal is not None:
            executions, working = [self.report(WorkingOrder(event, None, date.min), ExecutionUpdate.REJECTED,
                                               reason=refusal.reason)], None
        else:
            executions, working = self.accept(event)
        taken = before - self._capacity[key] if before is not None else None
        record = WorkingRecord(event, self.clock.now(), working.after, working.day) if working else None
        first = await self.order_log.claim(event, executions, record)
        if first is not None:
            # This decision is dropped: give back the volume it took, unless a newer bar came meanwhile (the
            # bar consumer runs on while the log answers) and replaced it.
            if taken and self._bars.get(key) is decided_on:
                self._capacity[key] += taken
            self.log.warning("%s: order %s was handled before; replaying its first report", self.name, event.id)
            duplicate_orders.add(1, {"ingenium.component": self.name})
            self._absorb(event, first)
            return first
        if refusal is not None:
            self.log.warning("%s: rejected order %s: %s", self.name, event.id, refusal.reason)
            rejected_orders.add(1, {"ingenium.component": self.name})
            if refusal.stale:
                stale_orders.add(1, {"ingenium.component": self.name})
        if working is None and executions:
            self.endings.record(event.id, WorkingOrder(event, None, date.min, *filled_by(executions)),
                                executions[-1].update)
        if working is not None:
            # The order joins the book only now: bars that arrived while its report was being recorded (the
            # bar consumer runs on) are worked here, so its fills follow the report in what this handler returns,
            # and the runtime sends a handler's output before a later handler's (fills from the next bars).
            bar = self._bars.get(key)
            caught_up = self._work_order(key, working, bar) if bar is not None else None
            if caught_up:  # a new list: the one recorded as the first report stays as it was
                executions = [*executions, *caught_up]
            if working.done:
                self.endings.record(event.id, working, working.ending)
            else:
                self.resume(working)
        return executions

    async def on_cancel(self, event: CancelRequest) -> list[ExecutionEvent]:
        """Cancel a working order, or say why it cannot be; a redelivered request gets its first answer again."""
        answered = await self.order_log.answer(event.id)
        if answered is not None:
            return answered
        answer = await answer_cancel(self, event)
        await self.order_log.record_answer(event.id, answer)
        return answer

    # ------------------------------------------------------------------ the book
    def accept(self, order: OrderEvent) -> tuple[list[ExecutionEvent], WorkingOrder | None]:
        """Execute an order ``refuse`` let through against the latest bar; returns its report and what keeps working."""
        key = order.symbol.lower()
        bar = self._bars[key]
        # A working order fills on bars after the one it was accepted on (whose volume it has used already).
        working = WorkingOrder(order, after=bar.timestamp, day=bar.timestamp.date())
        out: list[ExecutionEvent] = []
        if not self._next_open:
            if order.type is OrderType.MARKET:
                out = self._fill(key, working, bar, bar.close, None)
            elif order.limit_price is not None and crosses(order.side, order.limit_price, bar.close, bar.close):
                out = self._fill(key, working, bar, bar.close, order.limit_price)
        if working.leaves <= 0:
            return out, None
        # The report says what was accepted: the order before this bar's fills (the working order itself when none).
        fresh = WorkingOrder(order, working.after, working.day) if working.fills else working
        out.insert(0, self.report(fresh, ExecutionUpdate.ACCEPTED))
        return out, working

    def _absorb(self, order: OrderEvent, report: list[ExecutionEvent]) -> None:
        """Make the book agree with a replayed first report (its publish may have failed, or not be scanned)."""
        working = self.working_order(order.id)
        if working is None:
            if order.id in self.endings or not report or report[0].update is not ExecutionUpdate.ACCEPTED:
                return  # it ended (filled, canceled, expired or rejected): nothing keeps working
            moment = report[0].execution_timestamp
            bar = self._bars.get(order.symbol.lower())
            after = bar.timestamp if bar is not None else moment
            working = WorkingOrder(order, after=after, day=after.date())
            self.resume(working)
        fills = [e for e in report if e.is_fill]
        for execution in fills[working.fills :]:
            working.filled += execution.quantity
            working.notional += execution.quantity * execution.price
            working.fills += 1

    def working_order(self, order_id: str) -> WorkingOrder | None:
        """The working order with this id, if it is still working."""
        for book in self._working.values():
            if order_id in book:
                return book[order_id]
        return None

    def withdraw(self, order_id: str) -> WorkingOrder | None:
        """Take a working order out of the book (it is canceled); ``None`` if it is not working."""
        working = self.working_order(order_id)
        if working is not None:
            key = working.order.symbol.lower()
            del self._working[key][order_id]
            if not self._working[key]:
                del self._working[key]
        return working

    def resume(self, working: WorkingOrder) -> None:
        """Put back an order that was working before a restart."""
        self._working.setdefault(working.order.symbol.lower(), {})[working.order.id] = working

    def remember_bar(self, symbol: str, bar: Ohlc) -> None:
        """Take ``bar`` as the symbol's latest price without filling anything (used on start)."""
        key = symbol.lower()
        current = self._bars.get(key)
        if current is None or bar.timestamp > current.timestamp:
            self._bars[key] = bar
            self._seeded.add(key)
            if self._capped:  # an order may come before the bar itself does, and trade on it
                self._capacity[key] = self._bar_capacity(bar)

    def _work(self, key: str, book: dict[str, WorkingOrder], bar: Ohlc) -> list[ExecutionEvent]:
        out: list[ExecutionEvent] = []
        for working in list(book.values()):
            out.extend(self._work_order(key, working, bar))
            if working.done:
                del book[working.order.id]
                self.endings.record(working.order.id, working, working.ending)
        if not book:
            del self._working[key]
        return out

    def _work_order(self, key: str, working: WorkingOrder, bar: Ohlc) -> list[ExecutionEvent]:
        """Fill (or expire) one working order against a bar newer than the one it last saw."""
        order = working.order
        if working.after is not None and bar.timestamp <= working.after:
            return []
        working.after = bar.timestamp
        limit = order.limit_price
        if order.type is OrderType.MARKET or limit is None:
            return self._fill(key, working, bar, bar.open if self._next_open else bar.close, None)
        if order.time_in_force is TimeInForce.DAY and bar.timestamp.date() > working.day:
            working.expired = True
            return [self.report(working, ExecutionUpdate.EXPIRED, reason="day order expired unfilled")]
        if crosses(order.side, limit, bar.low, bar.high):
            better = bar.open <= limit if order.side.sign > 0 else bar.open >= limit
            return self._fill(key, working, bar, bar.open if better else limit, limit)
        return []

    def _bar_capacity(self, bar: Ohlc) -> Decimal:
        share = self.params.volume_share or Decimal(0)
        step = self.params.quantity_increment
        return (bar.volume * share / step).to_integral_value(rounding=ROUND_FLOOR) * step

    def _fill(
        self, key: str, working: WorkingOrder, bar: Ohlc, reference: Decimal, limit: Decimal | None
    ) -> list[ExecutionEvent]:
        available = working.leaves
        capped = self.params.volume_share is not None
        if capped:
            available = min(available, self._capacity.get(key, Decimal(0)))
        if available <= 0:
            return []
        order = working.order
        price = self.pricing.fill_price(order.side, reference, limit)
        step = self.params.max_fill_quantity
        executed_at = bar.timestamp if self._bar_time else None
        out: list[ExecutionEvent] = []
        filled = Decimal(0)
        while filled < available:
            quantity = min(available - filled, step) if step is not None else available - filled
            filled += quantity
            working.filled += quantity
            working.notional += quantity * price
            working.fills += 1
            update = ExecutionUpdate.FILLED if working.leaves <= 0 else ExecutionUpdate.PARTIAL_FILL
            out.append(self.report(working, update, quantity=quantity, price=price,
                                   commission=self.pricing.commission(quantity, price), executed_at=executed_at))
        if capped:
            self._capacity[key] -= filled
        return out

    def report(
        self,
        working: WorkingOrder,
        update: ExecutionUpdate,
        *,
        quantity: Decimal = Decimal(0),
        price: Decimal = Decimal(0),
        commission: Decimal | None = None,
        reason: str | None = None,
        executed_at: datetime | None = None,
        cancel: CancelRequest | None = None,
    ) -> ExecutionEvent:
        """The report of ``update`` for a working order (``cancel``: the request a cancel answer is for)."""
        order = working.order
        moves = update in _MOVES_QUANTITY
        tag: object = working.fills if moves else update.value
        return self.execution(
            order,
            update,
            quantity=quantity,
            price=price,
            cum_quantity=working.filled,
            avg_price=average(working.notional, working.filled) if working.filled else None,
            commission=commission,
            reason=reason,
            # Ids derive from (executor, order, fill number) so a restarted executor reproduces them exactly.
            event_id=cancel_rejected_id(self.name, order.id, cancel) if update is ExecutionUpdate.CANCEL_REJECTED
            and cancel is not None else derive_id("exec", self.name, order.id, tag),
            leaves_quantity=working.leaves if moves or update is ExecutionUpdate.ACCEPTED else _ZERO,
            executed_at=executed_at,
            cancel_id=cancel.id if cancel is not None else None,
        )
