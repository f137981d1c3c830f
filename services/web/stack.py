"""What the web UI adds to ``ingenium up`` (the ``ingenium.stack`` entry point): the UI, served beside the servers.

``up`` prints its URL with the servers' and stops it, before the servers, on Ctrl-C. It listens where
``ingenium web`` would (``INGENIUM_WEB_PORT``, 8080; 127.0.0.1 unless a password is set). A port that is taken
leaves the stack running without the UI, with a warning saying which port and what to set.
"""

from __future__ import annotations

import asyncio
import socket

from pydantic import ValidationError

from ingenium import credentials
from ingenium.cli.console import err_console
from ingenium.cli.status import STACK_CONNECTION
from ingenium.config import Settings
from ingenium.errors import ConfigurationError, IngeniumError, first_error
from services.web.config import WebConfig
from services.web.serve import EmbeddedServer, database_urls, embedded_server, page_url

#: How long the server may take to start answering.
START_SECONDS = 30.0


class WebUi:
    """The stack add-on serving the web UI inside ``ingenium up``'s event loop."""

    def __init__(self) -> None:
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, settings: Settings, *, verbose: bool) -> list[str]:
        """Serve the UI; return the line with its URL (nothing, after a warning, when its port is taken)."""
        from services.web.app import create_app  # FastAPI loads only when the UI is served

        settings = credentials.as_stack_user(settings, "web")  # on a secure stack, the web UI's own NATS user
        try:
            config = WebConfig()
        except ValidationError as exc:
            field, why = first_error(exc)
            raise ConfigurationError(f"setting INGENIUM_WEB_{field.split('.')[0].upper()}: {why}") from None
        bind = config.bind_host()
        listener = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((bind, config.port))
        except OSError as exc:
            listener.close()
            err_console.print(f"warning: web UI not started: cannot listen on {bind}:{config.port} ({exc.strerror}); "
                              "set INGENIUM_WEB_PORT to a free port (0: any)", highlight=False, soft_wrap=True)
            return []
        port = listener.getsockname()[1]
        try:
            reader_url, writer_url = await database_urls(settings)
        except BaseException:
            listener.close()
            raise
        app = create_app(settings, config, reader_url=reader_url, writer_url=writer_url,
                         connection_name=f"{STACK_CONNECTION}-web")
        self._server = embedded_server(app, config, bind)
        self._task = asyncio.create_task(self._server.serve(sockets=[listener]), name="ingenium-web")
        deadline = asyncio.get_running_loop().time() + START_SECONDS
        while not self._server.started:
            if self._task.done():
                raise IngeniumError(f"the web UI stopped while starting: {self._task.exception()!r}")
            if asyncio.get_running_loop().time() > deadline:
                raise IngeniumError(f"the web UI did not start answering within {START_SECONDS:.0f}s")
            await asyncio.sleep(0.05)
        note = "" if config.protected else " (no INGENIUM_WEB_PASSWORD: 127.0.0.1 only)"
        return [f"web UI     {page_url(bind, port)}{note}"]

    async def stop(self) -> None:
        """Stop serving: requests in flight get two seconds, then the app's NATS connection drains."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
