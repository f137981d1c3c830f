"""The ``backtest`` and ``replay`` commands: files written, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingenium.bus import JetStreamBus
from ingenium.cli.main import app
from ingenium.config import Settings
from tests.backtest.components import EXECUTOR, PORTFOLIO, STRATEGY
from tests.backtest.helpers import make_bars, recorded, write_csv

CLOSES: list[str | int] = [100, 100, 94, 93, 96, 100, 106, 107, 104, 100]
COMPONENTS = ["--strategy", STRATEGY, "--portfolio", PORTFOLIO, "--executor", EXECUTOR]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_backtest_writes_the_four_files(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "acme.csv", make_bars(CLOSES))
    code, output = invoke("backtest", *COMPONENTS, "--data", str(data), "--param", "low=95", "--cash", "10000",
                          "--commission", "0.5", "--out", str(tmp_path / "out"))
    assert code == 0, output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "report.html", "summary.json", "trades.csv"]
    assert (out / "trades.csv").read_text().splitlines()[1] == "2024-03-01T14:33:00Z,acme,buy,10,94,5.0"  # bar 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stats"]["final_equity"] == "10110.0" and summary["config"]["commission"] == "0.5"
    html = (out / "report.html").read_text()
    assert "<svg" in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")


def test_sweep_from_the_command_line(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "acme.csv", make_bars(CLOSES))
    code, output = invoke("backtest", *COMPONENTS, "--data", str(data), "--param", "low=93..95:1",
                          "--rank", "total_return", "--workers", "2", "--out", str(tmp_path / "sweep"))
    assert code == 0, output
    assert len((tmp_path / "sweep" / "sweep.csv").read_text().splitlines()) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.csv"], "missing.csv: the file does not exist"),
        (["--param", "lwo=3"], "Band has no parameter 'lwo'; did you mean 'low'?"),
        (["--cash", "lots"], "--cash 'lots' is not a number"),
        (["--fill", "later"], "--fill 'later': use next_open or close"),
        (["--slippage-bps", "3"], "Broker has no parameter for slippage_bps"),
        (["--until", "soon"], "--until 'soon' is not a time"),
    ],
)
def test_bad_arguments_get_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    data = write_csv(tmp_path / "acme.csv", make_bars(CLOSES))
    base = ["backtest", *COMPONENTS, "--data", str(data), "--out", str(tmp_path / "o")]
    if "--data" in args:
        base = base[: base.index("--data")] + base[base.index("--data") + 2:]
    code, output = invoke(*base, *args)
    assert code == 1
    assert message in output and "Traceback" not in output
    assert output.strip().startswith("error:") and len(output.strip().splitlines()) == 1


async def test_replay_command(bus: JetStreamBus, settings: Settings, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    await bus.publish_many(recorded(make_bars(CLOSES)))
    monkeypatch.setenv("INGENIUM_NATS_URL", settings.nats_url or "")
    monkeypatch.setenv("INGENIUM_NAMESPACE", settings.namespace)
    code, output = await _in_thread("replay", *COMPONENTS, "--symbols", "acme", "--out", str(tmp_path / "r"))
    assert code == 0, output
    assert (tmp_path / "r" / "trades.csv").read_text().count("\n") == 3
    code, output = await _in_thread("replay", *COMPONENTS, "--speed", "fast")
    assert code == 1 and "--speed 'fast': use a positive number or max" in output


async def _in_thread(*args: str) -> tuple[int, str]:
    """Run the CLI (which starts its own event loop) off this test's loop."""
    import asyncio

    return await asyncio.to_thread(invoke, *args)
