"""``InMemoryBus``: the ``Bus`` a backtest or replay runs components on, in one process, deterministically.

Each event goes to every attached component that consumes its stream, in the order the components were
attached, through one FIFO queue that is processed until it is empty before ``publish`` or ``deliver``
returns. Events a handler emits join the end of the queue, so a bar's whole cascade (signal, order, fills)
is handled before the next bar. Nothing leaves the process: there is no NATS connection behind this bus.

Like JetStream, each stream numbers its events, and an event whose ``Id`` was published within the duplicate
window (in the bus's clock time) is reported as a duplicate and not delivered again.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingenium.bus import Published
from ingenium.clock import Clock, LiveClock
from ingenium.component import Component, Handler
from ingenium.errors import IngeniumError
from ingenium.events import DataEvent, DataType, Event
from ingenium.subjects import EVENT_STREAMS, StreamKey, Subjects

#: The streams of events, each numbered in its own sequence.
KINDS: tuple[StreamKey, ...] = tuple(stream.key for stream in EVENT_STREAMS)
#: Every event kind, and the stream it travels on (a cancel on the order stream, numbered in its sequence), as live.
_STREAM_OF: dict[str, StreamKey] = {kind.name: stream.key for stream in EVENT_STREAMS for kind in stream.kinds}
_ALL_KINDS: tuple[str, ...] = tuple(_STREAM_OF)


class HandlerFailed(IngeniumError):
    """A component's handler raised during a backtest or replay; the run stops (there is nobody to retry)."""


@dataclass(frozen=True, slots=True)
class _Route:
    component: Component
    handler: Handler
    is_async: bool
    symbols: frozenset[str] | None
    #: The data types a data route receives (``Component.data_types``); ``None`` on other streams.
    types: frozenset[DataType] | None = None


