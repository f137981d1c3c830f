"""The component model: subclass one of ``Ingestor``, ``Strategy``, ``Portfolio``, ``Executor`` and write handlers.

A handler (``on_data``, ``on_signal``, ``on_order``, ``on_cancel``, ``on_execution``) receives one typed event and
returns (or ``self.publish``es) the events it causes. The component never touches NATS itself, so the same class runs
live (``ingenium.runtime``), in a replay and in an in-process backtest (``ingenium.backtest``).

Events a handler creates get ids derived from the event being handled (``next_id``), so a redelivered
message produces the same ids and JetStream drops the copies.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, cast, get_args

from pydantic import BaseModel, ConfigDict, ValidationError
from typing_extensions import TypeVar

from ingenium.clock import Clock, LiveClock
from ingenium.errors import ConfigurationError, first_error
from ingenium.events import CancelRequest, DataEvent, DataType, Event, ExecutionEvent, OrderEvent, SignalEvent
from ingenium.ids import derive_id, new_id
from ingenium.runmode import RunMode
from ingenium.subjects import EVENT_STREAMS, StreamKey

if TYPE_CHECKING:
    from datetime import timedelta

    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from ingenium.bus import Bus
    from ingenium.config import Settings

E = TypeVar("E", bound=Event)

#: What a handler may return: nothing, one event, or several.
Emitted = Event | Iterable[Event] | None
Handler = Callable[[Any], Emitted | Awaitable[Emitted]]

#: Which handler consumes which stream, and the event type on that stream (``ingenium.subjects.STREAMS``).
HANDLERS: dict[StreamKey, tuple[str, type[Event]]] = {
    stream.key: (stream.kinds[0].handler, stream.kinds[0].event) for stream in EVENT_STREAMS
}

#: Events that travel on another kind's stream, on a subject of their own: (kind, handler, event type) per stream.
#: A cancel request rides the order stream, so an executor reads it through its order consumer, after the order.
SHARED_HANDLERS: dict[StreamKey, tuple[tuple[str, str, type[Event]], ...]] = {
    stream.key: tuple((kind.name, kind.handler, kind.event) for kind in stream.kinds[1:])
    for stream in EVENT_STREAMS if len(stream.kinds) > 1
}

#: A handler the runtime calls: the event kind, the event type, the bound handler, whether it is async.
Route = tuple[str, type[Event], Handler, bool]


class Params(BaseModel):
    """Base for a component's declared parameters: typed, frozen, unknown names rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


#: A component's parameter model: ``class SmaCross(Strategy[SmaCrossParams])`` declares it, once.
ParamsT = TypeVar("ParamsT", bound=Params, default=Params, covariant=True)


@dataclass(slots=True)
class ComponentContext:
    """What the runtime or the backtest engine hands a component: settings, the bus, and how it is run.

    Live, ``nc`` is the runtime's connection, for what exists only live (a key-value bucket, a subject's last
    message); a component reaches it through ``jetstream()``. Events are never published through it: handlers
    return them, ``Component.schedules`` declares the ones emitted on a timer, and the runtime publishes both.
    """

    settings: Settings
    bus: Bus
    mode: RunMode
    nc: Client | None = None

    @property
    def live(self) -> bool:
        """Whether the component runs live, on JetStream."""
        return self.mode is RunMode.LIVE

    def jetstream(self) -> JetStreamContext:
        """JetStream, live only; raises ``RuntimeError`` in a replay or a backtest, where there is none."""
        if self.nc is None:
            raise RuntimeError(f"JetStream exists only live; this component runs in {self.mode.value} mode")
        return self.nc.jetstream()


@dataclass(frozen=True, slots=True)
class Schedule:
    """Events a component emits on the wall clock rather than in answer to a message (live only).

    The runtime calls ``emit`` every ``every`` between handlers (never during one) and publishes what it returns,
    stored before the next call; ``failed`` hears of events it could not store (a later call may return them
    again: ids derived from what they are about make that the same event).
    """

    every: timedelta
    emit: Callable[[], Emitted]
    failed: Callable[[list[Event], Exception], None] | None = None


ItemT = TypeVar("ItemT")


@dataclass(frozen=True, slots=True)
class Source(Generic[ItemT]):
    """Events a component emits from a stream of its own (a venue's order updates) rather than the bus (live only).

    The runtime takes the ``items`` one at a time, calls ``handle`` with each between handlers (never during
    one), as it would a handler with a message, and publishes what it returns; once that is stored it calls
    ``stored`` with the item, as it acks a message. When ``handle`` raises or its events cannot be stored,
    ``failed`` hears of the item and why, and the runtime goes on with the next: the stream cannot redeliver,
    so the component finds what was lost another way (a venue executor reconciles), with ids derived from
    what the events are about so that a second report is the same event.
    """

    items: Callable[[], AsyncIterator[ItemT]]
    handle: Callable[[ItemT], Awaitable[Emitted]]
    stored: Callable[[ItemT], Awaitable[None]]
    failed: Callable[[ItemT, Exception], None]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


