"""deploy/Dockerfile without a Docker engine: its build stage's commands, run in a plain shell, give a working install.

The Dockerfile is read with dockerfile-parse. The build stage's WORKDIR, COPY, ENV and RUN instructions are
carried out in a temporary directory standing in for the image's root (absolute paths are mapped under it), so
the RUN lines execute verbatim: a virtualenv, a real pip install of this repository, the CLI's smoke check.
The installed `ingenium`, run from elsewhere, must work: its help (the image's ENTRYPOINT and CMD), the
migrations (`ingenium ledger migrate` on a real PostgreSQL) and `ingenium streams init` on a real NATS.
The runtime stage is checked for what it promises: same base, non-root user, the virtualenv copied whole.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from ingenium.config import Settings

# A real install unpacks ~150 MB of wheels: about a minute on a quiet machine, several on a busy one.
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def stages() -> list[Stage]:
    parser = DockerfileParser(path=str(DOCKERFILE))
    args = {}
    out: list[Stage] = []
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "ARG" and not out:
            key, _, default = value.partition("=")
            args[key] = default
        elif instruction == "FROM":
            base, _, name = expand(value, args).partition(" AS ")
            out.append(Stage(base.strip(), name.strip() or None))
        elif instruction != "COMMENT":
            out[-1].instructions.append((instruction, value))
    return out


def expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)


def env_pairs(value: str, env: dict[str, str]) -> dict[str, str]:
    pairs = {}
    for token in shlex.split(value):
        key, _, raw = token.partition("=")
        pairs[key] = expand(raw, {**env, **pairs})
    return pairs


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed), f"not exec form: {value}"
    return parsed


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage carried out under a temporary root; returns that root."""
    build = stages()[0]
    root = tmp_path_factory.mktemp("image")
    shims = root / ".shims"
    shims.mkdir()
    # The image's `python` is its base's interpreter; here, the interpreter this venv was made from.
    (shims / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    # The machine's own pip set-up (index, certificates, cache in $HOME) applies, as Docker's network would.
    env = {"PATH": f"{shims}:/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home()),
           **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "XDG_", "SSL_", "REQUESTS_CA"))}}
    workdir = root
    for instruction, value in build.instructions:
        if instruction == "WORKDIR":
            workdir = root / value.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "ENV":
            for key, raw in env_pairs(value, env).items():
                env[key] = str(root / raw.lstrip("/")) if raw.startswith("/") else raw
        elif instruction == "COPY":
            *sources, destination = shlex.split(value)
            assert not any(s.startswith("--") for s in sources), value
            for source in sources:
                target = workdir / destination
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, target / Path(source).name)
        elif instruction == "RUN":
            # The image's PIP_NO_CACHE_DIR would make every run of this test download everything again.
            run_env = {k: v for k, v in env.items() if k != "PIP_NO_CACHE_DIR"}
            result = subprocess.run(["/bin/sh", "-c", value], cwd=workdir, env=run_env, capture_output=True,
                                    text=True, timeout=600, check=False)
            assert result.returncode == 0, f"RUN {value}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        else:
            pytest.fail(f"the build stage uses {instruction}, which this test cannot carry out")
    return root


def runtime() -> tuple[Stage, dict[str, str], dict[str, Any]]:
    final = stages()[-1]
    env: dict[str, str] = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    last: dict[str, Any] = {}
    for instruction, value in final.instructions:
        if instruction == "ENV":
            env.update(env_pairs(value, env))
        else:
            last[instruction] = value
    return final, env, last


def installed(image_root: Path, program: str) -> Path:
    """Where the runtime image finds ``program`` on its PATH, inside the temporary root."""
    _, env, _ = runtime()
    for directory in env["PATH"].split(":"):
        candidate = image_root / directory.lstrip("/") / program
        if candidate.exists():
            return candidate
    raise AssertionError(f"{program} is not on the image's PATH {env['PATH']}")


def clean_env(**extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **extra}


def test_the_image_is_slim_multi_stage_and_runs_as_a_user() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) == 2 and build.name == "build"
    assert final.base == build.base and "-slim" in final.base
    _, env, last = runtime()
    user = last["USER"].split(":")[0]
    assert user.isdigit() and int(user) >= 1000
    copies = [v for i, v in final.instructions if i == "COPY"]
    assert copies == [f"--from=build {env['VIRTUAL_ENV']} {env['VIRTUAL_ENV']}"]  # only the virtualenv
    assert env["PATH"].startswith(f"{env['VIRTUAL_ENV']}/bin:")
    runs = [v for i, v in final.instructions if i == "RUN"]
    assert runs == [f"useradd --system --uid {user} --user-group --create-home --home-dir /home/ingenium ingenium"]


def test_the_entrypoint_and_cmd_run_the_installed_cli(image_root: Path, tmp_path: Path) -> None:
    _, _, last = runtime()
    entrypoint, cmd = exec_form(last["ENTRYPOINT"]), exec_form(last["CMD"])
    assert entrypoint == ["ingenium"]
    result = subprocess.run([str(installed(image_root, entrypoint[0])), *entrypoint[1:], *cmd], cwd=tmp_path,
                            env=clean_env(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for command in ("run", "ledger", "streams", "ingest"):
        assert command in result.stdout


def test_the_install_holds_every_package_and_is_not_this_checkout(image_root: Path, tmp_path: Path) -> None:
    python = installed(image_root, "python")
    script = ("import json, ingenium, ledger, services, migrations, services.data as d; "
              "paths = [m.__file__ for m in (ingenium, ledger, services, migrations)]; "
              "print(json.dumps([*paths, str(d.SAMPLE_FILE)]))")
    result = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=clean_env(), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    site = image_root / "opt"
    for path in json.loads(result.stdout):
        assert Path(path).is_relative_to(site) and Path(path).exists(), path


async def test_the_installed_cli_migrates_the_ledger_and_creates_streams(
    image_root: Path, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    ingenium = str(installed(image_root, "ingenium"))
    env = clean_env(INGENIUM_DATABASE_URL=database_url, INGENIUM_NATS_URL=str(settings.nats_url),
                    INGENIUM_NAMESPACE=settings.namespace, INGENIUM_DATA_DIR=str(tmp_path / "data"))
    created = f"created {settings.subjects.stream('order')}"  # this test's own on a shared server
    for args, expected in ((["ledger", "migrate"], ""), (["streams", "init"], created)):
        result = await asyncio.to_thread(subprocess.run, [ingenium, *args], cwd=tmp_path, env=env,
                                         capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        assert expected in result.stdout
