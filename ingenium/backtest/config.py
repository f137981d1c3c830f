"""``BacktestConfig``: which components a run uses, with which parameters, cash and fill model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingenium.calendars import calendar_code
from ingenium.component import Component
from ingenium.errors import ConfigurationError
from ingenium.loader import load_class, resolve

#: The live services a backtest runs unless told otherwise, by their ``ingenium.components`` names.
DEFAULT_PORTFOLIO = "risk-portfolio"
DEFAULT_EXECUTOR = "paper"

FillModel = Literal["next_open", "close"]


def class_spec(component: type[Component] | str) -> str:
    """Return ``package.module:ClassName`` for a component class or a registered name (a spec unchanged)."""
    if isinstance(component, str):
        return resolve(component)
    if "<locals>" in component.__qualname__:
        raise ConfigurationError(f"{component.__qualname__} is defined inside a function; define it in a module "
                                 "so runs (and sweep workers) can import it")
    return f"{component.__module__}:{component.__qualname__}"


class BacktestConfig(BaseModel):
    """What one backtest or replay runs: components, their parameters, cash and fill model.

    Components are classes, ``package.module:ClassName`` specs or registered names (``ingenium.components``:
    ``sma-cross``, ``risk-portfolio``, ``paper``); each is kept as its spec.

    The cash, fill model, commission and slippage are passed to the portfolio and executor under the parameter
    names those classes declare (see ``ingenium.backtest.assembly``); parameters given explicitly win.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(description="Strategy class, package.module:ClassName or a registered name.")
    strategy_params: dict[str, Any] = Field(default_factory=dict, description="Parameters of the strategy.")
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, validate_default=True, description="Portfolio class.")
    portfolio_params: dict[str, Any] = Field(default_factory=dict, description="Parameters of the portfolio.")
    executor: str = Field(default=DEFAULT_EXECUTOR, validate_default=True,
                          description="Executor class (a paper broker).")
    executor_params: dict[str, Any] = Field(default_factory=dict, description="Parameters of the executor.")
    cash: Decimal = Field(default=Decimal(10_000), gt=0, description="Starting cash.")
    fill: FillModel = Field(
        default="next_open", description="Market orders fill at the next bar's open, or at the deciding bar's close."
    )
    commission: Decimal | None = Field(default=None, ge=0, description="Commission per share (executor default).")
    commission_bps: Decimal | None = Field(default=None, ge=0, description="Commission in bps of notional.")
    slippage_bps: Decimal | None = Field(default=None, ge=0, description="Adverse slippage in basis points.")
    calendar: str | None = Field(
        default=None, description="Exchange calendar (an exchange-calendars code such as XNYS) whose sessions "
        "annualise the statistics; by default periods per year are inferred from the data.",
    )

    @field_validator("strategy", "portfolio", "executor", mode="before")
    @classmethod
    def _spec(cls, value: Any) -> Any:
        if isinstance(value, str) or (isinstance(value, type) and issubclass(value, Component)):
            try:
                return class_spec(value)
            except ConfigurationError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: str | None) -> str | None:
        # Checked here, not when the run ends and its statistics are annualised.
        try:
            return calendar_code(value) if value is not None else None
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("cash", "commission", "commission_bps", "slippage_bps", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        # Money stays Decimal: a float such as 0.1 would carry its binary error into every fill.
        if isinstance(value, float):
            return Decimal(repr(value))
        return value

    def classes(self) -> tuple[type[Component], type[Component], type[Component]]:
        """Import the strategy, portfolio and executor classes."""
        return load_class(self.strategy), load_class(self.portfolio), load_class(self.executor)
