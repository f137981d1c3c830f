"""How the web UI is configured: ``INGENIUM_WEB_*`` variables, validated at start-up."""

from __future__ import annotations

import secrets

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCALHOST = "127.0.0.1"


class WebConfig(BaseSettings):
    """Listening address, credentials and limits of ``ingenium web``."""

    model_config = SettingsConfigDict(env_prefix="INGENIUM_WEB_", env_file=".env", extra="ignore")

    password: SecretStr | None = Field(default=None, description="Operator password; without it: 127.0.0.1 only.")
    viewer_password: SecretStr | None = Field(default=None, description="Password of the read-only viewer.")
    token: SecretStr | None = Field(default=None, description="Operator bearer token for API clients.")
    host: str | None = Field(default=None, description="Address to bind (default 0.0.0.0 with a password).")
    port: int = Field(default=8080, ge=0, le=65535)
    secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
                              description="Key signing session cookies (random per start unless set).")
    session_hours: int = Field(default=12, gt=0)
    login_failures: int = Field(default=5, gt=0, description="Failed logins allowed per client per window.")
    login_window_seconds: int = Field(default=60, gt=0)

    @property
    def protected(self) -> bool:
        """Whether a login is needed (a password or a token is set)."""
        return self.password is not None or self.token is not None

    def bind_host(self) -> str:
        """Where to listen: loopback only unless credentials protect the UI."""
        if not self.protected:
            return LOCALHOST
        return self.host or "0.0.0.0"  # protected by a password: reachable on purpose
