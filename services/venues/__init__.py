"""Venue adapters: implementations of ``ingenium.venue.Venue`` (Alpaca today)."""
