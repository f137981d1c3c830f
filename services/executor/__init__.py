"""The paper executor: a broker simulator for live paper trading and for the in-process backtest."""

from services.executor.orderlog import KvOrderLog, MemoryOrderLog, OrderLog, WorkingRecord
from services.executor.paper import PaperExecutor, PaperParams
from services.executor.pricing import Pricing
from services.executor.working import WorkingOrder

__all__ = [
    "KvOrderLog",
    "MemoryOrderLog",
    "OrderLog",
    "PaperExecutor",
    "PaperParams",
    "Pricing",
    "WorkingOrder",
    "WorkingRecord",
]
