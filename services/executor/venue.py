"""``VenueExecutor``: any ``ingenium.venue.Venue`` as an Ingenium executor, exactly once across crashes.

* Placing: the order is written to the executor's KV bucket (``o.<id>``, and ``w.<id>`` while it works) before
  it is sent, with client order id = the order's ``Id``. A redelivered order (a crash before the ack) is sent
  again; the venue refuses the reused client order id and the executor looks the order up instead. A refused
  order is reported ``rejected`` once, remembered (``r.<id>``) and never sent again.
* Reporting: every venue fill becomes one ``ExecutionEvent`` whose ``Id``/``ExecId`` derive from the fill's
  identity (venue order id, cumulative quantity), so the same fill learned from the stream and from REST is one
  event: JetStream drops the copy inside its window, the ledger (by ``ExecId``) after it.
* Reconciling, on start and after every stream reconnect: fills since the checkpoint (``checkpoint`` key) and
  the state of every working order, from REST; then venue positions against the ledger's (``anomalies.py``).
  Stream updates and reconciliations are one source of the executor's own (``Component.sources``): the runtime
  publishes their reports as it does a handler's, and only once they are stored are finished orders forgotten
  and the checkpoint moved.
* Canceling: a ``CancelRequest`` is recorded as the order's pending cancel (``x.<id>``) before the venue is
  asked; the venue's ``canceled`` update (stream or reconciliation) is reported with its ``CancelId``. A venue
  refusal, or an order that ended otherwise first, is answered ``cancel_rejected``. The answer to each request is
  remembered (``c.<cancel>``), so a redelivered request is not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import Field

from ingenium import telemetry
from ingenium.component import Emitted, Params, Source
from ingenium.config import Settings
from ingenium.errors import PermanentFailure
from ingenium.events import CancelRequest, ExecutionEvent, ExecutionUpdate, OrderEvent
from ingenium.executor import Executor
from ingenium.ids import derive_id
from ingenium.venue import (
    DuplicateClientOrder,
    OrderRefused,
    Venue,
    VenueFill,
    VenueOrder,
    VenueStatus,
    VenueUpdate,
)
from services.executor.orderlog import _key, kv_get, kv_keys, open_order_log, provision_order_log
from services.executor.reconciliation import Reconciliation

_FINAL_UPDATE = {
    VenueStatus.CANCELED: ExecutionUpdate.CANCELED, VenueStatus.EXPIRED: ExecutionUpdate.EXPIRED,
    VenueStatus.REJECTED: ExecutionUpdate.REJECTED, VenueStatus.REPLACED: ExecutionUpdate.REPLACED,
}


venue_rejects = telemetry.meter.create_counter(
    "ingenium.executor.venue_rejects", unit="{order}", description="Orders a venue refused"
)


class VenueParams(Params):
    """How a venue executor reconciles."""

    overlap_seconds: float = Field(default=60, ge=0, description="Reconciliation re-reads this much before the "
                                   "checkpoint (clock skew between us and the venue).")
    first_lookback_hours: float = Field(default=24, gt=0, description="How far back the first reconciliation "
                                        "reads fills, before any checkpoint exists.")
    ledger_wait_seconds: float = Field(default=10, ge=0, description="How long the position check waits for the "
                                       "ledger to project the executions before comparing.")


class VenueExecutor(Executor[VenueParams]):
    """Base of executors that trade at a real venue; subclasses say which venue in ``make_venue``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.venue: Venue | None = None
        self.kv: KeyValue | None = None
        self._orders: dict[str, OrderEvent | None] = {}
        #: The venue's updates and the reconciliations asked for, each in order, for the runtime to handle.
        self._inbox: asyncio.Queue[VenueUpdate] = asyncio.Queue()
        self._requests: asyncio.Queue[Reconciliation] = asyncio.Queue()
        self._checking = asyncio.Lock()
        self._stream: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.reconciled = 0  # completed reconciliations (tests and logs)

    def make_venue(self) -> Venue:
        """The venue this executor trades at."""
        raise NotImplementedError

    # ----------------------------------------------------------------- lifecycle
    async def on_start(self) -> None:
        """Open the KV bucket and the venue, reconcile, then follow the venue's update stream."""
        context = self.context
        if context is None or not context.live:
            return  # a replay or a backtest has no venue: on_order rejects
        settings = context.settings
        log = await open_order_log(context.jetstream(), settings, self.name)
        self.kv = log.kv
        self.venue = self.make_venue()
        self._ask_to_reconcile()  # first, before any update the stream brings
        self._stream = asyncio.create_task(self.venue.stream(self._on_update, self._on_connect))

    async def provision(self, js: JetStreamContext, settings: Settings) -> list[str]:
        """Create the order log's bucket, which the executor's own NATS user may not."""
        return await provision_order_log(js, settings, self.name)

    async def on_stop(self) -> None:
        """Stop the stream and release the venue."""
        for task in [self._stream, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.venue is not None:
            await self.venue.close()
        while not self._requests.empty():
            if not (request := self._requests.get_nowait()).done.done():
                request.done.set_result(False)

    def sources(self) -> list[Source[Any]]:
        """The venue's updates and the reconciliations, live once the venue is open."""
        if self.venue is None:
            return []
        return [Source(items=self._updates, handle=self._handle, stored=self._stored, failed=self._failed),
                Source(items=self._reconciliations, handle=self._reconciliation, stored=self._stored,
                       failed=self._failed)]

    # ----------------------------------------------------------------- orders
    async def on_order(self, event: OrderEvent) -> list[ExecutionEvent]:
        """Place the order once at the venue; report it ``accepted`` (or ``rejected`` with the venue's reason)."""
        if self.venue is None or self.kv is None:
            return [self._reject(event, f"{self.name} trades only live, at a venue: run it with `ingenium run`")]
        key = _key(event.id)
        refused = await self._get(f"r.{key}")
        if refused is not None:
            return [self._reject(event, json.loads(refused)["reason"])]
        await self.kv.put(f"o.{key}", event.to_json())
        await self.kv.put(f"w.{key}", b"1")
        self._orders[event.id] = event
        try:
            placed = await self.venue.place(event)
        except DuplicateClientOrder:
            self.log.info("%s: order %s was placed before; looking it up", self.name, event.id)
            found = await self.venue.order(event.id)
            if found is None:
                raise RuntimeError(f"the venue refused order {event.id} as a duplicate but cannot find it") from None
            placed = found
        except OrderRefused as exc:
            await self.kv.put(f"r.{key}", json.dumps({"reason": exc.reason}).encode())
            await self.kv.delete(f"w.{key}")
            return [self._reject(event, exc.reason)]
        self.log.info("%s: order %s is %s at %s as %s", self.name, event.id, placed.status.value, self.venue.name,
                      placed.venue_order_id)
        out = [self.execution(event, ExecutionUpdate.ACCEPTED, event_id=self._status_id(event, "accepted"),
                              leaves_quantity=event.quantity)]
        out += await self._final(event, placed)
        return out

    # ----------------------------------------------------------------- cancels
    async def on_cancel(self, event: CancelRequest) -> list[ExecutionEvent]:
        """Ask the venue to cancel; the ``canceled`` report follows from the venue. A refusal is answered at once."""
        if self.venue is None or self.kv is None:
            raise PermanentFailure(f"{self.name} trades only live, at a venue: it cannot cancel {event.order_id}")
        answered = await self._get(f"c.{_key(event.id)}")
        if answered is not None:
            return [ExecutionEvent.from_json(raw) for raw in json.loads(answered)]
        order = await self._order_event(event.order_id)
        if order is None:
            raise PermanentFailure(f"cancel request {event.id} names order {event.order_id}, which {self.name} never "
                                   "received: nothing to cancel")
        refused = await self._get(f"r.{_key(order.id)}")
        if refused is not None:
            answer = [self._cancel_rejected(order, event.id, f"order {order.id} was rejected: "
                                                             f"{json.loads(refused)['reason']}")]
        else:
            answer = await self._ask_venue(order, event)
        if answer or await self._get(f"c.{_key(event.id)}") is None:  # the venue's answer may be recorded already
            await self._answered(event.id, answer)
        return answer

    async def _answered(self, cancel_id: str, answer: list[ExecutionEvent]) -> None:
        """Record the answer to a cancel request, replayed if the request comes again."""
        assert self.kv is not None
        await self.kv.put(f"c.{_key(cancel_id)}", json.dumps([e.to_json().decode() for e in answer]).encode())

    async def _ask_venue(self, order: OrderEvent, request: CancelRequest) -> list[ExecutionEvent]:
        assert self.venue is not None and self.kv is not None
        key = _key(order.id)
        await self.kv.put(f"x.{key}", json.dumps({"cancel_id": request.id, "reason": request.reason}).encode())
        try:
            await self.venue.cancel(order.id)
        except OrderRefused as exc:
            found = await self.venue.order(order.id)
            if found is None:
                # Known here but not at the venue: its placement is still being retried. So is the cancel.
                raise RuntimeError(f"order {order.id} is not at {self.venue.name} yet; the cancel is retried") from exc
            if found.status is VenueStatus.CANCELED and await self._get(f"w.{key}") is not None:
                return []  # canceled by an earlier attempt at this request: its report carries the request's id
            await self.kv.delete(f"x.{key}")
            return [self._cancel_rejected(order, request.id, exc.reason, found.filled_quantity)]
        self.log.info("%s: asked %s to cancel order %s", self.name, self.venue.name, order.id)
        return []

    def _cancel_rejected(self, order: OrderEvent, cancel_id: str, reason: str,
                         filled: Decimal = Decimal(0)) -> ExecutionEvent:
        self.log.warning("%s: cannot cancel order %s: %s", self.name, order.id, reason)
        return self.execution(order, ExecutionUpdate.CANCEL_REJECTED, reason=reason, cancel_id=cancel_id,
                              cum_quantity=filled,
                              event_id=derive_id("exec", self.name, order.id, "cancel_rejected", cancel_id))

    async def _pending_cancel(self, order_id: str) -> dict[str, str | None] | None:
        raw = await self._get(f"x.{_key(order_id)}")
        return json.loads(raw) if raw is not None else None

    def _reject(self, order: OrderEvent, reason: str) -> ExecutionEvent:
        self.log.warning("%s: order %s rejected: %s", self.name, order.id, reason)
        venue_rejects.add(1, {"ingenium.component": self.name})
        return self.execution(order, ExecutionUpdate.REJECTED, reason=reason, event_id=self._status_id(order,
                              "rejected"))

    def _status_id(self, order: OrderEvent, what: str) -> str:
        return derive_id("exec", self.name, order.id, what)

    # ----------------------------------------------------------------- venue → executions
    def fill_execution(self, order: OrderEvent, fill: VenueFill) -> ExecutionEvent:
        """The report of one venue fill; its id depends only on the fill's identity."""
        update = ExecutionUpdate.FILLED if fill.leaves_quantity <= 0 else ExecutionUpdate.PARTIAL_FILL
        venue = self.venue.name if self.venue is not None else self.name
        return self.execution(order, update, quantity=fill.quantity, price=fill.price,
                              cum_quantity=fill.cum_quantity, avg_price=fill.avg_price,
                              leaves_quantity=fill.leaves_quantity, executed_at=fill.executed_at,
                              event_id=derive_id("exec", venue, fill.fill_key))

    async def _final(self, order: OrderEvent, found: VenueOrder) -> list[ExecutionEvent]:
        """The report of a final state: with the pending cancel's id when canceled, else with that cancel's refusal.

        A filled order has no report of its own here (its last fill is one), but answers a pending cancel too.
        """
        if not found.status.final:
            return []
        update = _FINAL_UPDATE.get(found.status)
        pending = await self._pending_cancel(order.id) if self.kv is not None else None
        cancel_id = str(pending["cancel_id"]) if pending else None
        out: list[ExecutionEvent] = []
        if update is not None:
            reason = found.reason or f"{update.value} at the venue"
            if update is ExecutionUpdate.CANCELED and pending and pending.get("reason"):
                reason = f"canceled on request: {pending['reason']}"
            out.append(self.execution(order, update, cum_quantity=found.filled_quantity, avg_price=found.avg_price,
                                      reason=reason, event_id=self._status_id(order, update.value),
                                      executed_at=found.updated_at,
                                      cancel_id=cancel_id if update is ExecutionUpdate.CANCELED else None))
        if cancel_id is not None:
            # The final state answers the pending cancel: recorded before it is published, so the request, if
            # redelivered (the executor was killed meanwhile), gets this answer and is not sent again.
            if update is not ExecutionUpdate.CANCELED:
                why = f"order {order.id} was {found.status.value} before the cancel took effect"
                out.append(self._cancel_rejected(order, cancel_id, why, found.filled_quantity))
            await self._answered(cancel_id, out[-1:])
        return out

    async def _order_event(self, client_order_id: str) -> OrderEvent | None:
        if client_order_id not in self._orders:
            raw = await self._get(f"o.{_key(client_order_id)}")
            self._orders[client_order_id] = OrderEvent.from_json(raw) if raw is not None else None
        return self._orders[client_order_id]

    async def _on_update(self, update: VenueUpdate) -> None:
        await self._inbox.put(update)

    async def _on_connect(self) -> None:
        self._ask_to_reconcile()

    def _ask_to_reconcile(self) -> Reconciliation:
        request = Reconciliation(asyncio.get_running_loop().create_future())
        self._requests.put_nowait(request)
        return request

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _updates(self) -> AsyncIterator[VenueUpdate]:
        while True:
            yield await self._inbox.get()

    async def _reconciliations(self) -> AsyncIterator[Reconciliation]:
        while True:
            request = await self._requests.get()
            try:
                await self._read_venue(request)
            except Exception as exc:
                self._failed(request, exc)
                continue
            yield request

    async def _handle(self, item: VenueUpdate) -> Emitted:
        """The reports of a venue update."""
        order = await self._order_event(item.order.client_order_id)
        if order is None:
            self.log.info("%s: update for order %s, which this executor did not place; ignored",
                          self.name, item.order.client_order_id)
            return []
        out = [self.fill_execution(order, item.fill)] if item.fill is not None else []
        return out + await self._final(order, item.order)

    async def _stored(self, item: VenueUpdate | Reconciliation) -> None:
        """The reports are stored: forget the orders that finished, and move the checkpoint."""
        if isinstance(item, Reconciliation):
            for order_id in item.finished:
                await self._finished(order_id)
            if self.kv is not None:
                await self.kv.put("checkpoint", item.started.isoformat().encode())
            self.reconciled += 1
            self.log.info("%s: reconciled: %d reports since %s", self.name, item.reports,
                          item.since.isoformat() if item.since else "the start")
            item.done.set_result(True)
            # The comparison waits for the ledger to catch up: never on the path of an order.
            if self.venue is not None:
                self._spawn(self._check_positions(self.venue))
            return
        order = await self._order_event(item.order.client_order_id)
        if order is not None and item.order.status.final:
            await self._finished(order.id)

    def _failed(self, item: VenueUpdate | Reconciliation, exc: Exception) -> None:
        if isinstance(item, Reconciliation):
            self.log.error("%s: reconciling failed (%r); the next reconnect reconciles again", self.name, exc)
            if not item.done.done():
                item.done.set_result(False)
            return
        # The stream cannot redeliver: a report that failed here is found again by reconciliation.
        self.log.error("%s: reporting a venue update failed (%r); reconciling", self.name, exc)
        self._ask_to_reconcile()

    async def _finished(self, order_id: str) -> None:
        if self.kv is not None:
            for prefix in ("w.", "x."):
                with contextlib.suppress(KeyNotFoundError):
                    await self.kv.delete(f"{prefix}{_key(order_id)}")

    # ----------------------------------------------------------------- reconciliation
    async def reconcile(self) -> None:
        """Report every fill since the checkpoint and the final state of working orders; check positions.

        Returns once the reports are stored: the runtime publishes them, between handlers, as the source's.
        """
        if self.venue is None or self.kv is None:
            return
        if not await self._ask_to_reconcile().done:
            raise RuntimeError(f"{self.name}: reconciling failed or was stopped; the log says why")

    async def _read_venue(self, request: Reconciliation) -> None:
        venue = self.venue
        assert venue is not None
        raw = await self._get("checkpoint")
        since = (datetime.fromisoformat(raw.decode()) if raw is not None
                 else request.started - timedelta(hours=self.params.first_lookback_hours))
        working = [order for key in await self._working() if (order := await self._order_event(key)) is not None]
        await request.read(venue, since - timedelta(seconds=self.params.overlap_seconds), working)

    async def _reconciliation(self, request: Reconciliation) -> list[ExecutionEvent]:
        out = [self.fill_execution(order, fill) for fill in request.fills
               if (order := await self._order_event(fill.client_order_id)) is not None]
        for order, found in request.working:
            out += await self._final(order, found)
            if found.status.final:
                request.finished.append(order.id)
        request.reports = len(out)
        return out

    async def _check_positions(self, venue: Venue) -> None:
        from services.executor.anomalies import check_positions

        try:
            async with self._checking:  # one at a time: each compares with the anomaly the last one recorded
                await check_positions(self, venue, self.params.ledger_wait_seconds)
        except Exception:
            self.log.exception("%s: comparing positions with the ledger failed", self.name)

    async def _working(self) -> list[str]:
        assert self.kv is not None
        raws = [await self._get(f"o.{key[2:]}") for key in await kv_keys(self.kv, "w.")]
        return [OrderEvent.from_json(raw).id for raw in raws if raw is not None]

    async def _get(self, key: str) -> bytes | None:
        assert self.kv is not None
        return await kv_get(self.kv, key)
