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
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

START_TIMEOUT = 240


@pytest.mark.timeout(600)
def test_up_prints_the_web_ui_url_and_serves_it_until_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGENIUM_", "OTEL_"))}
    env |= {"INGENIUM_DATA_DIR": str(tmp_path), "INGENIUM_WEB_PORT": "0"}  # any free port: tests run side by side
    up = subprocess.Popen([sys.executable, "-m", "ingenium", "up", "--nats-port", "-1"], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert up.stdout is not None
        lines = []
        deadline = time.monotonic() + START_TIMEOUT
        for line in up.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line or time.monotonic() > deadline:
                break
        output = "".join(lines)
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
