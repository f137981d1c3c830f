"""The ledger's own settings (``INGENIUM_LEDGER_*``), beside the shared ``ingenium.config.Settings``."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerConfig(BaseSettings):
    """How the projector batches, waits and opens the cash account.

    Every field reads ``INGENIUM_LEDGER_<FIELD>`` from the environment (or a ``.env`` file).
    """

    model_config = SettingsConfigDict(env_prefix="INGENIUM_LEDGER_", env_file=".env", extra="ignore", frozen=True)

    starting_cash: Decimal = Field(
        default=Decimal("100000"), description="Opening balance of the cash account, before any fill."
    )
    batch_size: int = Field(
        default=1000, ge=1, le=10_000, description="Messages fetched per request; one transaction per batch."
    )
    max_batch: int = Field(
        default=4000, ge=1, le=50_000, description="Most messages merged into one transaction when the queue is full."
    )
    max_batch_bytes: int = Field(
        default=32 * 2**20, ge=2**16,
        description=(
            "Message bytes a batch takes before it is cut (one message may exceed it, and a merged batch may reach "
            "twice it): a batch's audit rows go to PostgreSQL as one JSON value, which may not exceed 256 MB."
        ),
    )
    order_cache: int = Field(
        default=50_000, ge=1,
        description="Orders kept in memory between batches (about 1 kB each); at least batch_size + max_batch."
    )
    gc_threshold: int = Field(
        default=100_000, ge=0,
        description=(
            "First-generation threshold of Python's garbage collector that `ingenium ledger serve` sets (0: leave "
            "Python's 700): projecting allocates many short-lived objects, and collecting less often saves about "
            "a quarter of the CPU."
        ),
    )
    lock_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often a standby projector tries to take over the lock."
    )
    retry_seconds: float = Field(
        default=1.0, gt=0, description="Pause before reconnecting after NATS or PostgreSQL went away."
    )
    consumer_check_seconds: float = Field(
        default=5.0, gt=0,
        description="Longest idle wait before a reader looks at its stream again, should a wake-up be lost.",
    )

    @model_validator(mode="after")
    def _check_cache(self) -> Self:
        # The next batch is planned while the last is written: the cache must hold every order one batch touches.
        if self.order_cache < self.batch_size + self.max_batch:
            raise ValueError(
                f"order_cache ({self.order_cache}) must be at least batch_size + max_batch "
                f"({self.batch_size + self.max_batch}): every order one batch touches stays in memory"
            )
        return self
