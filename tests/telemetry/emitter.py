"""Child process for the export tests: telemetry from ``OTEL_*``, N bars published to NATS in a span, a portfolio fill.

Prints one JSON line on stdout: how many were published, the span's trace id, what telemetry dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from decimal import Decimal

from opentelemetry.trace import format_trace_id

from ingenium import telemetry
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.streams import ensure_streams
from ingenium.telemetry import configure_logging, setup_telemetry
from ingenium.testing import bar, fill, order
from services.portfolio import RiskPortfolio


async def emit(count: int) -> dict[str, object]:
    tel = setup_telemetry("emitter")
    configure_logging("INFO", json_lines=True)
    settings = Settings()
    nc = await connect_nats(settings, name="emitter")
    await ensure_streams(nc.jetstream(), settings)
    bus = JetStreamBus(nc, settings.subjects)
    with telemetry.tracer.start_as_current_span("emit") as span:
        trace_id = format_trace_id(span.get_span_context().trace_id)
        logging.getLogger("emitter").info("emitting %d bars", count, extra={"bars": count})
        published = [await bus.publish(bar("aapl", "101.5", minutes=i)) for i in range(count)]
    # The portfolio gauges as the real portfolio feeds them: cash 2015, then a fill of 10 at 101.5.
    portfolio = RiskPortfolio(name="book", cash=Decimal(2015))
    bought = order("aapl", quantity="10")
    portfolio.on_execution(fill(bought, bought.quantity, "101.5"))
    await nc.drain()
    tel.shutdown()
    dropped = {f"{signal}/{reason}": n for (signal, reason), n in tel.dropped().items()}
    return {"published": sum(1 for p in published if not p.duplicate), "trace_id": trace_id, "dropped": dropped}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(emit(int(sys.argv[1])))), flush=True)
