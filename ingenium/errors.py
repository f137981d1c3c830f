"""Ingenium's own errors: what went wrong and what to do, translated from driver errors at the boundary."""

from __future__ import annotations

from pydantic import ValidationError


class IngeniumError(Exception):
    """Base of every error Ingenium raises on purpose; its message is meant for the user."""


class ConfigurationError(IngeniumError):
    """A setting, argument or parameter is wrong."""


class ConnectionFailed(IngeniumError):
    """A server (NATS or PostgreSQL) could not be reached."""


class PublishFailed(IngeniumError):
    """JetStream did not store a published event."""


class EmbeddedServerError(IngeniumError):
    """An embedded nats-server or PostgreSQL failed to start."""


class StackAlreadyRunning(IngeniumError):
    """Another process runs the embedded servers of the same data directory."""


class PermanentFailure(IngeniumError):
    """A handler can never act on this event (retrying cannot help): the runtime dead-letters it at once.

    For example a cancel request naming an order the executor never received. The message is the reason
    recorded on the dead letter.
    """


def first_error(exc: ValidationError) -> tuple[str, str]:
    """The first invalid field of ``exc`` as a dotted path (``""`` for the whole input) and why it is invalid."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"]


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each invalid field (the first five) and why."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def printable(text: str) -> str:
    """``text`` as is when every character prints, else its ``repr``: an error that echoes it stays one line."""
    return text if text.isprintable() else repr(text)
