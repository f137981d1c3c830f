"""What every request handler shares: settings, database URLs, the NATS connection, running backtest workers."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from fastapi import Request
from nats.aio.client import Client

from ingenium.config import Settings
from services.web.config import WebConfig


@dataclass
class WebState:
    """The application's state (``app.state.web``).

    Attributes:
        settings: NATS and database settings (the database URL is the writer's, used for runs only).
        config: The web UI's own configuration.
        reader_url: The read-only role's database URL, for every read.
        nc: The UI's NATS connection, opened at start-up.

    """

    settings: Settings
    config: WebConfig
    reader_url: str
    writer_url: str
    nc: Client | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def nats(self) -> Client:
        """The connection (raises if the app has not started)."""
        if self.nc is None:
            raise RuntimeError("the web app is not connected to NATS")
        return self.nc


def web_state(request: Request) -> WebState:
    """FastAPI dependency: the shared state."""
    state: WebState = request.app.state.web
    return state
