"""Logins, sessions, roles and CSRF.

With ``INGENIUM_WEB_PASSWORD`` (or ``_TOKEN``) set, every page needs a login; the session is a signed cookie, so
a refresh keeps it. The operator may act (cancel, republish, launch backtests); a viewer
(``INGENIUM_WEB_VIEWER_PASSWORD``) only reads. Without credentials the UI listens on 127.0.0.1 only and every
local user is the operator. Every action (POST) needs the session's CSRF token, in the ``csrf`` form field or
the ``X-CSRF-Token`` header, unless it carries the operator's bearer token. Failed logins are limited per client.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from typing import Literal

from fastapi import Depends, HTTPException, Request

from services.web.config import WebConfig
from services.web.state import WebState, web_state

Role = Literal["operator", "viewer"]
SESSION_COOKIE = "ingenium_session"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """Raised by the ``viewer`` dependency: pages redirect to the login page, the API answers 401."""


def _same(given: str, secret: str) -> bool:
    return hmac.compare_digest(given.encode(), secret.encode())


def check_password(config: WebConfig, given: str) -> Role | None:
    """The role a password (or the token) grants, or ``None``."""
    for value, role in ((config.password, "operator"), (config.token, "operator"), (config.viewer_password, "viewer")):
        if value is not None and given and _same(given, value.get_secret_value()):
            return role  # type: ignore[return-value]
    return None


def current_role(request: Request, state: WebState) -> Role | None:
    """Who is asking: the operator, a viewer, or nobody logged in."""
    config = state.config
    if not config.protected:
        return "operator"
    header = request.headers.get("authorization", "")
    if config.token is not None and header.startswith("Bearer ") and _same(header[7:],
                                                                          config.token.get_secret_value()):
        return "operator"
    role = request.session.get("role")
    return role if role in ("operator", "viewer") else None


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def viewer(request: Request, state: WebState = Depends(web_state)) -> Role:  # noqa: B008
    """Dependency of every read: a logged-in role."""
    role = current_role(request, state)
    if role is None:
        raise LoginRequired()
    return role


async def operator(request: Request, state: WebState = Depends(web_state)) -> Role:  # noqa: B008
    """Dependency of every action: the operator, with the session's CSRF token (or the bearer token)."""
    role = current_role(request, state)
    if role is None:
        raise HTTPException(401, "log in first: this action needs an operator session")
    if role != "operator":
        raise HTTPException(403, "read-only session: this action needs the operator")
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer ") and state.config.token is not None:
        return role  # no cookie, so no cross-site forgery to guard against
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not _same(given, expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return role


class LoginLimiter:
    """At most ``failures`` failed logins per client within ``window`` seconds; then refuse until they age out."""

    def __init__(self, failures: int, window: float) -> None:
        self.failures = failures
        self.window = window
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, client: str) -> deque[float]:
        times = self._seen[client]
        now = time.monotonic()
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        times = self._recent(client)
        if len(times) < self.failures:
            return 0
        return max(1, int(self.window - (time.monotonic() - times[0])) + 1)

    def failed(self, client: str) -> None:
        """Count one failure."""
        self._recent(client).append(time.monotonic())
