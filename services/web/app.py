"""The application factory: one origin for pages, the JSON API, its OpenAPI document, SSE and static assets.

Browser assets are this package's own CSS/JS and plotly's ``plotly.min.js`` from the installed plotly wheel
(served from site-packages, never committed, never from a CDN).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import plotly
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from ingenium.config import Settings
from ingenium.connection import connect_nats
from services.web import api, pages, sse
from services.web.auth import SESSION_COOKIE, LoginLimiter, LoginRequired
from services.web.config import WebConfig
from services.web.state import WebState

STATIC = Path(__file__).parent / "static"
PLOTLY = Path(plotly.__file__).parent / "package_data"
#: Pages may load only what this origin serves.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
       " connect-src 'self'; font-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")


def create_app(
    settings: Settings, config: WebConfig, *, reader_url: str, writer_url: str, connection_name: str = "ingenium-web"
) -> FastAPI:
    """Build the app; NATS is connected in its lifespan, under ``connection_name``."""
    state = WebState(settings=settings, config=config, reader_url=reader_url, writer_url=writer_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.nc = await connect_nats(settings, name=connection_name)
        try:
            yield
        finally:
            for process in state.workers.values():
                if process.poll() is None:
                    process.terminate()
            if state.nc.is_connected:
                await state.nc.drain()
            else:  # the server stopped first (a Ctrl-C in `ingenium up`'s terminal reaches its nats-server too)
                await state.nc.close()

    app = FastAPI(title="Ingenium", version="1", lifespan=lifespan, openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None,
                  description="Ingenium's JSON API: transactions, portfolio, components, streams, runs; live "
                              "updates at /api/v1/events (server-sent events).")
    app.state.web = state
    app.state.limiter = LoginLimiter(config.login_failures, config.login_window_seconds)
    app.add_middleware(SessionMiddleware, secret_key=config.secret.get_secret_value(), session_cookie=SESSION_COOKIE,
                       max_age=config.session_hours * 3600, same_site="strict", https_only=False)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in first (POST /login) or send the operator's bearer token"},
                                status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    app.include_router(api.router)
    app.include_router(sse.router)
    app.include_router(pages.router)
    app.mount("/static/vendor", StaticFiles(directory=PLOTLY), name="vendor")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
