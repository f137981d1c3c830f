"""``ingenium backtest`` and ``ingenium replay``: the live components on history, from the command line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingenium.backtest import BacktestConfig, BacktestResult, backtest_async, read_bars
from ingenium.backtest.config import DEFAULT_EXECUTOR, DEFAULT_PORTFOLIO
from ingenium.backtest.records import record_run
from ingenium.backtest.replay import ReplayRange, live_defaults, replay, symbols_of
from ingenium.backtest.stats import display_rows
from ingenium.backtest.sweep import METRICS, SweepResult, is_sweep, parse_grid, sweep
from ingenium.cli.console import console, err_console, fail, load_settings, run
from ingenium.errors import IngeniumError, first_error
from ingenium.loader import parse_params
from ingenium.stack import resolve_settings
from ingenium.telemetry import setup_telemetry

Strategy = Annotated[str, typer.Option(
    "--strategy", "-s", help="Strategy class: package.module:ClassName or a registered name (sma-cross).")]
Params = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="Strategy parameter name=value; name=5..50:5 or name=a,b,c sweeps a grid.")]
PortfolioSpec = Annotated[str, typer.Option("--portfolio", help="Portfolio class or registered name.")]
PortfolioParams = Annotated[list[str] | None, typer.Option("--portfolio-param", help="Portfolio parameter k=v.")]
ExecutorSpec = Annotated[str, typer.Option("--executor", help="Executor class or registered name (a paper broker).")]
ExecutorParams = Annotated[list[str] | None, typer.Option("--executor-param", help="Executor parameter k=v.")]
Cash = Annotated[str, typer.Option("--cash", help="Starting cash.")]
Commission = Annotated[str | None, typer.Option("--commission", help="Commission per share.")]
CommissionBps = Annotated[str | None, typer.Option("--commission-bps", help="Commission in bps of notional.")]
Slippage = Annotated[str | None, typer.Option("--slippage-bps", help="Adverse slippage per fill, in bps.")]
Fill = Annotated[str, typer.Option("--fill", help="next_open (next bar's open) or close (deciding bar's close).")]
Since = Annotated[str | None, typer.Option("--since", help="Only bars starting at or after this time (ISO 8601).")]
Until = Annotated[str | None, typer.Option("--until", help="Only bars starting before this time (ISO 8601).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show the components' log messages.")]


def _decimal(name: str, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        fail(f"{name} {value!r} is not a number")


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{name} {value!r} is not a time: use ISO 8601 such as 2024-03-01T14:30:00Z")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _config(strategy: str, params: dict[str, Any], portfolio: str, portfolio_params: list[str] | None,
            executor: str, executor_params: list[str] | None, cash: str | None, commission: str | None,
            commission_bps: str | None, slippage: str | None, fill_model: str,
            calendar: str | None = None) -> BacktestConfig:
    values: dict[str, Any] = {
        "strategy": strategy, "strategy_params": params, "portfolio": portfolio,
        "portfolio_params": parse_params(portfolio_params or []), "executor": executor,
        "executor_params": parse_params(executor_params or []), "fill": fill_model, "calendar": calendar,
    }
    if cash is not None:  # unset (a replay's default): the portfolio's own, see replay.live_defaults
        values["cash"] = _decimal("--cash", cash)
    for key, flag, raw in (("commission", "--commission", commission),
                           ("commission_bps", "--commission-bps", commission_bps),
                           ("slippage_bps", "--slippage-bps", slippage)):
        if raw is not None:
            values[key] = _decimal(flag, raw)
    try:
        config = BacktestConfig(**values)
    except ValidationError as exc:
        field, why = first_error(exc)
        fail(f"--{field.split('.')[0].replace('_', '-')}: {why}")
    config.classes()
    return config


class _Counter(logging.Handler):
    """Counts the components' warnings, so a quiet run can still say that there were some."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.first = self.first or record.getMessage()


@contextmanager
def _component_logs(verbose: bool) -> Iterator[None]:
    logger = logging.getLogger("ingenium.component")
    handler: logging.Handler
    if verbose:
        from rich.logging import RichHandler

        handler = RichHandler(console=err_console, show_path=False)
    else:
        handler = _Counter()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        if isinstance(handler, _Counter) and handler.count:
            err_console.print(f"[yellow]components logged {handler.count} warning(s)[/], the first: {handler.first} "
                              "(--verbose shows them all)", highlight=False)


def _progress(*, threaded: bool = True) -> Progress:
    # Without its refresh thread for sweeps: worker processes are forked only from a single-threaded process.
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, auto_refresh=threaded)


