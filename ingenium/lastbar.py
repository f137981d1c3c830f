"""The newest bar (or trade) stored for a symbol, on a data subject where other kinds of data may follow it.

JetStream gives the last message of a subject in one request; when that is not what is looked for (a trade or a
quote after the last bar), the subject is read backwards in growing windows of stream sequences (each window
forward, one request per message of the subject), so the cost is the number of messages since the one found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from ingenium.events import DataEvent, DataType

log = logging.getLogger("ingenium.lastbar")

#: Stream sequences the first backward window spans; each further window is four times the last.
FIRST_WINDOW = 256


def _parse(data: bytes | None, stream: str, seq: int) -> DataEvent | None:
    try:
        return DataEvent.from_json(data or b"")
    except ValidationError as exc:
        log.warning("%s seq %d is not a data event, skipped while looking back: %s", stream, seq,
                    exc.errors()[0]["msg"])
        return None


async def last_data(js: JetStreamContext, stream: str, subject: str,
                    wanted: Callable[[DataEvent], bool]) -> DataEvent | None:
    """The newest data event on ``subject`` in ``stream`` for which ``wanted`` is true; ``None`` if none is."""
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    if msg.seq is None:
        return None
    event = _parse(msg.data, stream, msg.seq)
    if event is not None and wanted(event):
        return event
    info = await js.stream_info(stream)
    first = max(info.state.first_seq, 1)
    high, window = msg.seq, FIRST_WINDOW  # high: the first sequence already looked at
    while high > first:
        low = max(first, high - window)
        seq, newest = low, None
        while seq < high:
            try:
                raw = await js.get_msg(stream, seq, subject=subject, next=True)
            except NotFoundError:
                break
            if raw.seq is None or raw.seq >= high:
                break
            event = _parse(raw.data, stream, raw.seq)
            if event is not None and wanted(event):
                newest = event
            seq = raw.seq + 1
        if newest is not None:
            return newest
        high, window = low, window * 4
    return None


async def last_bar(js: JetStreamContext, stream: str, subject: str, period: str | None = None) -> DataEvent | None:
    """The newest bar event on ``subject`` (of ``period``, when given) in ``stream``; ``None`` if it holds none."""
    return await last_data(js, stream, subject, lambda e: e.ohlc is not None and period in (None, e.ohlc.period))


async def last_trade(js: JetStreamContext, stream: str, subject: str) -> DataEvent | None:
    """The newest trade event on ``subject`` in ``stream``; ``None`` if it holds none."""
    return await last_data(js, stream, subject, lambda e: e.type is DataType.TRADE)
