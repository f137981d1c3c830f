"""The newest bar stored for a symbol, on a data subject where trades and quotes may follow it.

JetStream gives the last message of a subject in one request; when that is a trade or a quote, the bar before it
is found by reading the subject backwards in growing windows of stream sequences (each window forward, one
request per message of the subject), so the cost is the number of trades and quotes since the last bar.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from ingenium.events import DataEvent

log = logging.getLogger("ingenium.lastbar")

#: Stream sequences the first backward window spans; each further window is four times the last.
FIRST_WINDOW = 256


def _bar_of(data: bytes | None, period: str | None, stream: str, seq: int) -> DataEvent | None:
    try:
        event = DataEvent.from_json(data or b"")
    except ValidationError as exc:
        log.warning("%s seq %d is not a data event, skipped looking for the last bar: %s", stream, seq,
                    exc.errors()[0]["msg"])
        return None
    ohlc = event.ohlc
    return event if ohlc is not None and (period is None or ohlc.period == period) else None


async def last_bar(js: JetStreamContext, stream: str, subject: str, period: str | None = None) -> DataEvent | None:
    """The newest bar event on ``subject`` (of ``period``, when given) in ``stream``; ``None`` if it holds none."""
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    if msg.seq is None:
        return None
    found = _bar_of(msg.data, period, stream, msg.seq)
    if found is not None:
        return found
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
            newest = _bar_of(raw.data, period, stream, raw.seq) or newest
            seq = raw.seq + 1
        if newest is not None:
            return newest
        high, window = low, window * 4
    return None
