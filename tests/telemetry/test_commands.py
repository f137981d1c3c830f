"""Telemetry as docs/telemetry.md promises it, from the real commands.

``ingenium demo`` with nothing but ``OTEL_EXPORTER_OTLP_ENDPOINT`` set exports traces in which one trace follows
a bar through data, signal, order, execution and the ledger's writes; and every command that runs components
reads the ``OTEL_*`` variables (a bad one stops it at start, naming the variable).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingenium.config import Settings
from ingenium.testing import settings_env
from tests.telemetry.otlp_receiver import OtlpReceiver, attributes

SAMPLE = Path(__file__).resolve().parents[2] / "services" / "data" / "sample_bars.csv"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.stop()


def environment(settings: Settings, **otel: str) -> dict[str, str]:
    env = {k: v for k, v in settings_env(settings).items() if not k.startswith("OTEL_")}
    env.update(otel)
    return env


@pytest.mark.timeout(600)
async def test_the_demo_exports_one_trace_per_bar_through_the_whole_loop(
    db_settings: Settings, receiver: OtlpReceiver, postgres_server: str
) -> None:
    endpoint = receiver.start_http()
    env = environment(db_settings, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    try:
        demo = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "ingenium", "demo"], env=env,
                                       capture_output=True, text=True, timeout=500, check=False)
    finally:
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute('DROP DATABASE IF EXISTS "ingenium_demo" WITH (FORCE)')
        finally:
            await admin.close()
    assert demo.returncode == 0, demo.stderr
    received = receiver.spans()
    assert {resource["service.name"] for resource, _ in received} == {"ingenium-demo"}

    by_trace: defaultdict[bytes, list[Span]] = defaultdict(list)
    for _, span in received:
        by_trace[span.trace_id].append(span)

    def consumers(spans: list[Span], name: str) -> set[str]:
        return {attributes(s.attributes).get("messaging.consumer.group.name", "") for s in spans
                if s.name.startswith(name)}

    demo_subjects = "demo.ingenium."
    complete = []
    for spans in by_trace.values():
        names = {s.name for s in spans}
        steps = [f"publish {demo_subjects}ingestor.data.", f"process {demo_subjects}ingestor.data.",
                 f"publish {demo_subjects}strategy.signal", f"process {demo_subjects}strategy.signal",
                 f"publish {demo_subjects}portfolio.order", f"process {demo_subjects}portfolio.order",
                 f"project {demo_subjects}portfolio.order", f"publish {demo_subjects}executor.execution",
                 f"process {demo_subjects}executor.execution", f"project {demo_subjects}executor.execution"]
        if all(any(n.startswith(step) for n in names) for step in steps):
            complete.append(spans)
    assert complete, sorted({s.name for _, s in received})
    spans = complete[0]
    ids = {s.span_id for s in spans}
    (root,) = [s for s in spans if not s.parent_span_id]
    assert root.name.startswith(f"publish {demo_subjects}ingestor.data.")  # the bar's publish starts the trace
    assert all(s.parent_span_id in ids for s in spans if s is not root)  # nothing in it hangs loose
    assert {"sma_cross-data", "paper_executor-data"} <= consumers(spans, f"process {demo_subjects}ingestor.data.")
    assert consumers(spans, f"project {demo_subjects}executor.execution") == {"ledger"}


COMMANDS = {
    "run": ["run", "services.strategies:SmaCross"],
    "demo": ["demo"],
    "ingest file": ["ingest", "file", str(SAMPLE)],
    "ingest synthetic": ["ingest", "synthetic", "--symbols", "acme"],
    "ledger serve": ["ledger", "serve"],
    "replay": ["replay", "-s", "services.strategies:SmaCross"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_that_runs_components_reads_the_otel_variables(command: str, db_settings: Settings) -> None:
    env = environment(db_settings, OTEL_TRACES_EXPORTER="zipkin")
    result = subprocess.run([sys.executable, "-m", "ingenium", *COMMANDS[command]], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: OTEL_TRACES_EXPORTER='zipkin'"), lines[0]
