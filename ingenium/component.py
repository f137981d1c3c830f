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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from ingenium.clock import Clock, LiveClock
from ingenium.errors import ConfigurationError
from ingenium.events import CancelRequest, DataEvent, Event, ExecutionEvent, OrderEvent, SignalEvent
from ingenium.ids import derive_id, new_id
from ingenium.subjects import StreamKey

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from ingenium.bus import Bus
    from ingenium.config import Settings

E = TypeVar("E", bound=Event)

#: What a handler may return: nothing, one event, or several.
Emitted = Event | Iterable[Event] | None
Handler = Callable[[Any], Emitted | Awaitable[Emitted]]

#: Which handler consumes which stream, and the event type on that stream.
HANDLERS: dict[StreamKey, tuple[str, type[Event]]] = {
    "data": ("on_data", DataEvent),
    "signal": ("on_signal", SignalEvent),
    "order": ("on_order", OrderEvent),
    "execution": ("on_execution", ExecutionEvent),
}

#: Events that travel on another kind's stream, on a subject of their own: (kind, handler, event type) per stream.
#: A cancel request rides the order stream, so an executor reads it through its order consumer, after the order.
SHARED_HANDLERS: dict[StreamKey, tuple[tuple[str, str, type[Event]], ...]] = {
    "order": (("cancel", "on_cancel", CancelRequest),),
}

#: A handler the runtime calls: the event kind, the event type, the bound handler, whether it is async.
Route = tuple[str, type[Event], Handler, bool]


class Params(BaseModel):
    """Base for a component's declared parameters: typed, frozen, unknown names rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(slots=True)
class ComponentContext:
    """What the runtime hands a component: settings, the bus, and the NATS connection when live."""

    settings: Settings
    bus: Bus
    nc: Client | None = None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


#: Per event class, the builder of trusted events (``ingenium.backtest.trusted``), made on first use.
_TRUSTED: dict[type[Event], Callable[[dict[str, Any]], Event]] = {}


class Component:
    """Base of every component. Subclasses declare ``params_model`` and implement handlers.

    Args:
        name: Component id, also the durable consumer name; defaults to the class name in snake_case.
        clock: Time source; the live clock unless a backtest or test injects another.
        symbols: Symbols whose data ``on_data`` receives; all symbols when ``None``.
        **params: Values for ``params_model``; a misspelt name gets a "did you mean".

    """

    params_model: ClassVar[type[Params]] = Params
    #: Whether events built by the helpers skip validation of values already in canonical form. Only the
    #: in-process backtest sets this, for the components it runs; anything else is still validated (build_event).
    trusted_events: bool = False

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
        self.params = self.validate_params(params)
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
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            where = f"parameter {field!r}" if field else "parameters"
            raise ConfigurationError(f"{cls.__name__} {where}: {first['msg']}") from None

    # ----------------------------------------------------------------- lifecycle hooks
    async def on_start(self) -> None:
        """Called once before the first message; recover state here (``self.context`` is set)."""

    async def on_stop(self) -> None:
        """Called once after the last message was handled."""

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
