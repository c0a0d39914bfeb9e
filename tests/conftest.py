"""Shared test set-up: pytester runs the gradcheck plugin in throw-away projects (tests/test_plugin.py); user code
written in torch ops (tests/impls) is collected for its doctests only where torch is installed."""

import importlib.util

pytest_plugins = ["pytester"]

collect_ignore = [] if importlib.util.find_spec("torch") else ["impls/makemore_style.py"]
