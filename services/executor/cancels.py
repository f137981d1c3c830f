"""How the paper executor answers a ``CancelRequest``: cancel a working order, or say why it cannot be."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from ingenium.clock import Clock
from ingenium.errors import PermanentFailure
from ingenium.events import CancelRequest, Event, ExecutionEvent, ExecutionUpdate
from ingenium.ids import derive_id
from services.executor.orderlog import MEMORY_ORDERS, OrderLog
from services.executor.working import WorkingOrder

W = TypeVar("W")
E = TypeVar("E", bound=Event)
_ENDED = {ExecutionUpdate.FILLED: "filled", ExecutionUpdate.CANCELED: "canceled", ExecutionUpdate.EXPIRED: "expired",
          ExecutionUpdate.REJECTED: "rejected"}


class Endings(Generic[W]):
    """How recent orders ended (the order as it ended, and the update that ended it), the oldest forgotten."""

    def __init__(self, size: int = MEMORY_ORDERS) -> None:
        self.size = size
        self._ended: OrderedDict[str, tuple[W, ExecutionUpdate]] = OrderedDict()

    def record(self, order_id: str, order: W, how: ExecutionUpdate) -> None:
        """Remember that ``order_id`` ended ``how``."""
        self._ended[order_id] = (order, how)
        if len(self._ended) > self.size:
            self._ended.popitem(last=False)

    def get(self, order_id: str) -> tuple[W, ExecutionUpdate] | None:
        """How ``order_id`` ended, if remembered."""
        return self._ended.get(order_id)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._ended


def filled_by(executions: list[ExecutionEvent]) -> tuple[Decimal, Decimal, int]:
    """Quantity, notional and number of the fills among ``executions``."""
    fills = [e for e in executions if e.is_fill]
    zero = Decimal(0)
    return sum((e.quantity for e in fills), zero), sum((e.quantity * e.price for e in fills), zero), len(fills)


def cancel_rejected_id(executor: str, order_id: str, request: CancelRequest) -> str:
    """The id of a ``cancel_rejected`` answer: one per request, since an order may refuse many."""
    return derive_id("exec", executor, order_id, ExecutionUpdate.CANCEL_REJECTED.value, request.id)


class CancelDesk(Protocol):
    """What answering a cancel needs of an executor (the paper executor is one): its orders and how they ended."""

    name: str
    clock: Clock
    order_log: OrderLog
    endings: Endings[WorkingOrder]

    def withdraw(self, order_id: str) -> WorkingOrder | None:
        """Take a working order off the book; ``None`` when it is not working."""

    def report(self, working: WorkingOrder, update: ExecutionUpdate, *, reason: str | None = None,
               cancel: CancelRequest | None = None) -> ExecutionEvent:
        """The report of ``update`` for a working order."""

    def build_event(self, cls: type[E], **fields: Any) -> E:
        """Build an event from field values."""


async def answer_cancel(executor: CancelDesk, request: CancelRequest) -> list[ExecutionEvent]:
    """``canceled`` for a working order (fills kept, nothing left), ``cancel_rejected`` for a final one.

    Raises ``PermanentFailure`` (the request is dead-lettered) for an order this executor never received.
    """
    order_id = request.order_id
    working = executor.withdraw(order_id)
    if working is not None:
        executor.endings.record(order_id, working, ExecutionUpdate.CANCELED)
        why = f"canceled on request: {request.reason}" if request.reason else "canceled on request"
        return [executor.report(working, ExecutionUpdate.CANCELED, reason=why, cancel=request)]
    ended = executor.endings.get(order_id)
    if ended is not None:
        done, how = ended
        return [executor.report(done, ExecutionUpdate.CANCEL_REJECTED, cancel=request,
                                reason=f"order {order_id} is {_ENDED[how]} already: nothing left to cancel")]
    first = await executor.order_log.get(order_id)
    if not first:
        raise PermanentFailure(f"cancel request {request.id} names order {order_id}, which {executor.name} never "
                               "received: nothing to cancel")
    # Handled by an earlier run of this executor and no longer working: its first report says how it ended,
    # unless it worked for a while (then only that it ended).
    last = first[-1]
    ending = _ENDED.get(last.update)
    event_id = cancel_rejected_id(executor.name, order_id, request)
    now = executor.clock.now()
    return [executor.build_event(
        ExecutionEvent, id=event_id, timestamp=now, execution_timestamp=now, order_id=order_id, symbol=last.symbol,
        quantity=Decimal(0), price=Decimal(0), update=ExecutionUpdate.CANCEL_REJECTED, exec_id=event_id,
        side=last.side, cum_quantity=last.cum_quantity if ending else None, leaves_quantity=Decimal(0),
        cancel_id=request.id,
        reason=f"order {order_id} is {ending or 'no longer working'} already: nothing left to cancel",
    )]