def _show(result: BacktestResult, out: Path) -> None:
    table = Table(title=f"{result.kind} {result.run_id}", show_header=False)
    for label, text in display_rows(result.stats):
        table.add_row(label, text)
    console.print(table)
    if result.gaps:
        console.print(f"data: {result.gaps} gap(s) accepted, {result.missing_bars} bar(s) missing (summary.json)",
                      highlight=False)
    for warning in result.warnings[:5]:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if len(result.warnings) > 5:
        err_console.print(f"[yellow]… and {len(result.warnings) - 5} more warnings in summary.json[/]")
    console.print(f"wrote {out}/trades.csv, equity.csv, summary.json, report.html", highlight=False)


def _show_sweep(result: SweepResult, out: Path, top: int = 20) -> None:
    names = list(result.rows[0].params) if result.rows else []
    table = Table(title=f"{len(result.rows)} runs ranked by {result.metric}")
    for column in ("#", *names, "return", "sharpe", "max dd", "trades", "win rate"):
        table.add_column(column, justify="right")
    for rank, row in enumerate(result.rows[:top], 1):
        if row.stats is None:
            table.add_row(str(rank), *row.params.values(), f"[red]{row.error}[/]", "", "", "", "")
            continue
        s = row.stats
        table.add_row(str(rank), *row.params.values(), f"{s['total_return']:.2%}",
                      "n/a" if s["sharpe"] is None else f"{s['sharpe']:.2f}", f"{s['max_drawdown']:.2%}",
                      str(s["trades"]), "n/a" if s["win_rate"] is None else f"{s['win_rate']:.0%}")
    console.print(table)
    console.print(f"wrote {out}", highlight=False)


def _record(outcome: BacktestResult | SweepResult, *, config: BacktestConfig, source: str, bars: int,
            symbols: list[str], params: dict[str, Any] | None = None) -> None:
    """Store the run through the installed recorders (the ledger's: PostgreSQL, when a database is set)."""
    settings = resolve_settings(load_settings())
    try:
        stored = asyncio.run(record_run(settings, outcome, config=config, source=source, bars=bars,
                                        symbols=symbols, params=params))
    except IngeniumError as exc:
        err_console.print(f"[yellow]warning:[/] the run is in the output directory but was not stored: {exc}",
                          highlight=False, markup=True, soft_wrap=True)
        return
    for run_id in stored:
        console.print(f"stored as run {run_id} (`ingenium runs ls`)", highlight=False, markup=False)


def backtest_command(
    strategy: Strategy,
    data: Annotated[Path, typer.Option("--data", "-d", help="Bars: a .csv, .csv.gz, .parquet or .pq file.")],
    param: Params = None,
    portfolio: PortfolioSpec = DEFAULT_PORTFOLIO,
    portfolio_param: PortfolioParams = None,
    executor: ExecutorSpec = DEFAULT_EXECUTOR,
    executor_param: ExecutorParams = None,
    cash: Cash = "10000",
    commission: Commission = None,
    commission_bps: CommissionBps = None,
    slippage_bps: Slippage = None,
    fill_at: Fill = "next_open",
    symbol: Annotated[str | None, typer.Option(help="Symbol of a file without a symbol column.")] = None,
    period: Annotated[str | None, typer.Option(help="Bar length (1m, 1h, 1d); inferred when not given.")] = None,
    tz: Annotated[str, typer.Option(help="Time zone of timestamps without an offset.")] = "UTC",
    gaps: Annotated[str, typer.Option(
        help="Gaps (weekends, holidays, nights): accept and count them, warn of each, or error.")] = "accept",
    calendar: Annotated[str | None, typer.Option(
        help="Exchange calendar (exchange-calendars code, e.g. XNYS): report bars missing inside its sessions "
        "and annualise by its sessions.")] = None,
    column: Annotated[list[str] | None, typer.Option(
        "--map", "--column", help="FIELD=COLUMN for a column without a standard header, e.g. timestamp=Date.")] = None,
    since: Since = None,
    until: Until = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the results.")] = Path("out/backtest"),
    rank: Annotated[str, typer.Option(help=f"Sweeps: statistic to rank by ({', '.join(METRICS)}).")] = "sharpe",
    workers: Annotated[int | None, typer.Option(help="Sweeps: worker processes (default: all cores).")] = None,
    verbose: Verbose = False,
) -> None:
    """Backtest a strategy on a file of bars with the live portfolio and paper executor, or sweep a grid."""
    if fill_at not in ("next_open", "close"):
        fail(f"--fill {fill_at!r}: use next_open or close")
    if gaps not in ("accept", "warn", "error"):
        fail(f"--gaps {gaps!r}: use accept, warn or error")
    try:
        grid = parse_grid(param or [])
        fixed = {k: v[0] for k, v in grid.items() if not is_sweep({k: v})}
        config = _config(strategy, fixed, portfolio, portfolio_param, executor, executor_param, cash, commission,
                         commission_bps, slippage_bps, fill_at, calendar)
        with err_console.status(f"loading {data}"):
            bars = read_bars(data, symbol=symbol, period=period, tz=tz, gaps=gaps,  # type: ignore[arg-type]
                             calendar=calendar, mapping=column or [])
        bars = bars.between(_time("--since", since), _time("--until", until))
    except IngeniumError as exc:
        fail(str(exc))
    if len(bars) == 0:
        fail(f"{data}: no bars between --since and --until")
    varying = {k: v for k, v in grid.items() if k not in fixed}
    with _component_logs(verbose), _progress(threaded=not varying) as progress:
        if varying:
            task = progress.add_task("sweeping", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)
                progress.refresh()

            try:
                ranked = sweep(config, bars, varying, metric=rank, workers=workers, progress=advance)
            except IngeniumError as exc:
                fail(str(exc))
            progress.stop()
            _show_sweep(ranked, ranked.write(out / "sweep.csv"))
            _record(ranked, config=config, source=str(data), bars=len(bars), symbols=sorted(set(bars.symbols)),
                    params={**fixed, **varying})
            return
        task = progress.add_task("backtesting", total=len(bars))
        result = run(backtest_async(config, bars, progress=lambda n: progress.update(task, completed=n)))
        progress.stop()
    _show(result, result.write(out))
    _record(result, config=config, source=result.source, bars=result.bars, symbols=list(result.symbols))


