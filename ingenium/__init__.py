"""Ingenium: event-driven trading components on NATS JetStream with a PostgreSQL ledger.

The names a component author needs are re-exported here::

    from ingenium import DataEvent, Params, Strategy
"""

from ingenium.clock import Clock, LiveClock, SimulatedClock
from ingenium.component import Component, Params
from ingenium.config import Settings
from ingenium.events import (
    CancelRequest,
    DataEvent,
    DataType,
    Event,
    ExecutionEvent,
    ExecutionUpdate,
    Ohlc,
    OrderEvent,
    OrderType,
    Quote,
    Side,
    SignalEvent,
    SignalType,
    TimeInForce,
    Trade,
)
from ingenium.executor import Executor
from ingenium.ingestor import Ingestor
from ingenium.per_symbol import per_symbol
from ingenium.portfolio import Portfolio
from ingenium.runmode import RunMode
from ingenium.strategy import Strategy

__all__ = [
    "CancelRequest",
    "Clock",
    "Component",
    "DataEvent",
    "DataType",
    "Event",
    "ExecutionEvent",
    "ExecutionUpdate",
    "Executor",
    "Ingestor",
    "LiveClock",
    "Ohlc",
    "OrderEvent",
    "OrderType",
    "Params",
    "Portfolio",
    "Quote",
    "RunMode",
    "Settings",
    "Side",
    "SignalEvent",
    "SignalType",
    "SimulatedClock",
    "Strategy",
    "TimeInForce",
    "Trade",
    "per_symbol",
]
