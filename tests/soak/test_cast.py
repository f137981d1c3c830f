"""The soak's supervisor tells a crash from a start refused while NATS was down, and restarts both."""

import time
from pathlib import Path

from ingenium.config import Settings
from soak.config import SoakConfig
from soak.loop import PORTFOLIO, Cast
from tests.cluster.harness import free_ports


def wait_dead(cast: Cast, name: str) -> None:
    deadline = time.monotonic() + 60
    while cast.members[name].alive:
        assert time.monotonic() < deadline, f"{name} kept running with no NATS"
        time.sleep(0.1)


def test_a_start_refused_while_nats_is_down_is_no_crash_but_any_other_exit_is(tmp_path: Path) -> None:
    [port] = free_ports(1)  # nothing listens there: the portfolio's start is refused, as during a NATS strike
    settings = Settings(nats_url=f"nats://127.0.0.1:{port}", database_url="postgresql://nobody@127.0.0.1:1/none")
    cast = Cast(SoakConfig(), settings, tmp_path)
    name = PORTFOLIO.name
    try:
        cast.start(name)
        member = cast.members[name]
        assert member.process is not None
        first = member.process.popen.pid
        wait_dead(cast, name)
        cast.watch(killed=set(), nats_was_down=True)
        assert (member.refusals, member.crashes) == (1, [])
        assert member.process.popen.pid != first  # started again
        wait_dead(cast, name)
        cast.watch(killed=set(), nats_was_down=False)  # the same exit with NATS up is a crash
        assert member.refusals == 1 and len(member.crashes) == 1
        assert "cannot reach NATS" in member.crashes[0]
    finally:
        cast.stop()
