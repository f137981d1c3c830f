"""Fixtures for the whole suite come from Ingenium's own test kit."""

import atexit
import functools
import os
import shutil
import tempfile

pytest_plugins = ["ingenium.testing", "pytester"]

# Commands find a running stack through the per-user data dir by default (or INGENIUM_DATA_DIR). Tests run
# beside the user's own stack and other test runs, so nothing here may fall back to either: a test that wants
# the default sets XDG_DATA_HOME to a directory of its own.
os.environ["INGENIUM_DATA_DIR"] = tempfile.mkdtemp(prefix="ingenium-tests-")
atexit.register(functools.partial(shutil.rmtree, os.environ["INGENIUM_DATA_DIR"], ignore_errors=True))
