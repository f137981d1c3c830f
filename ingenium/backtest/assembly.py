"""Building a run's strategy, portfolio and executor, with the run's cash, fill model and costs as parameters.

The backtest passes its knobs under the parameter names the live classes declare, so the same classes run
unchanged: the first of the candidate names below that a class's ``params_model`` has gets the value.
A knob set explicitly that no parameter can take is an error, not silently ignored.
"""

from __future__ import annotations

from typing import Any

from ingenium.backtest.config import BacktestConfig
from ingenium.clock import Clock
from ingenium.component import Component
from ingenium.errors import ConfigurationError

#: Config field → (which component, parameter names it may be declared under).
KNOBS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cash": ("portfolio", ("cash", "initial_cash", "starting_cash")),
    "fill": ("executor", ("fill_at",)),
    "commission": ("executor", ("commission_per_share", "commission")),
    "commission_bps": ("executor", ("commission_bps",)),
    "slippage_bps": ("executor", ("slippage_bps",)),
}


def _params(role: str, cls: type[Component], config: BacktestConfig, explicit: dict[str, Any]) -> dict[str, Any]:
    params = dict(explicit)
    fields = cls.params_model.model_fields
    for knob, (target, names) in KNOBS.items():
        value = getattr(config, knob)
        if target != role or value is None:
            continue
        name = next((n for n in names if n in fields), None)
        if name is None:
            if knob in config.model_fields_set:
                raise ConfigurationError(
                    f"{cls.__name__} has no parameter for {knob} (looked for {', '.join(names)}); "
                    f"use a {role} that supports it or leave {knob} unset"
                )
            continue
        params.setdefault(name, value)
    return params


def build(config: BacktestConfig, clock: Clock) -> tuple[Component, Component, Component]:
    """Instantiate ``(strategy, portfolio, executor)`` on ``clock`` with their parameters and the run's knobs."""
    strategy_cls, portfolio_cls, executor_cls = config.classes()
    strategy = strategy_cls(clock=clock, **config.strategy_params)
    portfolio = portfolio_cls(clock=clock, **_params("portfolio", portfolio_cls, config, config.portfolio_params))
    executor = executor_cls(clock=clock, **_params("executor", executor_cls, config, config.executor_params))
    for component in (strategy, portfolio, executor):
        component.trusted_events = True  # the backtest's hot path: see Component.trusted_events
    return strategy, portfolio, executor
