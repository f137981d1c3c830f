"""``ingenium ingest file|synthetic`` and ``ingenium sample-data``: getting market data onto the bus."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingenium.cli.console import console, fail, load_settings, nats_settings, run
from ingenium.errors import IngeniumError
from ingenium.runtime import run_until_signalled
from ingenium.telemetry import configure_logging, setup_telemetry

ingest_app = typer.Typer(help="Load historical bars or run a live feed into the data stream.", no_args_is_help=True)


def _symbols(value: str | None) -> list[str] | None:
    return [s.strip() for s in value.split(",") if s.strip()] if value else None


@ingest_app.command("file")
def ingest_file(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file of OHLC bars.")],
    symbol: Annotated[str | None, typer.Option(help="Symbol of every row, for files without a symbol column.")] = None,
    symbols: Annotated[str | None, typer.Option(help="Load only these symbols (comma-separated).")] = None,
    map_: Annotated[
        list[str] | None, typer.Option(
            "--map", help="FIELD=COLUMN for a non-standard column, e.g. timestamp=Date (repeatable).")
    ] = None,
    tz: Annotated[str, typer.Option(help="Time zone of timestamps without an offset (IANA name).")] = "UTC",
    period: Annotated[str | None, typer.Option(help="Bar length (1m, 1h, 1d); inferred when unset.")] = None,
    reload: Annotated[bool, typer.Option(help="Publish bars already in the stream again (ids still dedup).")] = False,
) -> None:
    """Publish every bar of a file once; re-running the same file adds nothing."""
    from services.ingestors import HistoricalIngestor

    try:
        ingestor = HistoricalIngestor(
            name="historical_ingestor", symbols=_symbols(symbols), path=path, symbol=symbol,
            columns=map_ or [], tz=tz, period=period, skip_loaded=not reload,
        )
        ingestor.read()  # a bad file or mapping fails here, before any server is contacted
        configure_logging()
        setup_telemetry("ingenium-ingest")
    except IngeniumError as exc:
        fail(str(exc))
    settings = nats_settings("ingestor")
    published = [0]

    def advance(done: int, total: int) -> None:
        published[0] = done
        progress.update(task, completed=done, total=total)

    with Progress(TextColumn("Publishing {task.fields[file]}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("load", total=None, file=path.name)
        ingestor.progress = advance
        signalled = run(run_until_signalled(ingestor, settings))
    result = ingestor.result
    if result is None:
        if signalled:  # Ctrl-C is a request, not a failure: a re-run publishes the rest (the ids dedup)
            console.print(f"stopped after {published[0]} bars; run it again to publish the rest", highlight=False)
            return
        fail("the load stopped before it finished")
    span = f"{result.first:%Y-%m-%d %H:%M} → {result.last:%Y-%m-%d %H:%M} UTC" if result.first and result.last else ""
    console.print(
        f"{result.read} bars read ({', '.join(result.symbols)}, {result.period}{', ' + span if span else ''}): "
        f"{result.published} stored, {result.duplicates} duplicates dropped by JetStream, "
        f"{result.skipped} already in the stream", highlight=False,
    )


@ingest_app.command("synthetic")
def ingest_synthetic(
    symbols: Annotated[str, typer.Option(help="Symbols to generate, comma-separated.")],
    seed: Annotated[int, typer.Option(help="Seed of the random walk.")] = 7,
    speed: Annotated[str, typer.Option(help="Simulated per real time: 1 real time, 60 a minute a second, max.")] = "1",
    period: Annotated[str, typer.Option(help="Bar length.")] = "1m",
    count: Annotated[int | None, typer.Option(help="Bars per symbol, then stop; unset: until Ctrl-C.")] = None,
    start: Annotated[datetime | None, typer.Option(help="Start of the first bar (UTC); default now.")] = None,
    start_price: Annotated[str, typer.Option(help="Price before the first bar.")] = "100",
    volatility: Annotated[float, typer.Option(help="Std. deviation of one bar's log return.")] = 0.0015,
) -> None:
    """Run the seeded random-walk feed, publishing one bar per symbol per period."""
    from services.ingestors import SyntheticFeed

    params: dict[str, Any] = {"seed": seed, "speed": speed, "period": period, "count": count,
                              "start_price": start_price, "volatility": volatility}
    if start is not None:
        params["start"] = start if start.tzinfo else start.replace(tzinfo=datetime.now().astimezone().tzinfo)
    try:
        feed = SyntheticFeed(name="synthetic_feed", symbols=_symbols(symbols), **params)
        configure_logging()
        setup_telemetry("ingenium-synthetic-feed")
    except IngeniumError as exc:
        fail(str(exc))
    console.print(f"Publishing {symbols} every {period} at speed {speed}; Ctrl-C to stop.", highlight=False)
    run(run_until_signalled(feed, nats_settings("ingestor")))


def sample_data(
    out: Annotated[Path | None, typer.Option(help="CSV to write; default <data dir>/sample_bars.csv.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed; default the documented sample seed.")] = None,
    bars: Annotated[int | None, typer.Option(help="Bars per symbol; default one trading day (390).")] = None,
) -> None:
    """Generate the sample data set (several symbols, a seeded random walk) as CSV."""
    from services.data import SAMPLE_BARS, SAMPLE_FILE, SAMPLE_SEED, SAMPLE_SYMBOLS, write_sample

    target = out or load_settings().data_dir / "sample_bars.csv"
    path = write_sample(target, seed=seed if seed is not None else SAMPLE_SEED,
                        bars=bars if bars is not None else SAMPLE_BARS)
    same = path.read_bytes() == SAMPLE_FILE.read_bytes()
    console.print(
        f"wrote {path} ({', '.join(SAMPLE_SYMBOLS)}, seed {seed if seed is not None else SAMPLE_SEED})"
        + ("; identical to the shipped services/data/sample_bars.csv" if same else ""), highlight=False,
    )
    console.print(f"load it with: ingenium ingest file {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``ingest`` and ``sample-data`` to the ingenium CLI."""
    app.add_typer(ingest_app, name="ingest")
    app.command("sample-data")(sample_data)
