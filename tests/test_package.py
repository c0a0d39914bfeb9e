"""The package's lazy exports: each name is the same object whatever was imported before."""

import importlib
import pkgutil
import types

import gradcheck


def test_every_export_is_the_named_object_after_every_submodule_is_imported():
    for info in pkgutil.walk_packages(gradcheck.__path__, "gradcheck."):
        if not info.name.endswith(("__main__", ".plugin")):
            importlib.import_module(info.name)
    for name in gradcheck.__all__:
        value = getattr(gradcheck, name)
        assert not isinstance(value, types.ModuleType), f"gradcheck.{name} is a module"
    assert callable(gradcheck.forward) and callable(gradcheck.check_network)