class InMemoryBus:
    """An in-process bus with JetStream's publish contract and a deterministic dispatch order.

    Args:
        subjects: Names the streams in ``Published`` results (the namespace of the run).
        clock: Time for the duplicate window; a backtest passes its simulated clock.
        duplicate_window: How long an event ``Id`` is remembered, as JetStream's ``duplicate_window``.
        max_cascade: Events one delivery may cause before the run is stopped as a feedback loop.

    """

    def __init__(
        self,
        subjects: Subjects | None = None,
        *,
        clock: Clock | None = None,
        duplicate_window: timedelta = timedelta(seconds=120),
        max_cascade: int = 100_000,
    ) -> None:
        self.subjects = subjects or Subjects()
        self.clock: Clock = clock or LiveClock()
        self._window = duplicate_window
        self._max_cascade = max_cascade
        self._stream_of: dict[str, StreamKey] = dict(_STREAM_OF)
        self._streams: dict[str, str] = {kind: self.subjects.stream(key) for kind, key in self._stream_of.items()}
        self._routes: dict[str, list[_Route]] = {kind: [] for kind in _ALL_KINDS}
        self._taps: dict[str, list[Callable[[Event], None]]] = {kind: [] for kind in _ALL_KINDS}
        self._queue: deque[Event] = deque()
        self._seen: OrderedDict[str, tuple[datetime, str, int]] = OrderedDict()
        self._draining = False
        self._data_sync = True
        self._data_routes: list[tuple[Component, Callable[[Event], None], Handler, frozenset[str] | None]] = []
        #: Per stream, whether every handler is synchronous: such events are dispatched without a coroutine.
        self._sync: dict[str, bool] = dict.fromkeys(_ALL_KINDS, True)
        #: When the oldest remembered id leaves the duplicate window (``None``: nothing remembered).
        self._expiry: datetime | None = None
        #: Events stored per stream, as a stream's last sequence.
        self.sequences: dict[str, int] = dict.fromkeys(KINDS, 0)

    # ----------------------------------------------------------------- wiring
    def attach(self, component: Component) -> None:
        """Deliver to ``component`` every event on the streams it consumes (its ``symbols`` only, for data)."""
        for key in component.consumes():
            if key not in KINDS:
                continue
            symbols = None
            if key == "data" and component.symbols is not None:
                # Subjects lower-case the symbol, so a live filter on AAPL also receives aapl: match that.
                symbols = frozenset(s.lower() for s in component.symbols)
            for kind, _, handler, is_async in component.routes(key):
                types = component.data_types if kind == "data" else None
                route = _Route(component, handler, is_async, symbols, types)
                self._routes[kind].append(route)
                self._sync[kind] = self._sync[kind] and not route.is_async
                if kind == "data":
                    self._data_sync = self._data_sync and not route.is_async
                    if DataType.OHLC in component.data_types:
                        self._data_routes.append((component, component.begin, route.handler, symbols))

    def tap(self, kind: str, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` with each event of one kind, before the components see it (for recording)."""
        self._taps[kind].append(callback)

    # ----------------------------------------------------------------- the Bus protocol
    async def publish(self, event: Event) -> Published:
        """Store one event and, unless a delivery is in progress, handle it and its cascade before returning."""
        stored = self._store(event)
        await self.drain()
        return self._published(stored)

    async def publish_many(self, events: Sequence[Event]) -> list[Published]:
        """Store events in order, then handle them and their cascades."""
        stored = [self._store(event) for event in events]
        await self.drain()
        return [self._published(s) for s in stored]

    async def deliver(self, event: DataEvent) -> None:
        """Hand a market data event from the feed to its consumers and handle the cascade.

        The feed's events are unique by construction (a validated file, or a JetStream stream that deduplicated
        them already), so this path skips the duplicate check that ``publish`` makes.
        """
        self.sequences["data"] += 1
        if self._data_sync and event.type is DataType.OHLC:
            self.dispatch_data(event)
        else:
            await self._dispatch(event)
        if self._queue:
            await self.drain()

    @property
    def data_is_sync(self) -> bool:
        """Whether every data handler is synchronous, so ``dispatch_data`` can be used (the backtest's hot path)."""
        return self._data_sync

    def dispatch_data(self, event: DataEvent) -> bool:
        """Hand a data event to its consumers; returns whether they emitted events, to be handled by ``drain``.

        Only for bars (trades and quotes go through ``deliver``), and only for buses whose data handlers are all
        synchronous (``data_is_sync``); the caller counts the event.
        """
        # The backtest's hot path, once per bar and consumer: most bars cause nothing, and that case costs the
        # least here (no ``collect`` when the handler returned nothing and published nothing).
        for tap in self._taps["data"]:
            tap(event)
        for component, begin, handler, symbols in self._data_routes:
            if symbols is not None and event.symbol.lower() not in symbols:
                continue
            begin(event)
            try:
                returned = handler(event)
            except Exception as exc:
                component.collect(None)
                raise self._failed(component, event, exc) from exc
            if returned is None and not component._outbox:
                continue
            for out in component.collect(returned):  # type: ignore[arg-type]  # sync handlers only
                self._store(out)
        return bool(self._queue)

    async def drain(self) -> None:
        """Handle queued events, and the events they cause, until the queue is empty."""
        if self._draining:
            return  # a handler published: the running drain picks the event up
        self._draining = True
        queue = self._queue
        handled = 0
        try:
            sync = self._sync
            while queue:
                event = queue.popleft()
                if sync[event.kind]:
                    self._dispatch_sync(event)
                else:
                    await self._dispatch(event)
                handled += 1
                if handled > self._max_cascade:
                    raise HandlerFailed(
                        f"more than {self._max_cascade} events followed one delivery; do components keep answering "
                        "each other's events?"
                    )
        except BaseException:
            queue.clear()
            raise
        finally:
            self._draining = False

    # ----------------------------------------------------------------- internals
    def _store(self, event: Event) -> tuple[str, int, bool]:
        """Queue ``event`` unless its id was seen within the window; returns (event kind, sequence, duplicate)."""
        kind = event.kind
        key = self._stream_of.get(kind)
        if key is None:
            raise TypeError(f"cannot publish {type(event).__name__}: not a data, signal, order, cancel or execution "
                            "event")
        now = self.clock.now()
        seen = self._seen
        expiry = self._expiry
        if expiry is not None and expiry < now:
            # Ids stored before now - window are forgotten; ``_expiry`` is the oldest one's time + window.
            cutoff = now - self._window
            while seen and seen[next(iter(seen))][0] < cutoff:
                seen.popitem(last=False)
            self._expiry = seen[next(iter(seen))][0] + self._window if seen else None
        previous = seen.get(event.id)
        if previous is not None:
            return previous[1], previous[2], True
        sequence = self.sequences[key] = self.sequences[key] + 1
        seen[event.id] = (now, kind, sequence)
        if self._expiry is None:
            self._expiry = now + self._window
        self._queue.append(event)
        return kind, sequence, False

    def _published(self, stored: tuple[str, int, bool]) -> Published:
        return Published(self._streams[stored[0]], stored[1], stored[2])

    async def _dispatch(self, event: Event) -> None:
        kind = event.kind
        for tap in self._taps[kind]:
            tap(event)
        for route in self._routes[kind]:
            if route.symbols is not None and event.symbol.lower() not in route.symbols:  # type: ignore[attr-defined]
                continue
            if route.types is not None and event.type not in route.types:  # type: ignore[attr-defined]
                continue
            component = route.component
            component.begin(event)
            try:
                result = route.handler(event)
                if route.is_async:
                    result = await result  # type: ignore[misc]
                emitted = component.collect(result)  # type: ignore[arg-type]
            except Exception as exc:
                component.collect(None)
                raise self._failed(component, event, exc) from exc
            for out in emitted:
                self._store(out)

    def _dispatch_sync(self, event: Event) -> None:
        """``_dispatch`` for a stream whose handlers are all synchronous: no coroutine per event."""
        kind = event.kind
        for tap in self._taps[kind]:
            tap(event)
        for route in self._routes[kind]:
            if route.symbols is not None and event.symbol.lower() not in route.symbols:  # type: ignore[attr-defined]
                continue
            if route.types is not None and event.type not in route.types:  # type: ignore[attr-defined]
                continue
            component = route.component
            component.begin(event)
            try:
                emitted = component.collect(route.handler(event))  # type: ignore[arg-type]
            except Exception as exc:
                component.collect(None)
                raise self._failed(component, event, exc) from exc
            for out in emitted:
                self._store(out)

    def _failed(self, component: Component, event: Event, exc: Exception) -> HandlerFailed:
        # One line, and the exception written as the live runtime writes it in a dead letter's reason
        # (``ingenium.deadletter``), so the same bug reads the same in a backtest and live.
        detail = repr(exc).replace("\r", " ").replace("\n", " ")
        return HandlerFailed(
            f"{component.name} failed on {event.kind} event {event.id} at {self.clock.now().isoformat()}: {detail}"
        )
