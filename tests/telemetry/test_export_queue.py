"""The export queue never blocks its producers and accounts for every item it could not send."""

from __future__ import annotations

import threading

from ingenium.telemetry.export_queue import ExportQueue, QueueLimits


class Collector:
    """An exporter stand-in that can refuse batches or hang until released."""

    def __init__(self, *, accept: bool = True) -> None:
        self.accept = accept
        self.received: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def export(self, batch: list[int]) -> bool:
        self.entered.set()
        self.release.wait()
        self.received.extend(batch)
        return self.accept


def test_flush_exports_everything_in_batches() -> None:
    collector = Collector()
    queue = ExportQueue("items", collector.export, QueueLimits(100, 7, 60.0))
    for i in range(20):
        queue.put(i)
    assert queue.flush(10.0)
    assert collector.received == list(range(20))
    assert queue.exported == 20 and queue.dropped == {}
    queue.close(1.0)


def test_full_queue_drops_and_counts_instead_of_waiting() -> None:
    collector = Collector()
    collector.release.clear()
    queue = ExportQueue("items", collector.export, QueueLimits(10, 5, 60.0))
    for i in range(5):
        queue.put(i)
    assert collector.entered.wait(10.0)  # the worker holds one batch of 5, the queue is empty again
    for i in range(25):
        queue.put(i)
    assert len(queue) == 10
    assert queue.dropped == {"queue_full": 15}
    collector.release.set()
    assert queue.flush(10.0)
    assert queue.exported == 15
    queue.close(1.0)


def test_failed_exports_are_counted() -> None:
    queue = ExportQueue("items", Collector(accept=False).export, QueueLimits(100, 4, 60.0))
    for i in range(10):
        queue.put(i)
    assert queue.flush(10.0)
    assert queue.dropped == {"export_failed": 10} and queue.exported == 0
    queue.close(1.0)


def test_close_gives_up_on_a_hanging_collector_and_counts_what_is_lost() -> None:
    collector = Collector()
    collector.release.clear()
    queue = ExportQueue("items", collector.export, QueueLimits(100, 4, 60.0))
    for i in range(10):
        queue.put(i)
    assert collector.entered.wait(10.0)
    assert not queue.flush(0.05)
    queue.close(0.05)
    assert queue.dropped == {"shutdown": 10}
    queue.put(99)
    assert queue.dropped == {"shutdown": 11}
    collector.release.set()  # the late answer to the abandoned batch is not counted twice
    queue._worker.join(10.0)
    assert queue.dropped == {"shutdown": 11} and queue.exported == 0
