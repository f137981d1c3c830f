"""Launching backtests from the UI: the strategy catalogue, the form's validation, a worker process per run."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ingenium.backtest import BacktestConfig, parse_grid
from ingenium.backtest.replay import live_defaults
from ingenium.backtest.sweep import METRICS
from ingenium.component import Component
from ingenium.config import Settings
from ingenium.errors import IngeniumError, describe_validation_error
from ingenium.loader import load_class
from ingenium.strategy import Strategy
from ledger import runs
from services.web.api import parse_time

#: Modules whose strategies the form offers (any ``package.module:Class`` can also be typed in).
CATALOGUE = ("services.strategies",)
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
_SYMBOL = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter of a strategy: name, type, default, description."""

    name: str
    type: str
    default: Any
    description: str


@dataclass(frozen=True)
class StrategySpec:
    """A strategy class the form offers, with its parameters."""

    spec: str
    name: str
    doc: str
    params: list[ParamSpec]


def describe(cls: type[Component], module: str | None = None) -> StrategySpec:
    """The class's spec string (under ``module`` when it re-exports it), summary and declared parameters."""
    params = []
    for name, info in cls.params_model.model_fields.items():
        annotation = info.annotation
        type_name = getattr(annotation, "__name__", str(annotation))
        params.append(ParamSpec(name, type_name, info.get_default(call_default_factory=True), info.description or ""))
    doc = (inspect.getdoc(cls) or "").split("\n", 1)[0].replace("``", "")  # reST literals read as plain words
    return StrategySpec(f"{module or cls.__module__}:{cls.__qualname__}", cls.__qualname__, doc, params)


def catalogue() -> list[StrategySpec]:
    """Every ``Strategy`` subclass exported by the catalogue modules."""
    found = []
    for module_name in CATALOGUE:
        module = importlib.import_module(module_name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Strategy) and obj is not Strategy:
                found.append(describe(obj, module_name))
    return sorted(found, key=lambda s: s.name)


def data_files() -> list[str]:
    """Sample data files shipped with the services."""
    return sorted(str(p) for p in DATA_DIR.glob("*.csv"))


def progress_subject(settings: Settings, run_id: str) -> str:
    """Core NATS subject a worker reports a run's progress on."""
    subject = f"ingenium.web.run.{run_id}"
    return f"{settings.namespace}.{subject}" if settings.namespace else subject


class FormError(ValueError):
    """A backtest form that cannot run, with what to fix."""


@dataclass(frozen=True)
class Launch:
    """What the form asks to run: a backtest, a sweep of a grid or a replay of the recorded stream."""

    kind: str
    config: BacktestConfig
    data_source: str
    params: dict[str, Any]
    plan: dict[str, Any]


def _grid(cls: type[Component], form: dict[str, str]) -> dict[str, list[str]]:
    pairs = [f"{name}={form[f'param.{name}'].strip()}" for name in cls.params_model.model_fields
             if form.get(f"param.{name}", "").strip()]
    try:
        return parse_grid(pairs)
    except IngeniumError as exc:
        raise FormError(str(exc)) from None


def _replay_plan(form: dict[str, str]) -> dict[str, Any]:
    symbols = [s.strip() for s in form.get("symbols", "").split(",") if s.strip()]
    for s in symbols:
        if not _SYMBOL.match(s):
            raise FormError(f"symbol {s!r}: use letters, digits, _ . or -, comma-separated")
    span: dict[str, Any] = {"symbols": symbols}
    for key in ("since", "until"):
        raw = form.get(key, "").strip()
        try:
            moment = parse_time(key, raw) if raw else None
        except RequestValidationError:
            raise FormError(f"{key} {raw!r} is not a time such as 2024-03-01T14:30:00 (UTC)") from None
        span[key] = moment.isoformat() if moment else None
    return span


def build_launch(form: dict[str, str]) -> Launch:
    """Validate the form into what to run.

    The strategy and its parameters (a ``5..50:5`` or ``a,b`` value sweeps), the data (a file, or the recorded
    stream), costs and fill model.
    """
    spec = form.get("strategy", "").strip()
    try:
        cls = load_class(spec)
    except IngeniumError as exc:
        raise FormError(str(exc)) from None
    grid = _grid(cls, form)
    fixed = {k: v[0] for k, v in grid.items() if len(v) == 1}
    varying = {k: v for k, v in grid.items() if len(v) > 1}
    try:
        cls.validate_params({**fixed, **{k: v[0] for k, v in varying.items()}})
    except IngeniumError as exc:
        raise FormError(str(exc)) from None
    values: dict[str, Any] = {"strategy": spec, "strategy_params": fixed, "fill": form.get("fill") or "next_open"}
    for key in ("cash", "commission", "commission_bps", "slippage_bps"):
        raw = form.get(key, "").strip()
        if raw:
            values[key] = raw
    try:
        config = BacktestConfig.model_validate(values)
    except ValidationError as exc:
        raise FormError(describe_validation_error(exc)) from None
    params = {**fixed, **varying}
    if form.get("source") == "stream":
        if varying:
            raise FormError("a replay runs one parameter set: give one value per parameter, or sweep a data file")
        plan = {"replay": _replay_plan(form)}
        return Launch("replay", live_defaults(config) if "cash" not in values else config, "recorded data stream",
                      params, plan)
    data = form.get("data", "").strip()
    if not data or not Path(data).is_file():
        raise FormError(f"data file {data!r} does not exist: pick a shipped file or give a readable path")
    if varying:
        metric = form.get("rank") or "sharpe"
        if metric not in METRICS:
            raise FormError(f"cannot rank by {metric!r}; choose one of {', '.join(METRICS)}")
        return Launch("sweep", config, data, params, {"grid": varying, "metric": metric})
    return Launch("backtest", config, data, params, {})


def worker_env(settings: Settings, database_url: str) -> dict[str, str]:
    """The environment of a worker process: the same servers and namespace, the writer's database URL."""
    env = dict(os.environ)
    if settings.nats_url:
        env["INGENIUM_NATS_URL"] = settings.nats_url
    env["INGENIUM_NAMESPACE"] = settings.namespace
    env["INGENIUM_DATABASE_URL"] = database_url
    return env


async def launch(settings: Settings, database_url: str, what: Launch,
                 log_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Record a queued run and start the worker process that runs it."""
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    await runs.create_run(database_url, run_id, what.kind, what.config, what.data_source, params=what.params,
                          plan=what.plan)
    return run_id, await asyncio.to_thread(_spawn, settings, database_url, run_id, log_dir)


def _spawn(settings: Settings, database_url: str, run_id: str, log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{run_id}.log").open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "services.web.worker", run_id],
                                env=worker_env(settings, database_url), stdout=out, stderr=subprocess.STDOUT)
