"""The events Ingenium components exchange, wire-compatible with the original Go Ingenium.

The four of the original (data, signal, order, execution), and ``CancelRequest``, which Go Ingenium does not
have: it travels on a subject of its own (``ingenium.portfolio.cancel``), so Go readers of
``ingenium.portfolio.order`` never meet it.

Keys are Go's PascalCase (``Id``, ``Timestamp``, ``OrderId`` …); Python code uses snake_case attributes.
Decimals travel as strings, times as RFC 3339 in UTC. Fields the Go structs lack (``StrategyId``, ``ExecId`` …)
are extra keys that Go readers ignore.

Orders are strict: an order with a key the model does not know (``OrderType`` for ``Type``) is refused, naming
the key and the nearest known one, because ignoring it would let the field it meant take its default: the order
would be guessed. Data, signal and execution events ignore unknown keys, so newer senders can add fields.

Python's ``datetime`` holds microseconds: nanosecond digits from Go are truncated on parse (the ledger's
audit trail keeps the verbatim payload).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BeforeValidator, Field, PlainSerializer, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ingenium.fields import NonNegativeNum, OptionalNum, OptionalPrice, OptionalStr, PositiveNum, Symbol, UtcDatetime
from ingenium.marketdata import Ohlc, Quote, Trade
from ingenium.wire import StrictWireModel, WireModel, is_keys_only, keys_only, unknown_key_message

__all__ = [
    "EVENT_TYPES", "MAX_EVENT_BYTES", "AnyEvent", "CancelRequest", "DataEvent", "DataType", "Event",
    "ExecutionEvent", "ExecutionUpdate", "FillUpdate", "Ohlc", "OrderEvent", "OrderType", "Quote", "Side",
    "SignalEvent", "SignalType", "StopLoss", "StrictWireModel", "TimeInForce", "Trade", "WireModel",
    "ZeroIfEmpty", "is_keys_only", "keys_only", "unknown_key_message",
]


class SignalType(StrEnum):
    """Direction a strategy wants to take."""

    LONG = "ingenium.signal.long"
    SHORT = "ingenium.signal.short"


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for buys, -1 for sells: the sign a fill gives a position."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    """How an order is priced."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(StrEnum):
    """How long an order stays working."""

    DAY = "day"
    GTC = "gtc"


class DataType(StrEnum):
    """Kind of market data a ``DataEvent`` carries."""

    OHLC = "data.type.ohlc"
    #: One trade (``Trade``), for strategies that ask for trades (``Component.data_types``).
    TRADE = "data.type.trade"
    #: The best bid and ask (``Quote``), for strategies that ask for quotes.
    QUOTE = "data.type.quote"


class ExecutionUpdate(StrEnum):
    """What an execution report says happened to an order."""

    NEW = "new"
    ACCEPTED = "accepted"
    PARTIAL_FILL = "partial_fill"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REPLACED = "replaced"
    HELD = "held"
    #: The answer to a ``CancelRequest`` the executor could not carry out (the order is final already): the
    #: order itself is unchanged, so this is not ``rejected``, which would mark a filled order as rejected.
    CANCEL_REJECTED = "cancel_rejected"

    @property
    def moves_quantity(self) -> bool:
        """Whether an execution with this update is a fill."""
        return self in (ExecutionUpdate.PARTIAL_FILL, ExecutionUpdate.FILLED)


#: The largest event JSON read, in bytes. Events are a few hundred bytes; the bound keeps a sender (or a file given
#: to ``ingenium publish``) from making a reader hold and parse up to the server's whole max payload per message.
MAX_EVENT_BYTES = 64 * 1024


