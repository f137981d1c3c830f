"""``AlpacaExecutor``: Ingenium orders traded at Alpaca (paper by default), exactly once across crashes.

``APCA_API_KEY_ID=… APCA_API_SECRET_KEY=… ingenium run services.executor.alpaca:AlpacaExecutor``; set
``APCA_API_BASE_URL`` for another endpoint (the live one, or a local test venue). See docs/venues.md.
"""

from __future__ import annotations

from ingenium.venue import Venue
from services.executor.venue import VenueExecutor
from services.venues.alpaca import AlpacaVenue


class AlpacaExecutor(VenueExecutor):
    """A ``VenueExecutor`` on ``services.venues.alpaca.AlpacaVenue``, configured by Alpaca's variables."""

    def make_venue(self) -> Venue:
        """The Alpaca venue from ``APCA_API_*``."""
        return AlpacaVenue()
