"""The Python example in docs/backtest.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_python_blocks_of_the_backtest_docs_run(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "docs" / "backtest.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "docs/backtest.md should show the Python API"
    monkeypatch.chdir(ROOT)
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, "docs/backtest.md", "exec"), namespace)
        result = namespace["result"]
        assert result.stats.fills > 0  # type: ignore[attr-defined]
        assert (Path(str(namespace["out"])) / "report.html").is_file()