class Event(WireModel):
    """Fields every event carries: a unique ``Id`` (the JetStream ``Nats-Msg-Id``) and a UTC ``Timestamp``."""

    kind: ClassVar[str] = "event"

    id: str = Field(min_length=1, max_length=200, description="Unique event id; also the Nats-Msg-Id.")
    timestamp: UtcDatetime = Field(description="When the event was created (UTC).")

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Parse and validate one event from its JSON; raises ``pydantic.ValidationError`` naming the field.

        JSON over ``MAX_EVENT_BYTES`` is refused unread, with the same error type (at the payload).
        """
        if len(data) > MAX_EVENT_BYTES:
            error = PydanticCustomError(
                "too_large", "the event is {size} bytes, over the {limit}-byte limit for one event",
                {"size": len(data), "limit": MAX_EVENT_BYTES},
            )
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type=error, loc=(), input=data[:64])]
            )
        return cls.model_validate_json(data)


#: The payload key each data type carries; an event carries that one and no other.
_PAYLOADS: dict[DataType, str] = {DataType.OHLC: "Ohlc", DataType.TRADE: "Trade", DataType.QUOTE: "Quote"}


class DataEvent(Event):
    """Market data for one symbol (``ingenium.ingestor.data.<symbol>``): a bar, a trade or a quote.

    ``Type`` names the payload, and the event carries exactly that one (``Ohlc``, ``Trade`` or ``Quote``); the
    others are absent on the wire, so a bar reads as Go Ingenium wrote it.
    """

    kind: ClassVar[str] = "data"

    type: DataType = DataType.OHLC
    symbol: Symbol
    ohlc: Ohlc | None = None
    trade: Trade | None = Field(default=None, description="The trade, when Type is data.type.trade (extra).")
    quote: Quote | None = Field(default=None, description="The quote, when Type is data.type.quote (extra).")

    @model_validator(mode="after")
    def _check_payload(self) -> Self:
        present = {"Ohlc": self.ohlc, "Trade": self.trade, "Quote": self.quote}
        wanted = _PAYLOADS[self.type]
        if present[wanted] is None:
            raise ValueError(f"{wanted} is required when Type is {self.type.value}")
        extra = [key for key, value in present.items() if value is not None and key != wanted]
        if extra:
            raise ValueError(f"{', '.join(extra)} is set on a {self.type.value} event, which carries {wanted} only")
        return self

    @property
    def bar(self) -> Ohlc:
        """The OHLC bar; raises if this event carries none."""
        if self.ohlc is None:
            raise ValueError(f"data event {self.id} carries no OHLC bar")
        return self.ohlc

    def to_json(self) -> bytes:
        """Serialise; ``Ohlc`` (and ``Trade``/``Quote``) are left out when nil, as Go's ``omitempty`` does."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class SignalEvent(Event):
    """A strategy's decision (``ingenium.strategy.signal``)."""

    kind: ClassVar[str] = "signal"

    symbol: Symbol
    signal: SignalType
    strategy_id: OptionalStr = Field(default=None, description="Id of the strategy that decided (extra field).")
    price: OptionalNum = Field(default=None, description="Reference price the decision saw (extra field).")


class StopLoss(StrictWireModel):
    """Go's nested stop-loss leg; always present on the wire, empty (Ingenium executes no stop-loss legs)."""

    limit_price: OptionalPrice = None
    stop_price: OptionalPrice = None


class OrderEvent(Event, StrictWireModel):
    """An order the portfolio sends to an executor (``ingenium.portfolio.order``).

    Strict, because an executor acts on it: unknown keys are refused (see the module docstring). Each type
    carries exactly the prices it uses (``""`` or ``0`` mean unset): a limit order its ``LimitPrice``, a stop
    order its ``StopPrice``, a stop limit both, a trailing stop one of ``TrailPrice``/``TrailPercent``, a
    market order none; any other price set is refused rather than ignored. ``TakeProfit`` with
    ``StopLoss.StopPrice`` make a bracket around a market or limit entry; one without the other is refused.
    An executor that cannot carry out a type or a bracket rejects the order; it never trades it without them.
    """

    kind: ClassVar[str] = "order"

    symbol: Symbol
    side: Side
    quantity: PositiveNum
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours: bool = False
    limit_price: OptionalPrice = None
    stop_price: OptionalPrice = None
    take_profit: OptionalPrice = None
    trail_price: OptionalPrice = None
    trail_percent: OptionalPrice = None
    stop_loss: StopLoss = Field(default_factory=StopLoss)
    strategy_id: OptionalStr = Field(default=None, description="Who asked for the order (extra field).")
    signal_id: OptionalStr = Field(default=None, description="Signal this order answers (extra field).")

    @model_validator(mode="after")
    def _check_prices(self) -> Self:
        needs = {
            OrderType.MARKET: set(),
            OrderType.LIMIT: {"LimitPrice"},
            OrderType.STOP: {"StopPrice"},
            OrderType.STOP_LIMIT: {"LimitPrice", "StopPrice"},
            OrderType.TRAILING_STOP: set(),
        }[self.type]
        prices = {"LimitPrice": self.limit_price, "StopPrice": self.stop_price, "TrailPrice": self.trail_price,
                  "TrailPercent": self.trail_percent}
        for key in sorted(needs):
            if prices[key] is None:
                raise ValueError(f"{key} is required for a {self.type.value} order")
        trail = {"TrailPrice", "TrailPercent"} if self.type is OrderType.TRAILING_STOP else set()
        if trail and (self.trail_price is None) == (self.trail_percent is None):
            raise ValueError("a trailing_stop order needs exactly one of TrailPrice and TrailPercent")
        for key, value in prices.items():
            if value is not None and key not in needs | trail:
                raise ValueError(f"{key} is set ({value}) on a {self.type.value} order, which does not use it: "
                                 f"leave it empty or send the order type that uses it; the order is refused, "
                                 "not traded without it")
        if self.is_bracket:
            if self.type not in (OrderType.MARKET, OrderType.LIMIT):
                raise ValueError("a bracket (TakeProfit/StopLoss) needs a market or limit entry, "
                                 f"not {self.type.value}")
            if self.take_profit is None or self.stop_loss.stop_price is None:
                raise ValueError("a bracket order needs both TakeProfit and StopLoss.StopPrice")
        elif self.stop_loss.limit_price is not None:
            raise ValueError("StopLoss.LimitPrice is set without StopLoss.StopPrice: a stop-loss leg needs its stop")
        return self

    @property
    def is_bracket(self) -> bool:
        """Whether the order carries exit legs (``TakeProfit``, ``StopLoss``) that the venue attaches to it."""
        return self.take_profit is not None or self.stop_loss.stop_price is not None


