"""The market data a ``DataEvent`` carries: an OHLC bar, a trade or a quote.

Go Ingenium has bars only; ``Trade`` and ``Quote`` travel under keys of their own, which Go readers skip.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator

from ingenium.fields import NonNegativeNum, OptionalStr, PositiveNum, UtcDatetime
from ingenium.wire import WireModel


class Ohlc(WireModel):
    """One OHLC bar."""

    open: PositiveNum
    high: PositiveNum
    low: PositiveNum
    close: PositiveNum
    volume: NonNegativeNum = Decimal(0)
    period: str = Field(default="", max_length=16, description="Bar length, e.g. 1m, 1h, 1d.")
    timestamp: UtcDatetime = Field(description="Start of the bar (UTC).")

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.low > min(self.open, self.close) or self.high < max(self.open, self.close):
            raise ValueError(
                f"inconsistent bar: low {self.low} / high {self.high} must bracket open {self.open} "
                f"and close {self.close}"
            )
        return self


class Trade(WireModel):
    """One trade (a print) as the venue reported it; Go Ingenium has no trades, so Go readers skip this key."""

    price: PositiveNum
    size: PositiveNum
    timestamp: UtcDatetime = Field(description="When the trade happened (UTC).")
    id: OptionalStr = Field(default=None, max_length=64, description="The venue's trade id, where it gives one.")
    exchange: OptionalStr = Field(default=None, max_length=16, description="Exchange code of the print.")
    conditions: tuple[str, ...] = Field(default=(), max_length=32, description="The venue's condition codes.")
    tape: OptionalStr = Field(default=None, max_length=8, description="Tape (A, B, C) where the venue gives it.")


class Quote(WireModel):
    """The best bid and ask at one moment; sizes and prices are zero on a side that has none."""

    bid_price: NonNegativeNum
    bid_size: NonNegativeNum
    ask_price: NonNegativeNum
    ask_size: NonNegativeNum
    timestamp: UtcDatetime = Field(description="When the quote was made (UTC).")
    bid_exchange: OptionalStr = Field(default=None, max_length=16, description="Exchange of the bid.")
    ask_exchange: OptionalStr = Field(default=None, max_length=16, description="Exchange of the ask.")
    conditions: tuple[str, ...] = Field(default=(), max_length=32, description="The venue's condition codes.")
    tape: OptionalStr = Field(default=None, max_length=8, description="Tape (A, B, C) where the venue gives it.")
