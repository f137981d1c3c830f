"""Replaying a recorded data stream into a new strategy, portfolio and paper executor, isolated from live.

The data stream is read through a JetStream ordered consumer (in stream order, from a sequence or a stored
time, on the symbols asked for) and each bar is handed to an ``Engine``: the same in-memory bus and simulated
clock as a backtest. Nothing the replay's components publish leaves the process, and they get settings with
no NATS server and no database, so no live subject and no live ledger table can be reached. Replaying the same
range twice gives the same results, and so does a backtest of the same bars.

What a replay's config leaves unset is what the live components default to: the starting cash is the
portfolio class's own default (``RiskPortfolio``: 100000, as when it runs live), fees and slippage the
executor's, and the classes ``BacktestConfig``'s (the live services). A replay that reads no bar is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from ingenium.backtest.assembly import KNOBS
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.engine import Engine, Progress, default_run_id
from ingenium.backtest.results import BacktestResult
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import ConfigurationError, ConnectionFailed, first_error
from ingenium.events import DataEvent
from ingenium.runmode import RunMode


@dataclass(frozen=True, slots=True)
class ReplayRange:
    """Which recorded bars to replay.

    Attributes:
        symbols: Only these symbols (all when empty).
        since: Bars starting at or after this time; also where the consumer starts (stored time).
        until: Bars starting before this time.
        start_sequence: Start at this stream sequence instead of a time.

    """

    symbols: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    start_sequence: int | None = None

    def describe(self, stream: str) -> str:
        """Name the range, for the summary: ``INGENIUM_DATA[aapl] since … until …``."""
        parts = [f"{stream}[{','.join(self.symbols) or '*'}]"]
        if self.start_sequence is not None:
            parts.append(f"from seq {self.start_sequence}")
        if self.since is not None:
            parts.append(f"since {self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"until {self.until.isoformat()}")
        return " ".join(parts)


class _Pace:
    """Sleeps so that bar time runs ``speed`` times faster than wall time (``None``: as fast as possible)."""

    def __init__(self, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ConfigurationError(f"speed must be a positive factor or 'max', not {speed}")
        self.speed = speed
        self._origin: tuple[float, datetime] | None = None

    async def wait(self, moment: datetime) -> None:
        if self.speed is None:
            return
        if self._origin is None:
            self._origin = (time.monotonic(), moment)
            return
        due = self._origin[0] + (moment - self._origin[1]).total_seconds() / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def _subscribe(
    nc: Client, settings: Settings, span: ReplayRange
) -> tuple[str, JetStreamContext.PushSubscription, frozenset[str] | None]:
    subjects = settings.subjects
    stream = subjects.stream("data")
    js = nc.jetstream()
    try:
        await js.stream_info(stream)
    except NotFoundError:
        raise ConfigurationError(f"no stream {stream} on the server: nothing was recorded (ingest data first, "
                                 "or check INGENIUM_NAMESPACE)") from None
    filters = [subjects.data(s) for s in span.symbols] or [subjects.all_data]
    config = ConsumerConfig(filter_subjects=filters if len(filters) > 1 else None)
    if span.start_sequence is not None:
        policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = span.start_sequence
    elif span.since is not None:
        policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = span.since
    else:
        policy = DeliverPolicy.ALL
    sub = await js.subscribe(filters[0], stream=stream, ordered_consumer=True, deliver_policy=policy, config=config)
    # A server before 2.10 ignores several filters and sends every symbol: ``_consume`` skips the others.
    return stream, sub, frozenset(filters) if len(filters) > 1 else None


def live_defaults(config: BacktestConfig) -> BacktestConfig:
    """``config`` with the starting cash, when it was not set, of the portfolio class's own default (as live)."""
    if "cash" in config.model_fields_set:
        return config
    portfolio = config.classes()[1]
    fields = portfolio.params_model.model_fields
    name = next((n for n in KNOBS["cash"][1] if n in fields), None)
    default = fields[name].default if name is not None else None
    if default is None or not isinstance(default, int | Decimal):
        return config  # a portfolio without a cash default keeps the config's
    return config.model_copy(update={"cash": Decimal(default)})


