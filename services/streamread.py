"""Reading a range of a JetStream stream in order, for recovery: an ephemeral consumer that is gone afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError


async def read_stream(
    js: JetStreamContext,
    stream: str,
    subject: str,
    *,
    start_sequence: int | None = None,
    start_time: datetime | None = None,
    batch: int = 500,
) -> AsyncIterator[Msg]:
    """Yield the messages of ``stream`` on ``subject`` from a sequence or a time, in stream order.

    Reads up to the stream's last sequence at the time of the call, so a busy stream cannot keep the reader
    going forever. Uses a memory-backed ephemeral consumer without acks, which the server removes once idle.

    Args:
        js: The JetStream context.
        stream: Stream name.
        subject: Filter subject (may be a wildcard).
        start_sequence: First stream sequence to read (inclusive).
        start_time: Read from the first message stored at or after this time (when no sequence is given).
        batch: Messages per fetch.

    """
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return
    last = info.state.last_seq
    if last == 0 or (start_sequence is not None and start_sequence > last):
        return
    if start_sequence is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start_sequence, 1))
    elif start_time is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start_time)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    config.ack_policy = AckPolicy.NONE
    config.mem_storage = True
    config.inactive_threshold = 30.0
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    try:
        while True:
            try:
                msgs = await sub.fetch(batch, timeout=2.0)
            except nats.errors.TimeoutError:
                return
            for msg in msgs:
                meta = msg.metadata
                if meta.sequence.stream > last:
                    return
                yield msg
                if meta.sequence.stream >= last or meta.num_pending == 0:
                    return
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
