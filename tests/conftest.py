"""Shared test set-up: pytester runs the gradcheck plugin in throw-away projects (tests/test_plugin.py)."""

pytest_plugins = ["pytester"]
