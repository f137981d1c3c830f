"""Counters: the ``ingenium`` meter and the counts the runtime, bus and dead-letter path make per message.

Only the OpenTelemetry *API* is used here: counts cost a dictionary update until an SDK exports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

meter = metrics.get_meter("ingenium")


class Tally:
    """A monotonic counter summed in a dict and reported at collection, for counts made on every message.

    An OpenTelemetry SDK counter costs several microseconds per ``add`` (locks, attribute hashing,
    aggregation); the runtime counts three times per message, which alone took over a tenth of the loop's
    throughput. ``add`` here is a dictionary update, and the totals reach the exporter through an
    observable counter of the same name, unit and description.

    Args:
        name: Instrument name, e.g. ``ingenium.events.published``.
        unit: UCUM unit, e.g. ``{event}``.
        description: What it counts.

    """

    def __init__(self, name: str, *, unit: str, description: str) -> None:
        self.name = name
        self._totals: dict[frozenset[tuple[str, str | int]], int | float] = {}
        meter.create_observable_counter(name, callbacks=[self.observe], unit=unit, description=description)

    def add(self, amount: int | float, attributes: Mapping[str, str | int] | None = None) -> None:
        """Count ``amount`` (non-negative) for one set of attributes; same call as an OpenTelemetry counter."""
        key = frozenset(attributes.items()) if attributes else frozenset()
        self._totals[key] = self._totals.get(key, 0) + amount

    def total(self, **attributes: str | int) -> int | float:
        """The count so far for exactly these attributes."""
        return self._totals.get(frozenset(attributes.items()), 0)

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Counter callback: the cumulative total per attribute set."""
        # list() copies under the GIL, so the event loop may keep adding while the reader thread collects.
        return [Observation(value, dict(key)) for key, value in list(self._totals.items())]


events_published = Tally(
    "ingenium.events.published", unit="{event}", description="Events published, by subject"
)
events_consumed = Tally(
    "ingenium.events.consumed", unit="{event}", description="Messages handled, by subject and outcome"
)
handler_duration = meter.create_histogram(
    "ingenium.handler.duration", unit="s", description="Time a component's handler took per message"
)
handler_errors = Tally(
    "ingenium.handler.errors", unit="{error}", description="Handler calls that raised, by component and stream"
)
handler_retries = Tally(
    "ingenium.handler.retries", unit="{message}", description="Messages negatively acked for a retry"
)
dead_lettered = Tally(
    "ingenium.events.dead_lettered", unit="{message}", description="Messages sent to the dead-letter stream"
)
