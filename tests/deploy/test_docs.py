"""docs/deploy.md names only metrics Ingenium exports, values the chart has, and commands the CLI accepts."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.deploy.cli import check_command

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deploy.md").read_text()
VALUES = yaml.safe_load((ROOT / "deploy" / "helm" / "ingenium" / "values.yaml").read_text())


def instrument_names() -> set[str]:
    """Names of the OpenTelemetry instruments created in ingenium/ and ledger/ (f-strings over a loop expanded)."""
    names: set[str] = set()
    for path in [*(ROOT / "ingenium").rglob("*.py"), *(ROOT / "ledger").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        loops = {node.target.elts[0].id: [e.elts[0].value for e in node.iter.elts]  # type: ignore[attr-defined]
                 for node in ast.walk(tree) if isinstance(node, ast.For) and isinstance(node.target, ast.Tuple)
                 and isinstance(node.iter, ast.Tuple) and isinstance(node.target.elts[0], ast.Name)
                 and all(isinstance(e, ast.Tuple) and isinstance(e.elts[0], ast.Constant) for e in node.iter.elts)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr.startswith("create_"))
                    or (isinstance(node.func, ast.Name) and node.func.id == "Tally"))):  # gauges.Tally wraps one
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
            elif isinstance(first, ast.JoinedStr):
                prefix = "".join(v.value for v in first.values if isinstance(v, ast.Constant))
                (field,) = [v.value for v in first.values if isinstance(v, ast.FormattedValue)]
                assert isinstance(field, ast.Name)
                names |= {prefix + value for value in loops[field.id]}
    return {n for n in names if n.startswith("ingenium.")}


def prometheus_name(instrument: str) -> str:
    return instrument.replace(".", "_")


def test_every_metric_the_doc_names_is_exported() -> None:
    exported = {prometheus_name(n) for n in instrument_names()}
    assert "ingenium_consumer_lag" in exported
    without_labels = re.sub(r"by \([^)]*\)", "", DOC)  # `by (ingenium_stream)` names a label, not a metric
    named = set(re.findall(r"\bingenium_[a-z_]+", without_labels))
    assert len(named) >= 10
    for name in named:
        base = re.sub(r"(_seconds_bucket|_bucket|_total)$", "", name)
        assert base in exported, f"docs/deploy.md names {name}, which Ingenium does not export"


def test_every_chart_value_the_doc_names_exists() -> None:
    for dotted in set(re.findall(r"`((?:settings|ledger|web|nats|postgresql|otelCollector|telemetry|provision)"
                                 r"\.[A-Za-z.]+)", DOC)):
        node = VALUES
        for key in dotted.split("."):
            assert isinstance(node, dict) and key in node, f"docs/deploy.md names {dotted}, not in values.yaml"
            node = node[key]


def test_every_ingenium_command_in_the_doc_parses() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", DOC, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    commands = [part.strip() for line in lines for part in line.split("&&") if part.strip().startswith("ingenium ")]
    assert len(commands) >= 3
    for command in commands:
        check_command(shlex.split(command)[1:])
