"""The live loop as deployed, every bar trading: one process per component, against a raw chain of the same shape.

Usage: python bench/live.py [--bars N] [--rounds N] [--batch N] [--profile DIR]

Starts an embedded nats-server (or uses INGENIUM_NATS_URL with fresh namespaces), then per round, interleaved:

* ingenium: three ``ingenium run`` processes, as deployed: ``SmaCross`` (fast=1, slow=2: the close alternates,
  so every bar crosses), ``RiskPortfolio`` (quantity 1: long buys one, short sells it back) and ``PaperExecutor``
  (fills each market order at the last close). Every bar makes one signal, one order and one fill. The portfolio
  also reads the fills, the executor also reads the bars.
* raw: the same shape in bare nats-py, one process per stage (``--stage``): each consumer fetches a batch,
  parses every message's JSON, publishes what the stage makes with ``Nats-Msg-Id`` (``publish_async``), awaits
  the acks, then acks the inputs; the portfolio stage also consumes the fills and the executor stage the bars
  (parse and ack).

Once every process has started, the bars are published as fast as JetStream takes them; a round ends when every
fill is stored and every consumer of both loops has acked all its stream holds. Prints trading bars/s of both
(median over rounds, and the range) and their ratio. Targets: ingenium at least 2,000 bars/s and at least 0.5 of
the raw chain. ``--profile DIR`` runs each ingenium process under py-spy (when installed) and writes its top
functions to DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats
from ingenium.streams import ensure_streams
from ingenium.subjects import StreamKey, Subjects
from ingenium.testing import bar, settings_env
from services.settle import busy_consumers

SYMBOL = "bench"
#: The components as deployed: (name, ``ingenium run`` arguments).
COMPONENTS = [
    ("sma", ["services.strategies.sma_cross:SmaCross", "-p", "fast=1", "-p", "slow=2"]),
    # Cash enough that no order is ever refused: every bar makes exactly one order and one fill.
    ("book", ["services.portfolio.portfolio:RiskPortfolio", "-p", "quantity=1", "-p", "cash=1000000000000"]),
    ("paper", ["services.executor.paper:PaperExecutor"]),
]
#: Every consumer of the loop, by stream: a round is over when all of them acked everything.
CONSUMERS: dict[StreamKey, list[str]] = {
    "data": ["sma-data", "paper-data"], "signal": ["book-signal"], "order": ["paper-order"],
    "execution": ["book-execution"],
}
#: The raw stages: per process, its consumers as (durable, stream read, stream written or None).
STAGES: dict[str, list[tuple[str, StreamKey, StreamKey | None]]] = {
    "sma": [("sma-data", "data", "signal")],
    "book": [("book-signal", "signal", "order"), ("book-execution", "execution", None)],
    "paper": [("paper-order", "order", "execution"), ("paper-data", "data", None)],
}


# ----------------------------------------------------------------------------- the raw chain, one stage a process
async def raw_consumer(js: JetStreamContext, subjects: Subjects, durable: str, source: StreamKey,
                       target: StreamKey | None, batch: int, stop: asyncio.Event) -> None:
    """Fetch a batch, parse each message, publish the stage's output with Nats-Msg-Id, await the acks, ack."""
    stream = subjects.stream(source)
    config = ConsumerConfig(durable_name=durable, deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
                            max_deliver=-1, max_ack_pending=max(1000, batch * 4))
    sub = await js.pull_subscribe("", durable=durable, stream=stream, config=config)
    out = subjects.kind_subject(target) if target else ""
    while not stop.is_set():
        try:
            msgs = await sub.fetch(batch, timeout=0.5)
        except TimeoutError:
            continue
        futures = []
        for msg in msgs:
            body = json.loads(msg.data)
            if target is not None:
                body["Source"] = msg.metadata.sequence.stream
                futures.append(await js.publish_async(out, json.dumps(body).encode(),
                                                      headers={"Nats-Msg-Id": f"{durable}-{body['Source']}"}))
        await asyncio.gather(*futures)
        for msg in msgs:
            await msg.ack()


