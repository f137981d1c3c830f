"""The project's own claims about building, benchmarking and typing match what the real tools do."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def make_dry_run(target: str) -> str:
    result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pip_install_prints_no_deprecation_warning_of_ours() -> None:
    # The metadata step is where setuptools validates pyproject.toml and warns; --dry-run stops after it.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--dry-run",
         "-e", str(ROOT)], capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Would install ingenium" in output
    assert "deprecat" not in output.lower() and "project.license" not in output, output


def test_make_bench_runs_every_benchmark_the_readme_lists() -> None:
    section = README.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(bench/\w+\.py)`", section))
    run = set(re.findall(r"python (bench/\w+\.py)", make_dry_run("bench")))
    on_disk = {f"bench/{p.name}" for p in (ROOT / "bench").glob("*.py")}
    assert listed == run == on_disk


def test_the_readme_typing_claim_is_what_make_typecheck_checks() -> None:
    [command] = [line for line in make_dry_run("typecheck").splitlines() if "mypy" in line]
    checked = set(command.split()[1:])
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    strict = {module.removesuffix(".*") for o in config["overrides"] if o.get("strict") for module in o["module"]}
    claim = re.search(r"mypy \(strict on (.+?)(?:; (.+?) checked without strict)?\)", README)
    assert claim, "README states which packages mypy checks strictly"
    names = [set(re.findall(r"`(\w+)/`", part or "")) for part in claim.groups()]
    assert names[0] == strict and names[0] | names[1] == checked, (names, strict, checked)
