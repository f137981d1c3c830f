"""A real stack for the web tests: NATS, PostgreSQL, ``ingenium ledger serve`` and ``ingenium web`` as processes,
and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Request, async_playwright

from ingenium.config import Settings
from ingenium.testing import settings_env
from ledger.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("INGENIUM_TEST_OUTPUT", "test-output")) / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebStack:
    """The running stack: where the UI listens and the processes behind it."""

    url: str
    settings: Settings
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = Path()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "ingenium", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


async def start_web(settings: Settings, tmp_path: Path, **web_env: str) -> WebStack:
    """Migrate, then start the ledger projector and the web UI as real processes; wait until the UI answers."""
    assert settings.database_url
    await asyncio.to_thread(upgrade, settings.database_url)
    env = settings_env(settings)
    env.update({f"INGENIUM_WEB_{k.upper()}": v for k, v in web_env.items()})
    port = free_port()
    stack = WebStack(f"http://127.0.0.1:{port}", settings, logs=tmp_path)
    stack.processes["ledger"] = _spawn(["ledger", "serve"], env, tmp_path / "ledger.log")
    stack.processes["web"] = _spawn(["web", "--port", str(port)], env, tmp_path / "web.log")
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if stack.processes["web"].poll() is not None:
                raise AssertionError(f"ingenium web exited: {(tmp_path / 'web.log').read_text()}")
            try:
                if (await client.get(stack.url + "/api/v1/openapi.json")).status_code == 200:
                    return stack
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"ingenium web did not answer: {(tmp_path / 'web.log').read_text()}")


def stop(stack: WebStack) -> None:
    for process in stack.processes.values():
        if process.poll() is None:
            process.terminate()
    for process in stack.processes.values():
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest_asyncio.fixture
async def web(db_settings: Settings, tmp_path: Path) -> AsyncIterator[WebStack]:
    """The stack without a password (127.0.0.1 only, the local user is the operator)."""
    stack = await start_web(db_settings, tmp_path)
    yield stack
    stop(stack)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    return CHROMIUM


@pytest_asyncio.fixture
async def browser(chromium_path: str, tmp_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=chromium_path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-default-apps"],
        )
        yield b
        await b.close()


class Recorder:
    """Every request the page makes, so a test can check none leaves 127.0.0.1."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, request: Request) -> None:
        self.urls.append(request.url)

    def outside(self, base: str) -> list[str]:
        return [u for u in self.urls if not (u.startswith(base + "/") or u.startswith(("data:", "blob:")))]


async def open_page(browser: Browser, *, width: int = 1366, height: int = 860) -> tuple[Page, Recorder]:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    recorder = Recorder()
    page.on("request", recorder)
    return page, recorder


async def screenshot(page: Page, name: str) -> Path:
    """Write the page at laptop width and at phone width (390px) under the test output."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    size = page.viewport_size
    await page.set_viewport_size({"width": 390, "height": 844})
    # Charts redraw at the new width before the picture is taken.
    await page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot .main-svg')].every("
                                 "svg => svg.getBoundingClientRect().right <= document.documentElement.clientWidth)")
    await page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    if size:
        await page.set_viewport_size(size)
    return path
