"""Serving the web UI: its database URLs, where it listens, and the uvicorn server, for ``ingenium web`` and ``up``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from ingenium.cli.console import err_console
from ingenium.config import Settings
from ledger.database import require_database_url
from ledger.migrate import upgrade
from ledger.roles import ensure_reader
from services.web.config import LOCALHOST, WebConfig

if TYPE_CHECKING:  # FastAPI loads only where the app is built
    from fastapi import FastAPI


async def database_urls(settings: Settings) -> tuple[str, str]:
    """Migrate and create the read-only role; return the reader's and the writer's URLs."""
    url = require_database_url(settings)
    await asyncio.to_thread(upgrade, url)
    reader = await ensure_reader(url)
    if reader is None:
        err_console.print("warning: reading the ledger with the configured user (it may not create roles)")
    return reader or url, url


def page_url(bind: str, port: int) -> str:
    """The address to open in a browser for a server bound to ``bind``:``port``."""
    shown = "127.0.0.1" if bind in ("0.0.0.0", LOCALHOST) else bind
    return f"http://{shown}:{port}/"


def server(app: FastAPI, config: WebConfig, bind: str) -> uvicorn.Server:
    """The uvicorn server of ``ingenium web``: quiet, no proxy headers, two seconds to finish requests on stop."""
    return uvicorn.Server(_config(app, config, bind))


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside another command's event loop (``ingenium up``), which owns the signals.

    uvicorn replaces the SIGINT/SIGTERM handlers while it serves; here the host command keeps its own and stops
    the server by setting ``should_exit``.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the host command's signal handlers in place."""
        yield


def embedded_server(app: FastAPI, config: WebConfig, bind: str) -> EmbeddedServer:
    """The same server as ``server``, for running inside ``ingenium up``."""
    return EmbeddedServer(_config(app, config, bind))


def _config(app: FastAPI, config: WebConfig, bind: str) -> uvicorn.Config:
    return uvicorn.Config(app, host=bind, port=config.port, log_level="warning", proxy_headers=False,
                          access_log=False, timeout_graceful_shutdown=2)
