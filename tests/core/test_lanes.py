"""The fast lane (``pytest -m "not servers"``) starts no server: tests using server fixtures are marked apart,
and a server started from a fast-lane test fails it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ingenium.embedded import EmbeddedNats, EmbeddedPostgres, nats_server_binary
from ingenium.testing import server_program


def test_servers_and_the_commands_that_start_them_are_recognised() -> None:
    assert server_program([nats_server_binary(), "-p", "0"]) == "nats-server"
    assert server_program(["/opt/pg/bin/initdb", "-D", "data"]) == "initdb"
    assert server_program("pg_ctl start -D data") == "pg_ctl"
    assert server_program([sys.executable, "-m", "ingenium", "up", "--nats-port", "-1"]) == "ingenium up"
    assert server_program([".venv/bin/ingenium", "--verbose", "demo"]) == "ingenium demo"
    assert server_program([sys.executable, "-m", "ingenium", "backtest", "-s", "x:Y"]) is None
    assert server_program(["make", "-n", "test"]) is None


def test_this_fast_lane_test_cannot_start_nats(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"starts nats-server but is in the fast lane"):
        EmbeddedNats(tmp_path / "nats").start()


def test_this_fast_lane_test_cannot_start_postgres(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"starts (initdb|pg_ctl|postgres) but is in the fast lane"):
        EmbeddedPostgres(tmp_path / "pg").start()


def test_tests_using_server_fixtures_are_marked_and_left_out_of_the_fast_lane(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        markers = cluster: a suite that starts servers of its own
    """)
    pytester.makepyfile(test_lanes_sample="""
        import pytest

        def test_parsing():
            assert int("1") == 1

        def test_needs_nats(nats_url):
            pass

        async def test_needs_a_bus(bus):
            pass

        def test_needs_postgres(database_url):
            pass

        @pytest.mark.cluster
        def test_cluster():
            pass
    """)
    fast = pytester.runpytest("-p", "ingenium.testing", "-p", "no:cacheprovider", "-m", "not servers",
                              "--collect-only", "-q")
    fast.stdout.fnmatch_lines(["test_lanes_sample.py::test_parsing", "1/5 tests collected (4 deselected)*"])
    slow = pytester.runpytest("-p", "ingenium.testing", "-p", "no:cacheprovider", "-m", "servers",
                              "--collect-only", "-q")
    slow.stdout.fnmatch_lines(["4/5 tests collected (1 deselected)*"])
