"""Fuzz targets: every parser that reads bytes from outside, with the oracle each input must satisfy.

A target takes the fuzzer's bytes and either returns (the input parsed, or was refused with one of the project's
own errors, in one line) or raises: anything else that escapes is a finding. ``TARGETS`` names them for
``tests.fuzz.main`` (atheris) and ``tests/fuzz/test_fuzz.py`` (the bounded run in ``make test``); ``seeds``
gives each its starting corpus, from the Go fixtures and the test kit's factories.

The bar file readers are listed once, in ``BAR_READERS``: re-point that list when the readers change.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from nats.aio.client import Client
from pydantic import ValidationError
from pydantic_core import from_json

from ingenium import telemetry
from ingenium.bars import read_bars
from ingenium.cli.publish import read_event
from ingenium.deadletter import fit_payload, letter_headers
from ingenium.errors import IngeniumError, describe_validation_error
from ingenium.events import EVENT_TYPES, Event
from ingenium.testing import bar, cancel, fill, order, signal
from ledger.batch_sql import audit_row
from ledger.messages import Kind, Message, parse

GO_JSON = Path(__file__).resolve().parents[1] / "fixtures" / "go-json"
_SCRATCH = Path(tempfile.mkdtemp(prefix="ingenium-fuzz-"))


def one_line(message: str) -> None:
    """A refusal must say something, on one line."""
    if not message.strip() or "\n" in message:
        raise AssertionError(f"refusal is not one non-empty line: {message!r}")


# ----------------------------------------------------------------------------- event JSON
def event_target(model: type[Event]) -> Callable[[bytes], None]:
    """Parse as the runtime does; what parses must write JSON that parses back to an equal event."""

    def target(data: bytes) -> None:
        try:
            event = model.from_json(data)
        except ValidationError as exc:
            one_line(describe_validation_error(exc))
            return
        again = model.from_json(event.to_json())
        if again != event:
            raise AssertionError(f"{model.__name__} does not read back equal: {event!r} → {again!r}")

    return target


# ----------------------------------------------------------------------------- NATS headers
def headers_target(data: bytes) -> None:
    """Header bytes as nats-py hands them over; the runtime's reads of them and a dead letter built from them."""
    headers = Client._parse_header_lines(data)
    telemetry.extract(headers)  # what the runtime does with a traceparent: never raises
    out = letter_headers(headers, component="fuzz", reason=data.decode(errors="replace"), subject="s",
                         stream="S", sequence=1)
    from nats.aio.client import _HEADER_KEY_RE  # nats-py refuses to publish any other header name

    bad = [key for key in out if not _HEADER_KEY_RE.fullmatch(key.strip())]
    if bad:
        raise AssertionError(f"dead-letter headers nats-py cannot publish: {bad}")
    payload = fit_payload(data * 4, out, 4096)
    size = len(payload) + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in out.items())
    if size > 4096 and len(payload) > 0:
        raise AssertionError(f"a dead letter of {size} bytes does not fit a 4096-byte max payload")


# ----------------------------------------------------------------------------- the ledger's parser
_LEDGER_SUBJECTS: tuple[tuple[Kind, str], ...] = (
    ("order", "ingenium.portfolio.order"), ("order", "ingenium.portfolio.cancel"),
    ("execution", "ingenium.executor.execution"),
)


def ledger_target(data: bytes) -> None:
    """The ledger's parse and audit row: an event, or a one-line reason, with text PostgreSQL can store."""
    kind, subject = _LEDGER_SUBJECTS[data[0] % 3 if data else 0]
    # The header as nats-py would decode it (a few of the fuzzer's bytes), beside the payload.
    headers = {"Nats-Msg-Id": data[1:9].decode(errors="replace"), "X-Any": data[9:17].decode(errors="replace")}
    parsed = parse(Message("S", 1, subject, data[1:], headers, datetime(2024, 1, 1, tzinfo=UTC)), kind)
    row = audit_row(parsed, kind, False)
    stored_headers = json.loads(str(row[11]))  # jsonb refuses an escaped NUL as text refuses a NUL
    if any(isinstance(v, str) and "\x00" in v for v in (*row, *stored_headers, *stored_headers.values())):
        raise AssertionError(f"an audit row PostgreSQL cannot store: {row!r}")
    if parsed.event is None:
        one_line(parsed.error or "")
        if (parsed.payload is None) == (parsed.raw is None):
            raise AssertionError("an unparsed message keeps exactly one of its text and its raw bytes")
    if parsed.payload is not None and "\x00" in parsed.payload:
        raise AssertionError("a payload with NUL would be stored as text")
    if parsed.payload is not None:
        from_json(parsed.payload, allow_inf_nan=False)  # jsonb takes strict JSON only: a payload must be that


# ----------------------------------------------------------------------------- bar files
def _read_bars(path: Path) -> object:
    return read_bars(path, symbol="aapl")


#: The one public reader of bar files, which the backtest, the ingestor and the web UI call.
BAR_READERS: tuple[Callable[[Path], object], ...] = (_read_bars,)


