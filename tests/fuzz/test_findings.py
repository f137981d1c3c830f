"""Regression tests, one per finding of the fuzzer and the named bad-byte cases, at the parser that had it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingenium.backtest.trusted import TrustedBuilder
from ingenium.bars import BarFileError, read_bars
from ingenium.cli.publish import read_event
from ingenium.deadletter import DROPPED_HEADERS, ORIGINAL_MSG_ID, REASON, TRUNCATED, fit_payload, letter_headers
from ingenium.errors import ConfigurationError, describe_validation_error
from ingenium.events import MAX_EVENT_BYTES, DataEvent, OrderEvent, SignalEvent, SignalType
from ingenium.testing import T0, bar, order
from ledger.messages import Message, parse

GO_DATA = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "go-json" / "data_ohlc.json").read_text())


def _refusal(model: type[DataEvent] | type[OrderEvent], data: bytes | str) -> str:
    with pytest.raises(ValidationError) as caught:
        model.from_json(data)
    message = describe_validation_error(caught.value)
    assert "\n" not in message
    return message


def _bar_with(value: str) -> str:
    raw = json.loads(json.dumps(GO_DATA))
    raw["Ohlc"]["High"] = raw["Ohlc"]["Close"] = value
    return json.dumps(raw)


@pytest.mark.parametrize("value", ["1e999999", "1E+9999999", "1e-999999", "0E-1000000", "1E+41"])
def test_decimals_beyond_ten_to_the_forty_are_refused_naming_the_field(value: str) -> None:
    message = _refusal(DataEvent, _bar_with(value))
    assert "Ohlc.Close" in message and "out of range" in message and "1E-40 and 1E+41" in message


def test_long_decimal_strings_are_refused_by_their_length_before_a_decimal_is_built() -> None:
    assert _refusal(DataEvent, _bar_with("1" * 10**6)).startswith("payload: the event is 2000")  # the size limit
    raw = json.loads(json.dumps(GO_DATA))
    raw["Ohlc"]["Volume"] = "1" * 30_000
    message = _refusal(DataEvent, json.dumps(raw))
    assert message == "Ohlc.Volume: Value error, a decimal string of 30000 characters is too long (at most 100)"


@pytest.mark.parametrize("value", [Decimal("7" * 30 + "." + "7" * 70), Decimal("1" * 94 + "E-99")])
def test_decimals_written_too_long_to_read_back_are_refused_on_the_way_in(value: Decimal) -> None:
    # A Decimal (or a 98-character string: str writes "0.000001…") passed the string length check, and to_json
    # wrote an event from_json refused: found by the hypothesis round trip of executions.
    fields = {"id": "s1", "timestamp": T0, "symbol": "aapl", "signal": SignalType.LONG, "price": value}
    for build in (SignalEvent.model_validate, TrustedBuilder(SignalEvent)):
        with pytest.raises(ValidationError, match="too long"):
            build(fields)
    with pytest.raises(ValidationError, match="written with 101 characters is too long"):
        SignalEvent.model_validate({**fields, "price": "1" * 94 + "E-99"})


def test_in_range_decimals_still_read_back_exactly() -> None:
    for value in ("9" * 41, "0." + "0" * 39 + "1", "123.456", "1E+40", "0"):
        raw = json.loads(json.dumps(GO_DATA))
        raw["Ohlc"]["Volume"] = value
        event = DataEvent.from_json(json.dumps(raw))
        assert event.bar.volume == Decimal(value)
        assert DataEvent.from_json(event.to_json()) == event


def test_the_trusted_builder_refuses_what_validation_refuses() -> None:
    build = TrustedBuilder(SignalEvent)
    fields = {"id": "s1", "timestamp": T0, "symbol": "aapl", "signal": SignalType.LONG, "price": Decimal("1E+50")}
    with pytest.raises(ValidationError, match="out of range"):
        build(fields)
    assert build({**fields, "price": Decimal("1E+5")}).price == Decimal("1E+5")


def test_event_json_over_the_limit_is_refused_unread() -> None:
    padded = bar().to_json()[:-1] + b', "Pad": "' + b"x" * MAX_EVENT_BYTES + b'"}'
    assert _refusal(DataEvent, padded) == (f"payload: the event is {len(padded)} bytes, over the "
                                           f"{MAX_EVENT_BYTES}-byte limit for one event")


@pytest.mark.parametrize("data", [b"[" * 20_000 + b"]" * 20_000, b'{"a": "\\u00e9", "b": ' + b"[" * 5000])
def test_the_ledger_keeps_deeply_nested_json_as_raw_bytes_with_a_reason(data: bytes) -> None:
    # json.loads raised RecursionError here (the ledger's check for text PostgreSQL can store), failing the batch.
    parsed = parse(Message("S", 1, "ingenium.portfolio.order", data, None, datetime(2024, 1, 1, tzinfo=UTC)), "order")
    assert parsed.event is None and parsed.raw == data and parsed.payload is None
    assert parsed.error is not None and "recursion limit" in parsed.error


def test_cli_event_file_refusals_are_one_line(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_EVENT_BYTES + 10))
    bad = tmp_path / "bad.json"
    bad.write_bytes(order().to_json().replace(b'"aapl"', b'"\xff\xfe"'))
    cases = {
        "@no\x00such.json": "a file name cannot contain a NUL byte",  # was ValueError: embedded null byte
        "@no\nsuch.json": "cannot read 'no\\nsuch.json'",  # the path's line break split the error in two
        f"@{big}": f"over the {MAX_EVENT_BYTES}-byte limit",
        f"@{bad}": "invalid order event: payload: Invalid JSON",  # Path.read_text raised UnicodeDecodeError
    }
    for payload, expected in cases.items():
        with pytest.raises(ConfigurationError) as caught:
            read_event("order", payload)
        assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert read_event("order", order().to_json().decode()).symbol == "aapl"


CSV_HEAD = "timestamp,open,high,low,close\n"


@pytest.mark.parametrize(("body", "expected"), [
    (b"2024-03-01T14:30:00Z,1,1,1,\xd8\n", "cannot read the file .* give a UTF-8 CSV file"),  # was UnicodeDecodeError
    (b"99999999999999999999,1,1,1,1\n", "timestamp '99999999999999999999' is not a time"),  # was ValueError: year
    ("\u00b2\u00b3,1,1,1,1\n".encode(), "timestamp '\u00b2\u00b3' is not a time"),  # '²³'.isdigit(), int() refuses
])
def test_the_bar_reader_refuses_bad_rows_with_its_error(tmp_path: Path, body: bytes, expected: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(CSV_HEAD.encode() + body)
    with pytest.raises(BarFileError, match=expected):
        read_bars(path, symbol="aapl")


#: The fuzzer's file: a bad timestamp, then a row pyarrow cannot decode for its invalid-row handler, ending inside a
#: UTF-8 sequence.
TRUNCATED_UTF8 = bytes.fromhex(
    "446174652c6f70656e2c686967682c6c6f772c636c6f73652c766f22766f6c756d65226c756d650a31373039333033333939"
    "2c3130302c3130312c39392c3130302e352c313030300a323032343031332d2d6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
    "6b6b141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414"
    "1414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414"
    "14146b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b2c6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
    "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b30543122316539393939393922343a33313a30352e302c30315a302c3130322c3130"
    "302c5b224578656349642200000000000002d8"
)


# pyarrow itself cannot decode that row for the invalid-row handler and says so as an unraisable exception.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_bad_row_is_named_by_its_line_even_when_later_bytes_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(TRUNCATED_UTF8)
    # Was UnicodeDecodeError, from counting the file's lines for the message.
    with pytest.raises(BarFileError, match=r"line 3: timestamp '2024013--k+.*' is not a time"):
        read_bars(path, symbol="aapl")


def test_the_bar_reader_reads_epochs_as_it_strips_them(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(CSV_HEAD.encode() + b"\x1e1709303400,1,1,1,1\n")  # str.strip() strips \x1e, int() did not
    # One bar has no spacing to infer its period from: the reader asks for it, so the test gives it.
    assert read_bars(path, symbol="aapl", period="1m").starts[0] == datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def test_the_bar_reader_refuses_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(BarFileError, match="cannot read the Parquet file"):
        read_bars(path, symbol="aapl")


def test_the_bar_reader_names_headers_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text('"time\nstamp",open,high,low,close\n2024-03-01T14:30:00Z,1,1,1,1\n')
    with pytest.raises(BarFileError) as caught:
        read_bars(path, symbol="aapl")
    assert "'time\\nstamp'" in str(caught.value) and "\n" not in str(caught.value)
    odd = tmp_path / "odd\nname.csv"  # the file's own name is echoed in every bar file error too
    odd.write_text("timestamp,open,high,low,close\n2024-03-01T14:30:00Z,1,1,1,0\n")
    with pytest.raises(BarFileError) as caught:
        read_bars(odd, symbol="aapl", period="1m")
    assert "odd\\nname.csv" in str(caught.value) and "\n" not in str(caught.value)


def test_dead_letter_headers_leave_out_names_nats_py_cannot_send() -> None:
    # nats-py hands over any ASCII name without whitespace, but refuses to publish one that is not a token
    # (BadHeaderError): copying "X(1)" made the dead letter fail and the consumer stop.
    out = letter_headers({"Nats-Msg-Id": "a", "X(1)": "v", "a/b": "w", "Ok": "x" * 10_000}, component="c",
                         reason="bad\r\nInjected: 1", subject="s", stream="S", sequence=7)
    assert "X(1)" not in out and "a/b" not in out and out[DROPPED_HEADERS] == "'X(1)', 'a/b'"
    assert out[ORIGINAL_MSG_ID] == "a" and len(out["Ok"]) == 4096
    assert out[REASON] == "bad  Injected: 1"


def test_dead_letter_header_values_are_ascii_so_stream_reads_give_strings() -> None:
    out = letter_headers({"traceparent": "00-\x7f\ufffd", "X": "caf\u00e9"}, component="c",
                         reason="'\u00fc' is not a valid symbol", subject="s", stream="S", sequence=1)
    assert out["traceparent"] == "00-\x7f\\ufffd" and out["X"] == "caf\\xe9"
    assert out[REASON] == "'\\xfc' is not a valid symbol"
    assert all(value.isascii() for value in out.values())


def test_a_payload_too_large_to_go_beside_the_headers_is_cut_to_fit() -> None:
    headers = letter_headers(None, component="c", reason="r" * 500, subject="s", stream="S", sequence=1)
    payload = fit_payload(b"p" * 1024, headers, 1024)
    size = 16 + len(payload) + sum(len(k) + len(v) + 4 for k, v in headers.items())
    assert headers[TRUNCATED] == "1024" and 0 < len(payload) < 1024 and size <= 1024
    untouched = letter_headers(None, component="c", reason="r", subject="s", stream="S", sequence=1)
    assert fit_payload(b"p" * 100, untouched, 1024) == b"p" * 100 and TRUNCATED not in untouched
