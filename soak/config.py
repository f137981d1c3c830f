"""What a soak run does: how much market time, in how much wall time, how often chaos strikes, with which seed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingenium.errors import ConfigurationError
from ingenium.fields import PositiveDuration
from ingenium.period import parse_period


class SoakConfig(BaseModel):
    """A soak run's shape. The defaults are ``make soak``'s: an hour of market in ten minutes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    market: PositiveDuration = Field(default=timedelta(hours=1), description="Market time the feed covers.")
    wall: PositiveDuration = Field(default=timedelta(minutes=10), description="Wall time the feed takes for it.")
    period: str = Field(default="2s", description="Bar length; one bar per symbol per period of market time.")
    symbols: tuple[str, ...] = Field(default=("acme", "globex", "initech", "umbrella"), min_length=1,
                                     description="Symbols the feed generates.")
    seed: int = Field(default=1, description="Seed of the feed's walk and of the chaos plan.")
    chaos_every: PositiveDuration = Field(default=timedelta(seconds=20),
                                          description="Mean wall time between two chaos events.")
    downtime: tuple[float, float] = Field(default=(0.5, 3.0),
                                          description="Seconds a killed process or server stays down (min, max).")
    settle_within: PositiveDuration = Field(default=timedelta(minutes=3),
                                            description="How long the loop may take to settle after the feed ends.")
    out: Path = Field(default=Path("soak-output"), description="Where logs, the chaos log and the stores go.")
    database_url: str | None = Field(default=None, description="A PostgreSQL server to use (a fresh database is "
                                     "made on it); default: an embedded one under ``out``.")

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        try:
            parse_period(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def bars(self) -> int:
        """Bars per symbol."""
        return max(1, int(self.market / parse_period(self.period)))

    @property
    def speed(self) -> float:
        """Market time per wall time."""
        return self.market / self.wall