def bars_target(suffix: str) -> Callable[[bytes], None]:
    """A bar file of the fuzzer's bytes: every reader loads it or refuses it with an Ingenium error."""

    def target(data: bytes) -> None:
        path = _SCRATCH / f"bars{suffix}"
        path.write_bytes(data)
        for reader in BAR_READERS:
            try:
                reader(path)
            except IngeniumError as exc:
                one_line(str(exc))

    return target


# ----------------------------------------------------------------------------- CLI JSON
_KINDS = tuple(EVENT_TYPES)


def cli_target(data: bytes) -> None:
    """``ingenium publish KIND JSON`` and ``KIND @file``: an event, or a one-line ConfigurationError."""
    kind = _KINDS[data[0] % len(_KINDS)] if data else "data"
    body = data[1:]
    file = _SCRATCH / "event.json"
    file.write_bytes(body)
    # The shell hands arguments over decoded with surrogateescape: invalid UTF-8 arrives as lone surrogates.
    for payload in (body.decode(errors="surrogateescape"), f"@{file}"):
        try:
            read_event(kind, payload)
        except IngeniumError as exc:
            one_line(str(exc))


TARGETS: dict[str, Callable[[bytes], None]] = {
    **{f"event-{kind}": event_target(model) for kind, model in EVENT_TYPES.items()},
    "headers": headers_target,
    "ledger": ledger_target,
    "bars-csv": bars_target(".csv"),
    "cli": cli_target,
}


_NAMES = sorted(TARGETS)


def all_targets(data: bytes) -> None:
    """Every target in one process: the first byte picks the target, the rest is its input."""
    if data:
        TARGETS[_NAMES[data[0] % len(_NAMES)]](data[1:])


# ----------------------------------------------------------------------------- seeds
def _events() -> dict[str, list[bytes]]:
    go = {path.stem: path.read_bytes() for path in sorted(GO_JSON.glob("*.json"))}
    o = order("aapl")
    return {
        "data": [go["data_ohlc"], bar().to_json()],
        "signal": [go["signal_long"], go["signal_short"], signal().to_json()],
        "order": [go["order_market"], go["order_limit"], o.to_json()],
        "execution": [go["execution_filled"], go["execution_partial_1"], go["execution_partial_2"],
                      fill(o, "4", "100").to_json()],
        "cancel": [cancel(o, reason="too slow").to_json()],
    }


_CSV = (b"timestamp,open,high,low,close,volume\n2024-03-01T14:30:00Z,100,101,99,100.5,1000\n"
        b"2024-03-01T14:31:00Z,100.5,102,100,101,1200\n")
_HEADERS = (b"Nats-Msg-Id: order_1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
            b"tracestate: congo=t61rcWkgMzE\r\nX-Trace: t\r\n\r\n")


def dictionary() -> list[bytes]:
    """Tokens for libFuzzer's mutations (``-dict``): every wire key and enum value, and the values at the edges.

    Validation runs in pydantic-core's Rust, which atheris does not see, so coverage alone would rarely assemble a
    key like ``TrailPercent``; with these the fuzzer inserts whole keys and edge values.
    """
    keys = {field.alias or name for model in EVENT_TYPES.values() for name, field in model.model_fields.items()}
    keys |= {"Open", "High", "Low", "Close", "Volume", "Period", "LimitPrice", "StopPrice"}
    values = {member.value for model in EVENT_TYPES.values() for field in model.model_fields.values()
              for member in getattr(field.annotation, "__members__", {}).values()}
    edges = {"1e999999", "1E+41", "1E-41", "0E-1000000", "NaN", "Infinity", "-Infinity", "sNaN", "-0", "1e-40",
             "2024-03-01T14:30:00+14:00", "2024-03-01T14:30:00", "9999-12-31T23:59:59.999999999Z",
             "Nats-Msg-Id", "traceparent", "tracestate", "timestamp", "open", "high", "low", "close", "volume"}
    return sorted({f'"{token}"'.encode() for token in keys | values | edges}
                  | {b"\\u0000", b"\\ud800", b"\r\n", b"\xff", b"[[[[", b"{}", b"null", b"true", b"1.5"})


def seeds(name: str) -> list[bytes]:
    """The starting corpus of one target (``all``: every target's, each behind its selecting byte)."""
    if name == "all":
        return [bytes([i]) + seed for i, target in enumerate(_NAMES) for seed in seeds(target)]
    events = _events()
    if name.startswith("event-"):
        return events[name.removeprefix("event-")]
    if name == "headers":
        return [_HEADERS, b"Nats-Msg-Id: a\r\nX(bad): 1\r\n\r\n"]
    if name == "ledger":
        return [bytes([0]) + e for e in events["order"]] + [bytes([1]) + e for e in events["cancel"]] + [
            bytes([2]) + e for e in events["execution"]]
    if name == "bars-csv":
        return [_CSV, _CSV.replace(b"timestamp", b"Date").replace(b"2024-03-01T14:30:00Z", b"1709303400")]
    if name == "cli":
        kinds = {kind: i for i, kind in enumerate(_KINDS)}
        return [bytes([kinds[kind]]) + e for kind, values in events.items() for e in values]
    raise KeyError(name)
