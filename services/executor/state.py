"""What a paper executor resumes from after a restart, as ``services.executor.recovery`` reads it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ingenium.events import Ohlc
from services.executor.orderlog import OrderLog
from services.executor.working import WorkingOrder


@dataclass(frozen=True, slots=True)
class ExecutorState:
    """A paper executor's state, for ``PaperExecutor.restore``.

    Attributes:
        order_log: The record of handled orders (live: the JetStream key-value bucket).
        bars: The last stored bar per symbol, taken as its latest price until a newer one comes.
        working: Orders still working, with what they filled before the restart.

    """

    order_log: OrderLog
    bars: Mapping[str, Ohlc]
    working: Sequence[WorkingOrder]