#: A non-negative decimal where Go's empty string means zero (quantities and prices of non-fills).
ZeroIfEmpty = Annotated[NonNegativeNum, BeforeValidator(lambda v: Decimal(0) if v == "" else v)]

FillUpdate = Literal[ExecutionUpdate.PARTIAL_FILL, ExecutionUpdate.FILLED]


class ExecutionEvent(Event):
    """What happened to an order (``ingenium.executor.execution``); each fill of a partial fill is one event.

    Unknown keys are ignored, as on data and signals: an execution reports a fill that has happened, and
    refusing it for a field a newer executor added would keep a real trade out of the book and the ledger.
    """

    kind: ClassVar[str] = "execution"

    execution_timestamp: UtcDatetime
    order_id: str = Field(min_length=1, max_length=200)
    symbol: Symbol
    quantity: ZeroIfEmpty = Field(description="Quantity of this one fill (0 for non-fills).")
    price: ZeroIfEmpty = Field(default=Decimal(0), description="Price of this one fill (0 for non-fills).")
    update: ExecutionUpdate
    exec_id: OptionalStr = Field(default=None, description="Unique per fill; defaults to Id (extra field).")
    side: Annotated[
        Side | None,
        BeforeValidator(lambda v: None if v == "" else v),
        PlainSerializer(lambda v: v.value if v else "", return_type=str, when_used="json"),
    ] = Field(default=None, description="Side of the order (extra field).")
    cum_quantity: OptionalNum = Field(default=None, description="Filled so far, this fill included (extra).")
    leaves_quantity: OptionalNum = Field(default=None, description="Still open after this fill (extra).")
    avg_price: OptionalNum = Field(default=None, description="Average price of all fills so far (extra).")
    commission: OptionalNum = Field(default=None, description="Commission charged on this fill (extra).")
    reason: OptionalStr = Field(default=None, description="Why, for rejects and cancels (extra field).")
    cancel_id: OptionalStr = Field(default=None, description="The CancelRequest this answers (extra field).")

    @model_validator(mode="after")
    def _check_fill(self) -> Self:
        if self.update.moves_quantity:
            if self.quantity <= 0:
                raise ValueError(f"Quantity must be greater than zero for a {self.update.value} execution")
            if self.price <= 0:
                raise ValueError(f"Price must be greater than zero for a {self.update.value} execution")
        return self

    @property
    def fill_id(self) -> str:
        """The id that identifies this fill: ``ExecId``, or the event ``Id`` for Go events without one."""
        return self.exec_id or self.id

    @property
    def is_fill(self) -> bool:
        """Whether this execution moved quantity."""
        return self.update.moves_quantity


class CancelRequest(Event, StrictWireModel):
    """A request to cancel a working order (``ingenium.portfolio.cancel``, on the order stream after the order).

    Strict like orders: an executor acts on it. The executor answers with a ``canceled`` execution (what filled
    stays filled, nothing is left to fill) or a ``cancel_rejected`` one when the order is final already; both
    carry this request's ``Id`` as ``CancelId``.
    """

    kind: ClassVar[str] = "cancel"

    order_id: str = Field(min_length=1, max_length=200, description="Id of the order to cancel.")
    reason: OptionalStr = Field(default=None, description="Why the order is canceled.")
    requested_by: OptionalStr = Field(default=None, description="Who asked: a component name, or `cli`.")


AnyEvent = DataEvent | SignalEvent | OrderEvent | ExecutionEvent | CancelRequest

EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (DataEvent, SignalEvent, OrderEvent, ExecutionEvent, CancelRequest)
}
