"""Fixtures for the whole suite come from Ingenium's own test kit."""

pytest_plugins = ["ingenium.testing"]