def replay_command(
    strategy: Strategy,
    param: Params = None,
    symbols: Annotated[list[str] | None, typer.Option(help="Symbols to replay (repeat or comma-separate).")] = None,
    since: Since = None,
    until: Until = None,
    start_seq: Annotated[int | None, typer.Option(help="Start at this data stream sequence.", min=1)] = None,
    speed: Annotated[str, typer.Option(help="Bar time per wall time (60: an hour per minute), or max.")] = "max",
    portfolio: PortfolioSpec = DEFAULT_PORTFOLIO,
    portfolio_param: PortfolioParams = None,
    executor: ExecutorSpec = DEFAULT_EXECUTOR,
    executor_param: ExecutorParams = None,
    cash: Annotated[str | None, typer.Option(
        "--cash", help="Starting cash (default: the portfolio's own default, as live).")] = None,
    commission: Commission = None,
    commission_bps: CommissionBps = None,
    slippage_bps: Slippage = None,
    fill_at: Fill = BacktestConfig.model_fields["fill"].default,
    run_id: Annotated[str | None, typer.Option(help="Name of the run (default: derived from the range).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory (default out/<run id>).")] = None,
    verbose: Verbose = False,
) -> None:
    """Replay recorded market data into a new strategy, in isolation: nothing reaches live subjects or tables."""
    factor: float | None = None
    if speed != "max":
        try:
            factor = float(speed)
        except ValueError:
            fail(f"--speed {speed!r}: use a positive number or max")
    if fill_at not in ("next_open", "close"):
        fail(f"--fill {fill_at!r}: use next_open or close")
    try:
        grid = parse_grid(param or [])
        if is_sweep(grid):
            fail("replay runs one parameter set; sweep grids with `ingenium backtest` on exported bars")
        config = live_defaults(_config(strategy, {k: v[0] for k, v in grid.items()}, portfolio, portfolio_param,
                                       executor, executor_param, cash, commission, commission_bps, slippage_bps,
                                       fill_at))
        setup_telemetry("ingenium-replay")
    except IngeniumError as exc:
        fail(str(exc))
    span = ReplayRange(symbols_of(symbols or []), _time("--since", since), _time("--until", until), start_seq)
    settings = resolve_settings(load_settings())  # the recorded stream is on the running stack's server
    stream = settings.subjects.stream("data")
    console.print(f"replaying {span.describe(stream)} from {settings.nats_url or 'no server'} into "
                  f"{config.strategy} (cash {config.cash})", highlight=False, markup=False, soft_wrap=True)
    with _component_logs(verbose), _progress() as progress:
        task = progress.add_task("replaying", total=None)
        result = run(replay(config, settings, span, speed=factor, run_id=run_id,
                            progress=lambda n: progress.update(task, completed=n)))
        progress.stop()
    console.print(f"replayed {result.bars} bars read from {result.source}", highlight=False, markup=False,
                  soft_wrap=True)
    _show(result, result.write(out or Path("out") / result.run_id))
    _record(result, config=result.config, source=result.source, bars=result.bars, symbols=list(result.symbols))


def register(app: typer.Typer) -> None:
    """Add ``backtest`` and ``replay`` to the ingenium CLI."""
    app.command("backtest")(backtest_command)
    app.command("replay")(replay_command)
