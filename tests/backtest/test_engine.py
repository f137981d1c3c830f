"""The engine: fill models, accounting, determinism, and the live services running unchanged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ingenium.backtest import BacktestConfig, BacktestResult, Engine, HandlerFailed, backtest, backtest_async, load_bars
from ingenium.errors import ConfigurationError
from ingenium.events import Side
from ingenium.runmode import RunMode
from tests.backtest.helpers import T0, config, make_bars

SAMPLE = Path(__file__).resolve().parents[2] / "services" / "data" / "sample_bars.csv"
CLOSES: list[str | int] = [100, 100, 94, 93, 96, 100, 106, 107, 104, 100]


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def test_market_orders_fill_at_the_next_bars_open() -> None:
    result = backtest(config(), make_bars(CLOSES))
    # The close of bar 2 (94) is below the band: long; bar 3 opens at 94 and fills; bar 6 (106) exits at bar 7's open.
    assert [(f.side, f.quantity, f.price, f.timestamp) for f in result.fills] == [
        (Side.BUY, Decimal(10), Decimal(94), minute(3)),  # dated by the bar whose open it took
        (Side.SELL, Decimal(10), Decimal(106), minute(7)),
    ]
    assert result.equity == [Decimal(v) for v in
                             (10000, 10000, 10000, 9990, 10020, 10060, 10120, 10120, 10120, 10120)]
    assert result.times == [minute(i) for i in range(10)]  # each point labelled by its bar's start
    assert result.events == {"data": 10, "signal": 2, "order": 2, "execution": 2}
    stats = result.stats
    assert stats.final_equity == Decimal(10120) and stats.total_return == pytest.approx(0.012)
    assert (stats.trades, stats.win_rate, stats.fills, stats.exposure) == (1, 1.0, 2, 0.4)
    assert stats.max_drawdown == pytest.approx(-0.001)
    assert stats.max_drawdown_duration == timedelta(minutes=2)


def test_same_bar_close_fill_and_commission() -> None:
    result = backtest(config(fill="close", commission=Decimal("0.5")), make_bars(CLOSES))
    assert [(f.price, f.timestamp, f.commission) for f in result.fills] == [
        (Decimal(94), minute(2), Decimal(5)), (Decimal(106), minute(6), Decimal(5)),  # the deciding bar's label
    ]
    assert result.stats.final_equity == Decimal(10000 + 120 - 10)
    assert result.round_trips[0].pnl == Decimal(110)


def test_async_handlers_give_the_same_run() -> None:
    plain = backtest(config(), make_bars(CLOSES))
    other = backtest(config(strategy="tests.backtest.components:AsyncBand"), make_bars(CLOSES))
    assert other.equity == plain.equity
    def key(result: BacktestResult) -> list[tuple[datetime, Side, Decimal]]:
        return [(f.timestamp, f.side, f.price) for f in result.fills]

    assert key(other) == key(plain)


def test_a_failing_component_stops_the_run_with_its_name() -> None:
    with pytest.raises(HandlerFailed, match=r"exploding failed on data event data_\w+ at 2024-03-01T14:33:00\+00:00: "
                                            r"ArithmeticError\('bug in the strategy'\)"):
        backtest(config(strategy="tests.backtest.components:Exploding"), make_bars(CLOSES))
    with pytest.raises(ConfigurationError, match="Band parameter 'low': Input should be a valid decimal"):
        backtest(config(strategy_params={"low": "not a number"}), make_bars(CLOSES))


def test_knobs_go_where_the_classes_declare_them() -> None:
    with pytest.raises(ConfigurationError, match="Broker has no parameter for slippage_bps"):
        backtest(config(slippage_bps=Decimal(2)), make_bars(CLOSES))
    with pytest.raises(ConfigurationError, match="Band has no parameter 'fsat'"):
        backtest(config(strategy_params={"fsat": 3}), make_bars(CLOSES))


def test_the_run_never_sees_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGENIUM_NATS_URL", "nats://127.0.0.1:4222")
    monkeypatch.setenv("INGENIUM_DATABASE_URL", "postgresql://root@127.0.0.1:5432/live")
    engine = Engine(config())
    for component in engine.components:
        assert component.context is not None and component.context.nc is None
        assert component.context.settings.nats_url is None and component.context.settings.database_url is None
        assert component.clock is engine.clock


def services_config(**overrides: object) -> BacktestConfig:
    values: dict[str, object] = {
        "strategy": "services.strategies:SmaCross", "strategy_params": {"fast": 5, "slow": 20},
        "portfolio_params": {"sizing": "notional", "notional": "2000"}, "cash": Decimal(10_000),
        "commission": Decimal("0.01"), "slippage_bps": Decimal(1),
    }
    values.update(overrides)
    return BacktestConfig(**values)  # type: ignore[arg-type]


def test_live_services_run_unchanged_and_twice_give_the_same_bytes(tmp_path: Path) -> None:
    bars = load_bars(SAMPLE)
    assert len(bars.symbol_names) > 1
    first = backtest(services_config(), bars).write(tmp_path / "a")
    second = backtest(services_config(), bars).write(tmp_path / "b")
    for name in ("trades.csv", "equity.csv", "summary.json", "report.html"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    trades = (first / "trades.csv").read_text().splitlines()
    assert trades[0] == "timestamp,symbol,side,quantity,price,commission" and len(trades) > 3


async def test_account_agrees_with_the_portfolios_own_book() -> None:
    engine = Engine(services_config())
    await engine.start()
    await engine.feed(load_bars(SAMPLE))
    await engine.stop()
    book = engine.portfolio.book  # type: ignore[attr-defined]
    assert book.cash == engine.account.cash
    assert {s: p.quantity for s, p in book.positions.items() if p.quantity} == engine.account.positions
    # Both call the money core: open positions agree on cost and average price to the last digit.
    held = {s: (p.quantity, p.cost_basis, p.average_price) for s, p in book.positions.items() if p.quantity}
    assert held == {s: (p.quantity, p.cost_basis, p.average_price) for s, p in engine.account.holdings.items()}
    assert engine.account.fills, "the sample data should trade"


def test_results_as_dataframes() -> None:
    pd = pytest.importorskip("pandas")
    result = backtest(config(), make_bars(CLOSES))
    trades = result.trades_frame()
    assert list(trades["side"]) == ["buy", "sell"] and trades["price"].iloc[0] == Decimal(94)
    equity = result.equity_frame()
    assert isinstance(equity.index, pd.DatetimeIndex) and equity["drawdown"].min() == pytest.approx(-0.001)
    assert list(result.round_trips_frame()["pnl"]) == [Decimal(120)]


def test_backtest_async_inside_a_running_loop() -> None:
    async def inside() -> Decimal:
        result = await backtest_async(config(), make_bars(CLOSES))
        return result.stats.final_equity

    assert asyncio.run(inside()) == Decimal(10120)


def test_feeding_before_start_is_refused() -> None:
    engine = Engine(config())
    with pytest.raises(ConfigurationError, match="start"):
        asyncio.run(engine.feed(make_bars(CLOSES)))
    assert datetime(2024, 1, 1, tzinfo=UTC)  # keeps the UTC import meaningful for readers of minute()


def test_results_and_bars_have_short_reprs() -> None:
    # asyncio formats a finished task's result when it restores its SIGINT handler: this must stay cheap.
    bars = make_bars(CLOSES * 50)
    result = backtest(config(), bars)
    assert len(repr(result)) < 200 and "500 bars" in repr(result)
    assert len(repr(bars)) < 200 and repr(bars).startswith("Bars(500 bars of acme")


def test_the_engine_tells_its_components_how_they_run() -> None:
    for mode in (RunMode.BACKTEST, RunMode.REPLAY):
        engine = Engine(config(), mode=mode)
        for component in engine.components:
            assert component.context is not None and component.context.mode is mode and not component.context.live
            with pytest.raises(RuntimeError, match=f"JetStream exists only live; this component runs in {mode}"):
                component.context.jetstream()
