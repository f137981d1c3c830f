"""Named bad-byte cases through the real runtime on a real nats-server: each refused message is dead-lettered
with its reason, and the consumer goes on to handle the next good message.

Messages are published raw (``js.publish``, or the NATS protocol on a plain socket for header bytes nats-py
would not send), as any client on the bus could.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import nats.errors
import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.deadletter import DROPPED_HEADERS, ORIGINAL_MSG_ID, ORIGINAL_SEQUENCE, REASON, TRUNCATED
from ingenium.events import MAX_EVENT_BYTES
from ingenium.runtime import Runner
from ingenium.testing import bar, eventually, stream_events, stream_messages
from tests.core.components import Echo

SUBJECT_SYMBOL = "aapl"


def _bar_json(**ohlc: object) -> dict[str, object]:
    raw: dict[str, object] = json.loads(bar(SUBJECT_SYMBOL).to_json())
    raw["Ohlc"] = {**raw["Ohlc"], **ohlc}  # type: ignore[dict-item]
    return raw


async def _raw_hpub(settings: Settings, subject: str, header_lines: bytes, payload: bytes) -> None:
    """Publish with header bytes exactly as given, over the NATS protocol on a plain socket."""
    url = urlsplit(settings.nats_url.split(",")[0])
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        await reader.readline()  # INFO
        header = b"NATS/1.0\r\n" + header_lines + b"\r\n"
        writer.write(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n')
        writer.write(f"HPUB {subject} {len(header)} {len(header) + len(payload)}\r\n".encode() + header + payload
                     + b"\r\nPING\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"PONG")
    finally:
        writer.close()


Publish = Callable[[Client, Settings], Awaitable[None]]


def _js(payload: bytes, headers: dict[str, str] | None = None) -> Publish:
    async def publish(nc: Client, settings: Settings) -> None:
        await nc.jetstream().publish(settings.subjects.data(SUBJECT_SYMBOL), payload, headers=headers)

    return publish


def _raw(header_lines: bytes, payload: bytes) -> Publish:
    async def publish(nc: Client, settings: Settings) -> None:
        await _raw_hpub(settings, settings.subjects.data(SUBJECT_SYMBOL), header_lines, payload)

    return publish


def _oversized_for_the_server(nc: Client) -> bytes:
    # Under the server's max payload alone, over it with the dead letter's headers beside it.
    return b'{"Id": "' + b"x" * (nc.max_payload - 100) + b'"}'


CASES: dict[str, tuple[Callable[[Client], Publish], str]] = {
    "over our event size limit": (
        lambda nc: _js(json.dumps({**_bar_json(), "Pad": "x" * MAX_EVENT_BYTES}).encode()),
        f"over the {MAX_EVENT_BYTES}-byte limit"),
    "near the server's max payload": (lambda nc: _js(_oversized_for_the_server(nc)), "byte limit for one event"),
    "deeply nested JSON": (lambda nc: _js(b'{"Id": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"), "recursion limit"),
    "decimal 1e999999": (lambda nc: _js(json.dumps(_bar_json(High="1e999999", Close="1e999999")).encode()),
                         "Ohlc.Close: Value error, 1E+999999 is out of range"),
    "decimal of 10^4 digits": (lambda nc: _js(json.dumps(_bar_json(Volume="9" * 10_000)).encode()),
                               "Ohlc.Volume: Value error, a decimal string of 10000 characters is too long"),
    "decimal of 10^6 digits": (lambda nc: _js(json.dumps(_bar_json(Volume="9" * 10**6)).encode()),
                               "byte limit for one event"),
    "NaN": (lambda nc: _js(json.dumps(_bar_json(Close="NaN")).encode()), "Ohlc.Close: Input should be a finite"),
    "Infinity": (lambda nc: _js(json.dumps(_bar_json(High="Infinity")).encode()), "Ohlc.High: Input should be a"),
    "bare NaN number": (lambda nc: _js(json.dumps(_bar_json(Close="X")).replace('"X"', "NaN").encode()),
                        "floats are not accepted"),
    "invalid UTF-8": (lambda nc: _js(bar(SUBJECT_SYMBOL).to_json().replace(b'"aapl"', b'"\xff\xfe"')),
                      "Invalid JSON"),
    "header injection": (
        lambda nc: _raw(b"Nats-Msg-Id: bad\nInjected: 1\r\nX(1): y\r\ntraceparent: 00-\x7f\xff\r\n"
                        b"tracestate: \x00\r\n", b'{"Id": "bad"}'),
        "invalid DataEvent"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_refused_message_is_dead_lettered_with_its_reason_and_the_next_is_handled(
    case: str, bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    make, reason = CASES[case]
    runner = Runner(Echo(), settings, nc=nc)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.ready.wait(), 10)
    try:
        await make(nc)(nc, settings)
        good = bar(SUBJECT_SYMBOL, minutes=1)
        await bus.publish(good)
        signals = await eventually(lambda: stream_events(nc, settings, "signal"))
        [letter] = await eventually(lambda: stream_messages(nc, settings, "deadletter"))
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)
    assert isinstance(signals, list) and len(signals) == 1  # the good bar after the bad message was handled
    assert letter.headers is not None and reason in letter.headers[REASON], letter.headers[REASON][:300]
    # Read back from the stream (nats-py's email parser): every value a string, none a Header object.
    assert all(isinstance(value, str) for value in letter.headers.values()), letter.headers
    assert letter.headers[ORIGINAL_SEQUENCE] == "1"
    assert runner.handled == 1 and runner.dead_lettered == 1
    if case == "near the server's max payload":
        original = _oversized_for_the_server(nc)
        assert letter.headers[TRUNCATED] == str(len(original)) and original.startswith(letter.data)
    if case == "header injection":
        # The lone LF stayed inside the value (only CRLF ends a header line) and went out again as a space: no
        # header was injected. The name nats-py cannot publish again was left out of the dead letter, named.
        assert letter.headers[ORIGINAL_MSG_ID] == "bad Injected: 1" and "Injected" not in letter.headers
        assert letter.headers[DROPPED_HEADERS] == "'X(1)'"


async def test_a_message_over_the_servers_max_payload_is_refused_at_publish(nc: Client, settings: Settings) -> None:
    with pytest.raises(nats.errors.MaxPayloadError):
        await nc.jetstream().publish(settings.subjects.data(SUBJECT_SYMBOL), b"x" * (nc.max_payload + 1))