async def replay(
    config: BacktestConfig, settings: Settings, span: ReplayRange = ReplayRange(), *, speed: float | None = None,
    run_id: str | None = None, progress: Progress | None = None, nc: Client | None = None, idle_timeout: float = 10.0,
) -> BacktestResult:
    """Replay the recorded bars of ``span`` into the components of ``config``; returns the run's results.

    Args:
        config: Strategy, portfolio, executor and costs, as for a backtest; unset cash is the portfolio's default.
        settings: Where the recorded stream is (``INGENIUM_NATS_URL``, namespace).
        span: Symbols, time range or start sequence.
        speed: Bar time per wall time (``60``: an hour of bars per minute); ``None`` replays as fast as possible.
        run_id: Names the run; derived from what was replayed when ``None``.
        progress: Called with the number of bars handled.
        nc: An open connection to use; otherwise the replay connects and closes its own.
        idle_timeout: Seconds without a message before the replay gives up on a silent server.

    Raises:
        ConfigurationError: Nothing was recorded in the range (no stream, no message, or no bar in it).

    """
    pace = _Pace(speed)
    config = live_defaults(config)
    own = nc is None
    client = nc or await connect_nats(settings, name="ingenium-replay")
    engine = Engine(config, namespace="replay", mode=RunMode.REPLAY)
    warnings: list[str] = []
    try:
        stream, sub, wanted = await _subscribe(client, settings, span)
        try:
            await engine.start()
            first_seq, last_seq, bars = await _consume(sub, stream, engine, span, pace, warnings, progress,
                                                       idle_timeout, wanted)
            await engine.stop()
        finally:
            # The consumer is ephemeral: the server removes it once idle even if this unsubscribe cannot reach it.
            with contextlib.suppress(nats.errors.Error, OSError):
                await sub.unsubscribe()
    finally:
        if own and not client.is_closed:
            await client.drain()
    if bars == 0:
        read = f"read {stream} seq {first_seq}-{last_seq}, no bar in the range" if last_seq else "no message"
        raise ConfigurationError(
            f"nothing to replay in {span.describe(stream)}: {read}; record data first (`ingenium ingest …`) or "
            "check --symbols, --since/--until, --start-seq and INGENIUM_NAMESPACE"
        )
    source = span.describe(stream) + f" seq {first_seq}-{last_seq}"
    if run_id is None:
        run_id = default_run_id("replay", config, source, str(first_seq), str(last_seq))
    return engine.result(run_id=run_id, kind="replay", source=source, warnings=tuple(warnings))


async def _consume(
    sub: JetStreamContext.PushSubscription, stream: str, engine: Engine, span: ReplayRange, pace: _Pace,
    warnings: list[str], progress: Progress | None, idle_timeout: float, wanted: frozenset[str] | None = None,
) -> tuple[int, int, int]:
    """Feed the consumer's bars to the engine until it has delivered all it had.

    Returns the first and last stream sequence read and the number of bars replayed.
    """
    first_seq = last_seq = handled = 0
    info = await sub.consumer_info()
    done = info.num_pending == 0 and (info.delivered is None or info.delivered.consumer_seq == 0)
    while not done:
        try:
            msg: Msg = await sub.next_msg(timeout=idle_timeout)
        except nats.errors.TimeoutError:
            raise ConnectionFailed(f"replay of {stream} stalled: no message for {idle_timeout}s "
                                   f"after sequence {last_seq}") from None
        meta = msg.metadata
        last_seq = meta.sequence.stream
        first_seq = first_seq or last_seq
        done = meta.num_pending == 0
        if wanted is not None and msg.subject not in wanted:
            continue
        event = _parse(msg, warnings)
        if event is None or event.ohlc is None:
            continue
        start = event.ohlc.timestamp
        if (span.since is not None and start < span.since) or (span.until is not None and start >= span.until):
            continue
        await pace.wait(start)
        await engine.feed_event(event)
        handled += 1
        if progress is not None and handled % 1000 == 0:
            progress(handled)
    if progress is not None:
        progress(handled)
    return first_seq, last_seq, handled


def _parse(msg: Msg, warnings: list[str]) -> DataEvent | None:
    try:
        return DataEvent.from_json(msg.data)
    except ValidationError as exc:
        where, why = first_error(exc)
        warnings.append(f"stream sequence {msg.metadata.sequence.stream}: not a valid DataEvent "
                        f"({where or 'payload'}: {why}); skipped")
        return None


def symbols_of(text: Sequence[str]) -> tuple[str, ...]:
    """``["aapl,msft", "goog"]`` → ``("aapl", "msft", "goog")``."""
    return tuple(s.strip() for part in text for s in part.split(",") if s.strip())
