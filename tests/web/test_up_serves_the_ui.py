"""``ingenium up`` serves the web UI beside its servers (the web package's ``ingenium.stack`` add-on).

The real command runs in a child process with its own data dir; the test reads the URL it prints, fetches the
pages and the API there, and stops it with Ctrl-C (SIGINT) as a user does: the UI stops with the stack.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.core.test_stack import start_up

#: `ingenium up` in a child process starts its own servers.
pytestmark = pytest.mark.servers


def _env(tmp_path: Path, web_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGENIUM_", "OTEL_"))}
    return env | {"INGENIUM_DATA_DIR": str(tmp_path), "INGENIUM_WEB_PORT": str(web_port)}


@pytest.mark.timeout(600)
def test_up_prints_the_web_ui_url_and_serves_it_until_ctrl_c(tmp_path: Path) -> None:
    up, output = start_up(_env(tmp_path, 0), tmp_path / "cwd")  # any free port: tests run side by side
    try:
        found = re.search(r"^web UI     (http://127\.0\.0\.1:(\d+)/)", output, re.MULTILINE)
        assert found, output
        url, port = found.group(1), int(found.group(2))
        assert output.index("data dir") < output.index("web UI") < output.index("Press Ctrl-C")

        with urllib.request.urlopen(url, timeout=30) as page:  # redirects to the first page
            assert page.status == 200
            assert "Ingenium" in page.read().decode()
        with urllib.request.urlopen(f"{url}api/v1/openapi.json", timeout=30) as api:
            assert json.loads(api.read())["info"]["title"] == "Ingenium"
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=120)
    assert up.returncode == 0, rest
    assert "stopping the stack" in rest and "Traceback" not in rest, rest
    with pytest.raises(OSError):  # the UI stopped with the stack
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.timeout(600)
def test_a_taken_web_port_leaves_the_stack_running_with_a_warning(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up, output = start_up(_env(tmp_path, port), tmp_path / "cwd")
        try:
            assert f"warning: web UI not started: cannot listen on 127.0.0.1:{port}" in output, output
            assert "INGENIUM_WEB_PORT" in output and "web UI     http" not in output
        finally:
            up.send_signal(signal.SIGINT)
            rest, _ = up.communicate(timeout=120)
    assert up.returncode == 0, rest
    assert "stopping the stack" in rest
