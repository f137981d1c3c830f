"""Trading-loop throughput with telemetry exported to an unreachable collector, against telemetry off.

Usage: python bench/telemetry.py [--bars N] [--rounds N]

Starts an embedded nats-server (or uses INGENIUM_NATS_URL with fresh namespaces) and runs the live loop
(historical ingestor → SMA strategy → risk portfolio → paper executor, every component a real ``Runner`` on
JetStream) in a fresh child process per measurement, because OpenTelemetry's providers are set once per process.
The price alternates so that every bar makes a signal, an order and a fill. Modes, interleaved over rounds:

- ``off``: no ``OTEL_*`` variable — nothing exported, spans still recorded for trace ids in logs (the default)
- ``disabled``: ``OTEL_SDK_DISABLED=true`` — no SDK at all
- ``reachable``: ``OTEL_EXPORTER_OTLP_ENDPOINT`` at a healthy OTLP/HTTP sink (in this parent process)
- ``refused``: ``OTEL_EXPORTER_OTLP_ENDPOINT`` at a closed port (connection refused)
- ``silent``: at a socket that accepts connections and never answers (the exporter waits out its timeout)

Prints bars/s and bars per CPU second of the loop's process per mode (median over rounds) and each mode's ratio
to ``off``. Target: refused and silent within 10% of off. ``disabled`` shows what recording spans costs at all;
``reachable`` that a dead collector costs no more than a live one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nats.js import JetStreamContext

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats
from ingenium.runtime import Runner
from ingenium.streams import ensure_streams
from ingenium.subjects import StreamKey
from ingenium.telemetry import setup_telemetry
from ingenium.testing import eventually
from services.executor.paper import PaperExecutor
from services.ingestors.csv_parquet import HistoricalIngestor
from services.portfolio.portfolio import RiskPortfolio
from services.settle import busy_consumers
from services.strategies.sma_cross import SmaCross

MODES = ("off", "disabled", "reachable", "refused", "silent")


class Sink(BaseHTTPRequestHandler):
    """A collector that accepts every OTLP/HTTP export and answers 200 at once."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Silence the access log."""


def write_bars(path: Path, bars: int) -> Path:
    """Bars whose close alternates 100/102, so SMA(1) crosses SMA(2) on every bar."""
    rows = ["timestamp,symbol,open,high,low,close,volume"]
    for i in range(bars):
        close = "102" if i % 2 else "100"
        day, minute = divmod(i, 390)
        rows.append(f"2024-03-{1 + day:02d}T{14 + (30 + minute) // 60:02d}:{(30 + minute) % 60:02d}:00Z,"
                    f"BENCH,{close},{close},{close},{close},100000")
    path.write_text("\n".join(rows) + "\n")
    return path


async def quiescent(js: JetStreamContext, settings: Settings, bars: int, consumers: dict[StreamKey, list[str]]) -> bool:
    """Whether every bar is in and every consumer acked everything its stream holds (so all output is stored)."""
    data = await js.stream_info(settings.subjects.stream("data"))
    if data.state.last_seq < bars:
        return False
    pairs = [(key, d) for key, ds in consumers.items() for d in ds]
    return not await busy_consumers(js, settings.subjects, pairs)


