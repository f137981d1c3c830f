"""The venue tests share the fake Alpaca fixture."""

from tests.venue.fixtures import alpaca

__all__ = ["alpaca"]