#: Per event class, the builder of trusted events (``ingenium.backtest.trusted``), made on first use.
_TRUSTED: dict[type[Event], Callable[[dict[str, Any]], Event]] = {}


class Component(Generic[ParamsT]):
    """Base of every component. Subclasses name their parameter model as the type argument and implement handlers.

    ``class SmaCross(Strategy[SmaCrossParams])`` makes ``SmaCrossParams`` the class's ``params_model`` and types
    ``self.params`` as ``SmaCrossParams``; a class without one takes no parameters.

    Args:
        name: Component id, also the durable consumer name; defaults to the class name in snake_case.
        clock: Time source; the live clock unless a backtest or test injects another.
        symbols: Symbols whose data ``on_data`` receives; all symbols when ``None``.
        **params: Values for ``params_model``; a misspelt name gets a "did you mean".

    """

    params_model: ClassVar[type[Params]] = Params
    params: ParamsT
    #: What the component is (``strategy``, ``portfolio``, ``executor``, ``ingestor``; ``component`` for anything
    #: else): its discovery metadata and NATS connection name (``ingenium-<kind>-<name>``) say so.
    kind: ClassVar[str] = "component"
    #: Whether events built by the helpers skip validation of values already in canonical form. Only the
    #: in-process backtest sets this, for the components it runs; anything else is still validated (build_event).
    trusted_events: bool = False
    #: The kinds of market data ``on_data`` receives: bars only unless a class asks for more, e.g.
    #: ``data_types = frozenset({DataType.OHLC, DataType.TRADE})``. Other data events are acked and skipped (live,
    #: replay, backtest and ``drive``), so a bar-only component never meets a trade.
    data_types: ClassVar[frozenset[DataType]] = frozenset({DataType.OHLC})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Take ``params_model`` from the type argument: ``Strategy[SmaCrossParams]`` → ``SmaCrossParams``."""
        super().__init_subclass__(**kwargs)
        declared = [arg for base in getattr(cls, "__orig_bases__", ()) for arg in get_args(base)
                    if isinstance(arg, type) and issubclass(arg, Params)]
        if not declared:
            return
        if "params_model" in cls.__dict__ and cls.__dict__["params_model"] is not declared[0]:
            raise ConfigurationError(f"{cls.__name__} declares its parameters twice ({declared[0].__name__} and "
                                     f"params_model = {cls.__dict__['params_model'].__name__}); keep the type argument")
        cls.params_model = declared[0]

    def __init__(
        self,
        *,
        name: str | None = None,
        clock: Clock | None = None,
        symbols: Iterable[str] | None = None,
        **params: Any,
    ) -> None:
        self.name = name or _snake(type(self).__name__)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ConfigurationError(f"component name {self.name!r} must be 1-64 letters, digits, _ or -")
        self.clock: Clock = clock or LiveClock()
        self.symbols: tuple[str, ...] | None = tuple(symbols) if symbols is not None else None
        self.params = cast(ParamsT, self.validate_params(params))
        self.log = logging.getLogger(f"ingenium.component.{self.name}")
        self.context: ComponentContext | None = None
        self._outbox: list[Event] = []
        self._cause: Event | None = None
        self._counter = 0

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any]) -> Params:
        """Validate raw parameter values against ``params_model``, with a "did you mean" for unknown names."""
        known = list(cls.params_model.model_fields)
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known parameters: {', '.join(known) or 'none'}"
                raise ConfigurationError(f"{cls.__name__} has no parameter {key!r}{hint}")
        try:
            return cls.params_model.model_validate(dict(raw))
        except ValidationError as exc:
            field, why = first_error(exc)
            where = f"parameter {field!r}" if field else "parameters"
            raise ConfigurationError(f"{cls.__name__} {where}: {why}") from None

    # ----------------------------------------------------------------- lifecycle hooks
    async def on_start(self) -> None:
        """Called once before the first message; recover state here (``self.context`` is set)."""

    async def on_stop(self) -> None:
        """Called once after the last message was handled."""

    def schedules(self) -> list[Schedule]:
        """What this component emits on a timer, live (after ``on_start``); none unless a subclass says so."""
        return []

    def sources(self) -> list[Source[Any]]:
        """Streams of its own this component emits from, live (after ``on_start``); none unless a subclass says so."""
        return []

    async def provision(self, js: JetStreamContext, settings: Settings) -> list[str]:
        """Make what this component needs beyond its consumers (a key-value bucket, say); what was done.

        ``ingenium streams init --component …`` calls it with the provisioner's rights, which the component's own
        user lacks.
        """
        return []

    # ----------------------------------------------------------------- wiring used by runtimes
    def _implements(self, method: str) -> bool:
        impl = getattr(type(self), method, None)
        return impl is not None and impl is not getattr(Component, method, None)

    def consumes(self) -> list[StreamKey]:
        """The streams this component reads: one per handler its class overrides (``on_cancel``: the orders)."""
        keys: list[StreamKey] = []
        for key, (method, _) in HANDLERS.items():
            shared = SHARED_HANDLERS.get(key, ())
            if self._implements(method) or any(self._implements(m) for _, m, _ in shared):
                keys.append(key)
        return keys

    def routes(self, key: StreamKey) -> list[Route]:
        """The handlers this component implements for the events of one stream, the stream's own kind first."""
        method, model = HANDLERS[key]
        found: list[Route] = []
        for kind, name, event_type in ((key, method, model), *SHARED_HANDLERS.get(key, ())):
            if self._implements(name):
                handler: Handler = getattr(self, name)
                found.append((kind, event_type, handler, inspect.iscoroutinefunction(getattr(type(self), name))))
        return found

    def handler(self, key: StreamKey) -> Handler:
        """The bound handler for one stream."""
        method: Handler = getattr(self, HANDLERS[key][0])
        return method

    def handler_is_async(self, key: StreamKey) -> bool:
        """Whether the handler for ``key`` is a coroutine function."""
        return inspect.iscoroutinefunction(getattr(type(self), HANDLERS[key][0]))

    def wants_data(self, event: DataEvent) -> bool:
        """Whether ``on_data`` receives ``event``: its ``Type`` is one of ``data_types``."""
        return event.type in self.data_types

    def begin(self, cause: Event | None) -> None:
        """Start handling ``cause``: ids created until the next ``begin`` derive from it."""
        self._cause = cause
        self._counter = 0

    def collect(self, returned: Emitted) -> list[Event]:
        """Everything the handler emitted: what it published, then what it returned."""
        out = self._outbox
        self._outbox = []
        if returned is None:
            return out
        if isinstance(returned, Event):
            out.append(returned)
        else:
            out.extend(returned)
        return out

    # ----------------------------------------------------------------- the user's helpers
    def publish(self, event: Event) -> None:
        """Emit an event; it is published after the handler returns, before the input is acked."""
        self._outbox.append(event)

    def build_event(self, cls: type[E], **fields: Any) -> E:
        """Build an event from field values; validated unless ``trusted_events`` (the backtest's hot path).

        Trusted, values already in their canonical form (``Decimal``, UTC times, valid symbols …) are taken as
        they are, without pydantic's validation; any other value goes through validation, so a trusted
        component is refused exactly what, and with the message that, live refuses
        (``ingenium.backtest.trusted.TrustedBuilder``).
        """
        if not self.trusted_events:
            return cls(**fields)
        build = _TRUSTED.get(cls)
        if build is None:
            # Imported on first use: only backtests set trusted_events, and ingenium.backtest imports this module.
            from ingenium.backtest.trusted import TrustedBuilder

            build = _TRUSTED[cls] = TrustedBuilder(cls)
        return cast(E, build(fields))

    def next_id(self, prefix: str) -> str:
        """An id for a new event: derived from the event being handled, random outside a handler."""
        if self._cause is None:
            return new_id(prefix)
        self._counter += 1
        return derive_id(prefix, self.name, self._cause.id, self._counter)

    # Handlers; subclasses override those they need. Defining them here documents the signatures.
    def on_data(self, event: DataEvent) -> Emitted | Awaitable[Emitted]:
        """Handle one market data event."""
        return None

    def on_signal(self, event: SignalEvent) -> Emitted | Awaitable[Emitted]:
        """Handle one strategy signal."""
        return None

    def on_order(self, event: OrderEvent) -> Emitted | Awaitable[Emitted]:
        """Handle one order."""
        return None

    def on_cancel(self, event: CancelRequest) -> Emitted | Awaitable[Emitted]:
        """Handle one cancel request (executors); it arrives on the order stream, after the order it names."""
        return None

    def on_execution(self, event: ExecutionEvent) -> Emitted | Awaitable[Emitted]:
        """Handle one execution report."""
        return None