async def raw_stage(name: str, nats_url: str, namespace: str, batch: int) -> None:
    nc = Client()
    await nc.connect(nats_url)
    js = nc.jetstream(publish_async_max_pending=4000)
    subjects = Subjects(namespace)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.create_task(raw_consumer(js, subjects, durable, source, target, batch, stop))
             for durable, source, target in STAGES[name]]
    await asyncio.sleep(0.2)  # the durables exist once each task has had a turn
    print(f"raw {name} started", flush=True)
    await asyncio.gather(*tasks)
    await nc.close()


# ----------------------------------------------------------------------------- one round
def wait_started(logs: list[Path], procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    """Until every process has logged its start line (its consumers exist and on_start has run)."""
    deadline = time.monotonic() + timeout
    while not all("started" in log.read_text(errors="replace") for log in logs):
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise SystemExit(f"{log.name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"not started within {timeout:.0f}s: {[str(log) for log in logs]}")
        time.sleep(0.05)


async def quiescent(js: JetStreamContext, subjects: Subjects, fills: int) -> bool:
    """Whether every fill is stored and every consumer acked all that its stream holds."""
    if (await js.stream_info(subjects.stream("execution"))).state.last_seq < fills:
        return False
    return not await busy_consumers(js, subjects, [(key, d) for key, ds in CONSUMERS.items() for d in ds])


async def drive(nats_url: str, namespace: str, bars: int, expected: dict[StreamKey, int]) -> float:
    """Publish the bars (close alternating 100/102) and time them until the loop is quiet: bars/s.

    ``expected``: how many signals, orders and fills the bars make (the check that every bar traded).
    """
    settings = Settings(nats_url=nats_url, namespace=namespace)
    nc = await connect_nats(settings, name="bench-live")
    bus = JetStreamBus(nc, settings.subjects)
    events = [bar(SYMBOL, "102" if i % 2 else "100", minutes=i) for i in range(bars)]
    started = time.perf_counter()
    for i in range(0, bars, 4000):
        await bus.publish_many(events[i:i + 4000])
    deadline = started + 600
    while not await quiescent(nc.jetstream(), settings.subjects, expected["execution"]):
        if time.perf_counter() > deadline:
            raise SystemExit(f"{namespace}: the loop did not finish {bars} bars within 600s")
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    js = nc.jetstream()
    for key, count in expected.items():
        stored = (await js.stream_info(settings.subjects.stream(key))).state.messages
        if stored != count:
            raise SystemExit(f"{namespace}: {stored} messages on the {key} stream for {bars} bars, not {count}")
    await nc.close()
    return bars / elapsed


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT if "py-spy" in str(proc.args[0]) else signal.SIGTERM)  # type: ignore[index]
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


async def prepare(nats_url: str, namespace: str) -> None:
    settings = Settings(nats_url=nats_url, namespace=namespace)
    nc = await connect_nats(settings, name="bench-live")
    await ensure_streams(nc.jetstream(), settings)
    await nc.close()


def pyspy() -> str | None:
    """py-spy beside this interpreter (the venv's), or on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def round_ingenium(nats_url: str, bars: int, batch: int, work: Path, profile: Path | None, n: int) -> float:
    namespace = f"lib{uuid.uuid4().hex[:8]}"
    asyncio.run(prepare(nats_url, namespace))
    settings = Settings(nats_url=nats_url, namespace=namespace, fetch_batch=batch, data_dir=work / namespace)
    env = {k: v for k, v in settings_env(settings).items() if not k.startswith("OTEL_")}
    procs, logs = [], []
    for name, args in COMPONENTS:
        command = [sys.executable, "-m", "ingenium", "run", *args, "--name", name]
        if profile is not None:
            command = [str(pyspy()), "record", "--format", "raw", "--rate", "200", "--nonblocking",
                       "-o", str(profile / f"{name}-{n}.txt"), "--", *command]
        log = work / f"{namespace}-{name}.log"
        with log.open("wb") as out:
            procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
        logs.append(log)
    try:
        wait_started(logs, procs)
        # SMA(2) is full from the second bar on; the first cross is short, which a long-only book has nothing to
        # sell for: every bar after the third trades.
        expected: dict[StreamKey, int] = {"signal": bars - 2, "order": bars - 3, "execution": bars - 3}
        return asyncio.run(drive(nats_url, namespace, bars, expected))
    finally:
        stop_all(procs)


def round_raw(nats_url: str, bars: int, batch: int, work: Path) -> float:
    namespace = f"raw{uuid.uuid4().hex[:8]}"
    asyncio.run(prepare(nats_url, namespace))
    procs, logs = [], []
    for name in STAGES:
        log = work / f"{namespace}-{name}.log"
        with log.open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--stage", name, nats_url, namespace, str(batch)],
                stdout=out, stderr=subprocess.STDOUT))
        logs.append(log)
    try:
        wait_started(logs, procs)
        return asyncio.run(drive(nats_url, namespace, bars, {"signal": bars, "order": bars, "execution": bars}))
    finally:
        stop_all(procs)


def summarize_profiles(profile: Path, top: int = 15) -> None:
    """Each process's functions by share of samples (own time and with what they call)."""
    for name, _ in COMPONENTS:
        own: dict[str, int] = {}
        total: dict[str, int] = {}
        samples = 0
        for path in profile.glob(f"{name}-*.txt"):
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                frames = stack.split(";")
                samples += int(count)
                own[frames[-1]] = own.get(frames[-1], 0) + int(count)
                for frame in set(frames):
                    total[frame] = total.get(frame, 0) + int(count)
        if not samples:
            continue
        lines = [f"{name}: {samples} samples"]
        lines += [f"  own {n / samples:6.1%}  {frame}" for frame, n in sorted(own.items(), key=lambda x: -x[1])[:top]]
        lines += [f"  all {n / samples:6.1%}  {frame}" for frame, n in sorted(total.items(), key=lambda x: -x[1])
                  if "ingenium" in frame or "services" in frame or "nats" in frame][:top]
        (profile / f"{name}-summary.txt").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=200, help="messages a consumer fetches at once (both loops)")
    parser.add_argument("--profile", type=Path, help="run the ingenium processes under py-spy, summaries here")
    parser.add_argument("--stage", nargs=4, metavar=("NAME", "NATS_URL", "NAMESPACE", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        name, url, namespace, batch = args.stage
        asyncio.run(raw_stage(name, url, namespace, int(batch)))
        return
    if args.profile is not None:
        if pyspy() is None:
            raise SystemExit("--profile needs py-spy: pip install py-spy (a dev dependency)")
        args.profile.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingenium-bench-live-"))
    external = os.environ.get("INGENIUM_NATS_URL")
    server = None if external else EmbeddedNats(work / "nats")
    nats_url = external or server.start()  # type: ignore[union-attr]
    lib: list[float] = []
    raw: list[float] = []
    try:
        for n in range(args.rounds):
            raw.append(round_raw(nats_url, args.bars, args.batch, work))
            lib.append(round_ingenium(nats_url, args.bars, args.batch, work, args.profile, n))
            print(f"round {n + 1}: raw {raw[-1]:7,.0f} bars/s   ingenium {lib[-1]:7,.0f} bars/s   "
                  f"ratio {lib[-1] / raw[-1]:.3f}", flush=True)
    finally:
        if server is not None:
            server.stop()
    if args.profile is not None:
        summarize_profiles(args.profile)
    ratios = [a / b for a, b in zip(lib, raw, strict=True)]
    print(f"\nlive loop, {args.bars} bars each trading (signal, order, fill), one process per component, "
          f"fetch batch {args.batch}; median of {args.rounds} rounds [range]")
    print(f"  raw nats-py chain   {statistics.median(raw):8,.0f} bars/s  [{min(raw):,.0f}–{max(raw):,.0f}]")
    print(f"  ingenium            {statistics.median(lib):8,.0f} bars/s  [{min(lib):,.0f}–{max(lib):,.0f}]")
    print(f"  ratio (same round)  {statistics.median(ratios):8.3f}        [{min(ratios):.3f}–{max(ratios):.3f}]")
    rate, ratio = statistics.median(lib), statistics.median(ratios)
    print(f"  targets: >= 2,000 bars/s ({'met' if rate >= 2000 else 'NOT met'}), >= 0.5 of raw "
          f"({'met' if ratio >= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
