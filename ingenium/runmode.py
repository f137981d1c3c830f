"""How a component is being run: live on JetStream, in a replay of recorded streams, or in a backtest.

The runtime (live) or the backtest engine (replay, backtest) puts the mode in the component's context. A handler
never asks it to decide how to publish: it returns its events in every mode, and whoever runs it publishes them.
The mode is for what exists only live: a key-value bucket, the streams to recover from, a timer on the wall clock.
"""

from __future__ import annotations

from enum import StrEnum


class RunMode(StrEnum):
    """The three ways a component runs."""

    #: On JetStream, under ``ingenium.runtime``: durable consumers, recovery on start, scheduled outputs.
    LIVE = "live"
    #: In process, fed bars recorded on a stream (``ingenium replay``), on the in-memory bus.
    REPLAY = "replay"
    #: In process, fed bars from files (``ingenium backtest``), on the in-memory bus.
    BACKTEST = "backtest"
