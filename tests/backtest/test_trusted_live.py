"""A backtest's fast path refuses what live refuses, with the message live gives.

In a backtest the components build their events on the trusted (unvalidated) path; live, every event is
validated where it is built. The same flawed strategy runs both ways: live on a real nats-server, where the
handler's failure dead-letters the bar with the reason, and in a backtest with the live ``RiskPortfolio`` and
``PaperExecutor``, where it stops the run.
"""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from ingenium.backtest import BacktestConfig, HandlerFailed, backtest
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.deadletter import REASON
from ingenium.runtime import Runner
from ingenium.testing import bar, eventually, stream_messages
from tests.backtest.components import Flawed
from tests.backtest.helpers import make_bars

FLAWS = {
    "float_price": "floats are not accepted for money or quantities",
    "bad_symbol": "'not a symbol' is not a valid symbol",
    "naive_time": "Input should have timezone info",
}


async def live_reason(flaw: str, bus: JetStreamBus, nc: Client, settings: Settings) -> str:
    runner = Runner(Flawed(flaw=flaw), settings, nc=nc)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.ready.wait(), 10)
    try:
        await bus.publish(bar("acme", "100"))
        dead = await eventually(lambda: stream_messages(nc, settings, "deadletter"))
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)
    assert isinstance(dead, list)
    [letter] = dead
    assert letter.headers is not None
    return letter.headers[REASON]


@pytest.mark.parametrize("flaw", sorted(FLAWS))
async def test_a_flawed_event_fails_the_backtest_with_lives_message(
    flaw: str, bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    live = await live_reason(flaw, bus, nc, settings)
    prefix = f"handler failed {settings.max_attempts} times, last: "
    assert live.startswith(prefix) and FLAWS[flaw] in live
    detail = live.removeprefix(prefix)

    config = BacktestConfig(strategy="tests.backtest.components:Flawed", strategy_params={"flaw": flaw})
    with pytest.raises(HandlerFailed) as caught:
        await asyncio.to_thread(backtest, config, make_bars([100, 101, 102]))
    message = str(caught.value)
    assert message.startswith("flawed failed on data event data_")
    assert message.endswith(f": {detail}"), (message, detail)
    assert "\n" not in message
