"""The README's code runs: its strategy example is executed and behaves as the text says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ingenium.errors import ConfigurationError
from ingenium.events import SignalType
from ingenium.testing import bar, drive

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples() -> None:
    assert python_blocks()


def test_readme_strategy_example_runs() -> None:
    namespace: dict[str, Any] = {}
    for block in python_blocks():
        exec(compile(block, str(README), "exec", dont_inherit=True), namespace)
    breakout = namespace["Breakout"](level="120")
    emitted = []
    for close in ("110", "125", "119", "130"):
        emitted.extend(drive(breakout, bar("aapl", close)))
    assert [(s.signal, str(s.price)) for s in emitted] == [(SignalType.LONG, "125"), (SignalType.LONG, "130")]
    with pytest.raises(ConfigurationError, match="did you mean 'level'"):
        namespace["Breakout"](levle="1")
    rising = drive(namespace["Rising"](), bar("aapl", "10"), bar("aapl", "9"), bar("aapl", "11"), bar("ibm", "1"))
    assert [(s.symbol, str(s.price)) for s in rising] == [("aapl", "11")]


def _layout() -> dict[str, str]:
    section = README.read_text().split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([\w/]+/)` \| (.+) \|$", section, flags=re.MULTILINE))


def test_the_layout_names_only_what_exists_and_every_package_folder() -> None:
    root = README.parent
    rows = _layout()
    named = {folder + name for folder, text in rows.items()
             for name in re.findall(r"`([\w/]+(?:\.py|/))`", text)}
    assert sorted(path for path in named if not (root / path).exists()) == []
    folders = {f"{d.relative_to(root)}/" for top in ("ingenium", "services", "ledger")
               for d in (root / top).iterdir() if (d / "__init__.py").exists()}
    assert sorted(folders - named - set(rows)) == []