async def child(nats_url: str, namespace: str, bars: int) -> dict[str, float]:
    tel = setup_telemetry("ingenium-bench")
    settings = Settings(nats_url=nats_url, namespace=namespace, data_dir=Path(tempfile.mkdtemp()))
    nc = await connect_nats(settings, name="bench")
    await ensure_streams(nc.jetstream(), settings)
    loop = [
        Runner(SmaCross(name="sma", fast=1, slow=2), settings),
        # Cash enough that no order is ever refused: every bar makes exactly one order and one fill.
        Runner(RiskPortfolio(name="book", quantity="1", cash="1000000000000"), settings),
        Runner(PaperExecutor(name="paper"), settings),
    ]
    tasks = [asyncio.create_task(r.run()) for r in loop]
    await asyncio.gather(*(r.ready.wait() for r in loop))
    consumers: dict[StreamKey, list[str]] = {
        "data": ["sma-data", "paper-data"], "signal": ["book-signal"], "order": ["paper-order"],
        "execution": ["book-execution"],
    }
    path = write_bars(Path(tempfile.mkdtemp()) / "bars.csv", bars)
    started, cpu = time.perf_counter(), time.process_time()
    await Runner(HistoricalIngestor(name="history", path=path), settings).run()
    await eventually(lambda: quiescent(nc.jetstream(), settings, bars, consumers), timeout=600, interval=0.01)
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    await nc.close()
    for r in loop:
        r.stop()
    await asyncio.gather(*tasks)
    tel.shutdown()
    dropped = sum(n for (signal, _), n in tel.dropped().items() if signal == "traces")
    return {"bars_per_s": bars / elapsed, "bars_per_cpu_s": bars / cpu_used, "spans_dropped": dropped}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(mode: str, nats_url: str, bars: int, silent_port: int, sink_port: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INGENIUM_"))}
    if mode == "disabled":
        env["OTEL_SDK_DISABLED"] = "true"
    elif mode == "reachable":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
    elif mode == "refused":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    elif mode == "silent":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{silent_port}"
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [sys.executable, __file__, "--child", nats_url, namespace, str(bars)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench child ({mode}) failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("NATS_URL", "NAMESPACE", "BARS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, namespace, bars = args.child
        print(json.dumps(asyncio.run(child(url, namespace, int(bars)))), flush=True)
        return

    external = os.environ.get("INGENIUM_NATS_URL")
    server = None if external else EmbeddedNats(Path(tempfile.mkdtemp()) / "nats")
    nats_url = external or server.start()  # type: ignore[union-attr]
    # A collector that accepts connections into its backlog and never reads them.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1024)
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
        for round_ in range(args.rounds):
            for mode in MODES:
                results[mode].append(
                    measure(mode, nats_url, args.bars, silent.getsockname()[1], sink.server_address[1]))
                last = results[mode][-1]
                print(f"round {round_ + 1} {mode:>8}: {last['bars_per_s']:6.0f} bars/s, "
                      f"{last['bars_per_cpu_s']:6.0f} bars per CPU second", flush=True)
    finally:
        sink.shutdown()
        silent.close()
        if server is not None:
            server.stop()

    rate = {m: statistics.median(r["bars_per_s"] for r in results[m]) for m in MODES}
    cpu = {m: statistics.median(r["bars_per_cpu_s"] for r in results[m]) for m in MODES}
    print(f"\nloop throughput, {args.bars} bars (each: signal, order, fill), median of {args.rounds} rounds")
    print(f"{'mode':>10} {'bars/s':>8} {'vs off':>7} {'bars/CPU s':>11} {'vs off':>7} {'spans dropped':>14}")
    for mode in MODES:
        dropped = statistics.median(r["spans_dropped"] for r in results[mode])
        print(f"{mode:>10} {rate[mode]:8.0f} {rate[mode] / rate['off']:7.3f} {cpu[mode]:11.0f} "
              f"{cpu[mode] / cpu['off']:7.3f} {dropped:14.0f}")
    worst = min(rate["refused"], rate["silent"]) / rate["off"]
    verdict = "within" if worst >= 0.9 else "NOT within"
    print(f"\nunreachable collector vs telemetry off: {worst:.3f} of the throughput ({verdict} the 10% target); "
          f"bars per CPU second {min(cpu['refused'], cpu['silent']) / cpu['off']:.3f}")
    print(f"unreachable vs reachable collector: {min(rate['refused'], rate['silent']) / rate['reachable']:.3f} "
          f"of the throughput, bars per CPU second {min(cpu['refused'], cpu['silent']) / cpu['reachable']:.3f}")


if __name__ == "__main__":
    main()
