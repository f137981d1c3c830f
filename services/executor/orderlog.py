"""The executor's memory of handled orders: what it reported for each, and which orders are still working.

Live, it is a JetStream key-value bucket (one per executor name and namespace), so a duplicate order is
recognised beyond the stream's duplicate window and across restarts. In an in-process backtest
(no NATS connection) it is a dictionary of each report's field values: the models themselves took about twice
the memory, and encoding every report as JSON slowed a trade-heavy backtest by about a sixth (bench/backtest.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from ingenium.config import Settings
from ingenium.errors import ConfigurationError
from ingenium.events import ExecutionEvent, OrderEvent
from ingenium.subjects import Subjects

_KEY = re.compile(r"^[-_=A-Za-z0-9]{1,200}$")


@dataclass(frozen=True, slots=True)
class WorkingRecord:
    """An order that was still working when it was recorded, with what a restart needs to resume it."""

    order: OrderEvent
    accepted_at: datetime
    after: datetime | None
    day: date


class OrderLog(Protocol):
    """Where the executor records the orders it handled."""

    async def get(self, order_id: str) -> list[ExecutionEvent] | None:
        """What the executor reported when it first handled ``order_id``; ``None`` if it never did."""
        ...

    async def claim(
        self, order: OrderEvent, executions: list[ExecutionEvent], working: WorkingRecord | None
    ) -> list[ExecutionEvent] | None:
        """Record ``executions`` as ``order``'s first report unless the order was handled before.

        Returns ``None`` when this call recorded it (with ``working``'s marker if it keeps working), else the
        report recorded before, writing nothing: the caller drops its own decision.
        """
        ...

    async def working(self) -> list[WorkingRecord]:
        """Orders recorded as working (some may have finished since; the caller checks the stream)."""
        ...

    async def finished(self, order_ids: list[str]) -> None:
        """Forget the working markers of orders that reached a final state."""
        ...

    async def answer(self, cancel_id: str) -> list[ExecutionEvent] | None:
        """What the executor answered to cancel request ``cancel_id``; ``None`` if it never did."""
        ...

    async def record_answer(self, cancel_id: str, executions: list[ExecutionEvent]) -> None:
        """Remember the answer to a cancel request, so a redelivery gets the same one."""
        ...


def encode_report(executions: list[ExecutionEvent]) -> bytes:
    """A report (executions) as the order log stores it: their wire JSON."""
    return json.dumps({"executions": [e.to_json().decode() for e in executions]}).encode()


def decode_report(stored: bytes | None) -> list[ExecutionEvent]:
    """The executions of a stored report, validated as any event read from the wire."""
    return [ExecutionEvent.from_json(raw) for raw in json.loads(stored or b"{}").get("executions", [])]


#: An execution as the in-process log keeps it: its field values, in ``ExecutionEvent.model_fields`` order.
_Kept = tuple[object, ...]
_FIELDS = tuple(ExecutionEvent.model_fields)


def _keep(executions: list[ExecutionEvent]) -> tuple[_Kept, ...]:
    # The values alone: a validated model also carries its field dict and the set of fields given, which were
    # two thirds of what a long backtest kept per order (about 1.6 kB, tracemalloc).
    return tuple(tuple(e.__dict__[name] for name in _FIELDS) for e in executions)


def _restore(kept: tuple[_Kept, ...]) -> list[ExecutionEvent]:
    # The values were validated when the executions were made: they are rebuilt as they were, not checked again.
    restored = []
    for values in kept:
        fields: dict[str, Any] = dict(zip(_FIELDS, values, strict=True))
        restored.append(ExecutionEvent.model_construct(**fields))
    return restored


#: Orders an in-process log and the executor's ``Endings`` (how orders ended) remember, the latest kept.
MEMORY_ORDERS = 100_000


class MemoryOrderLog:
    """The order log of an in-process run: the reports of the latest ``size`` orders, gone with the process.

    An in-process bus delivers each order once, so a report is read back only to answer a cancel: an order too
    old to be remembered is answered as one never received. Remembering every order grew a long backtest by
    about 560 bytes an order, 30 bytes a bar on a trade-heavy run (bench/memory.py).
    """

    def __init__(self, size: int = MEMORY_ORDERS) -> None:
        self.size = size
        self._reports: OrderedDict[str, tuple[_Kept, ...]] = OrderedDict()
        self._answers: OrderedDict[str, list[ExecutionEvent]] = OrderedDict()

    async def get(self, order_id: str) -> list[ExecutionEvent] | None:
        """The first report for ``order_id``, if handled (and still remembered)."""
        kept = self._reports.get(order_id)
        return None if kept is None else _restore(kept)

    async def claim(
        self, order: OrderEvent, executions: list[ExecutionEvent], working: WorkingRecord | None
    ) -> list[ExecutionEvent] | None:
        """Remember the order's first report; the one remembered before, if any, is kept and returned."""
        kept = self._reports.get(order.id)
        if kept is not None:
            return _restore(kept)
        _remember(self._reports, order.id, _keep(executions), self.size)
        return None

    async def working(self) -> list[WorkingRecord]:
        """Nothing survives a process in memory."""
        return []

    async def finished(self, order_ids: list[str]) -> None:
        """Nothing to forget."""

    async def answer(self, cancel_id: str) -> list[ExecutionEvent] | None:
        """The answer to ``cancel_id``, if answered."""
        return self._answers.get(cancel_id)

    async def record_answer(self, cancel_id: str, executions: list[ExecutionEvent]) -> None:
        """Remember the answer."""
        _remember(self._answers, cancel_id, executions, self.size)


V = TypeVar("V")


def _remember(kept: OrderedDict[str, V], key: str, value: V, size: int) -> None:
    kept[key] = value
    if len(kept) > size:
        kept.popitem(last=False)


def bucket_name(subjects: Subjects, executor: str) -> str:
    """The KV bucket of one executor in one namespace, e.g. ``INGENIUM_EXECUTOR_paper``."""
    base = f"INGENIUM_EXECUTOR_{executor}"
    return f"{subjects.stream('order').removesuffix('INGENIUM_ORDERS')}{base}"


async def kv_get(kv: KeyValue, key: str) -> bytes | None:
    """The value of ``key``; ``None`` when there is none."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return entry.value


async def kv_keys(kv: KeyValue, prefix: str) -> list[str]:
    """The keys that start with ``prefix`` (``w.``: a dot-separated token), without reading their values."""
    watcher = await kv.watch(f"{prefix}>", ignore_deletes=True, meta_only=True)
    keys: list[str] = []
    try:
        async for entry in watcher:
            if entry is None:
                break
            keys.append(entry.key)
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    return keys


def _key(order_id: str) -> str:
    """A KV-safe key for an order id; ids with other characters are hashed."""
    return order_id if _KEY.match(order_id) else "h" + hashlib.sha256(order_id.encode()).hexdigest()


class KvOrderLog:
    """The live order log, a key-value bucket.

    ``o.<order>`` holds first reports, ``w.<order>`` marks working orders, ``c.<cancel>`` holds the answer to a
    cancel request.
    """

    def __init__(self, kv: KeyValue, js: JetStreamContext, bucket: str) -> None:
        self.kv = kv
        self.js = js
        self.bucket = bucket

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, *, replicas: int = 1, create: bool = True) -> KvOrderLog:
        """Open the bucket, creating it (file storage, one value per key) on first use unless ``create`` is false.

        Without ``create`` (a user that may not make streams) a missing bucket is one line naming the fix.
        """
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            if not create:
                raise ConfigurationError(
                    f"key-value bucket {bucket} does not exist and this user may not create it: run `ingenium "
                    "streams init --component NAME=package.module:Class` for this executor first"
                ) from None
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket, history=1, storage=StorageType.FILE, replicas=replicas,
                    description="Orders the paper executor handled (idempotency beyond the duplicate window)",
                )
            )
        return cls(kv, js, bucket)

    async def get(self, order_id: str) -> list[ExecutionEvent] | None:
        """The first report for ``order_id``, if handled."""
        return await self._executions(f"o.{_key(order_id)}")

    async def _executions(self, key: str) -> list[ExecutionEvent] | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        return decode_report(entry.value)

    async def claim(
        self, order: OrderEvent, executions: list[ExecutionEvent], working: WorkingRecord | None
    ) -> list[ExecutionEvent] | None:
        """Record the first report (and the working marker), or return the one recorded before.

        An order done at once: its report's key is created only if absent, one round trip. A working order keeps
        the order of before: a read, then the marker, then the report. Marked first, a working order is resumed by a
        restart even if its handling stopped before the report (and a cancel that comes before the redelivered
        order finds it working); the redelivered order is then decided again, with the same ids.
        """
        key = _key(order.id)
        if working is None:
            try:
                await self.kv.create(f"o.{key}", encode_report(executions))
            except KeyWrongLastSequenceError:
                first = await self.get(order.id)
                if first is None:
                    raise RuntimeError(f"order log {self.bucket} refused the first report of {order.id} as "
                                       "existing, but holds none: is another process purging the bucket?") from None
                return first
            return None
        first = await self.get(order.id)
        if first is not None:
            return first
        marker = {
            "order": order.to_json().decode(),
            "accepted_at": working.accepted_at.isoformat(),
            "after": working.after.isoformat() if working.after else None,
            "day": working.day.isoformat(),
        }
        await self.kv.put(f"w.{key}", json.dumps(marker).encode())
        await self.kv.put(f"o.{key}", encode_report(executions))
        return None

    async def answer(self, cancel_id: str) -> list[ExecutionEvent] | None:
        """The answer to ``cancel_id``, if answered."""
        return await self._executions(f"c.{_key(cancel_id)}")

    async def record_answer(self, cancel_id: str, executions: list[ExecutionEvent]) -> None:
        """Store the answer to a cancel request."""
        await self.kv.put(f"c.{_key(cancel_id)}", encode_report(executions))

    async def working(self) -> list[WorkingRecord]:
        """Every working marker, oldest first.

        Listed from the bucket stream's subjects and read by key, not watched: a watch creates a consumer, which
        an executor's NATS user may not (:mod:`ingenium.permissions`).
        """
        prefix = f"$KV.{self.bucket}."
        info = await self.js.stream_info(f"KV_{self.bucket}", subjects_filter=f"{prefix}w.>")
        entries = []
        for subject in info.state.subjects or {}:
            try:
                entries.append(await self.kv.get(subject.removeprefix(prefix)))
            except KeyNotFoundError:  # deleted (a delete marker is the key's last value) or purged
                continue
        records: list[WorkingRecord] = []
        for entry in sorted(entries, key=lambda e: e.revision or 0):
            marker = json.loads(entry.value or b"{}")
            records.append(
                WorkingRecord(
                    order=OrderEvent.from_json(marker["order"]),
                    accepted_at=datetime.fromisoformat(marker["accepted_at"]),
                    after=datetime.fromisoformat(marker["after"]) if marker["after"] else None,
                    day=date.fromisoformat(marker["day"]),
                )
            )
        return records

    async def finished(self, order_ids: list[str]) -> None:
        """Delete the working markers of finished orders."""
        for order_id in order_ids:
            await self.kv.delete(f"w.{_key(order_id)}")


async def open_order_log(js: JetStreamContext, settings: Settings, executor: str) -> KvOrderLog:
    """The order log of ``executor``; made here only when this user may make streams (not provisioned)."""
    return await KvOrderLog.open(js, bucket_name(settings.subjects, executor), replicas=settings.stream_replicas,
                                 create=not settings.nats_provisioned)


async def provision_order_log(js: JetStreamContext, settings: Settings, executor: str) -> list[str]:
    """Make ``executor``'s order log bucket (``ingenium streams init``, which holds the rights to)."""
    bucket = bucket_name(settings.subjects, executor)
    await KvOrderLog.open(js, bucket, replicas=settings.stream_replicas)
    return [f"key-value bucket {bucket} is ready"]
