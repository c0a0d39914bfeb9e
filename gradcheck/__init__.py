"""gradcheck: tells you whether your hand-written backprop is right, and if not, where and why.

The names below load on first use, so that the pytest plugin (active wherever gradcheck
is installed) costs other projects' test runs no SymPy import. No name here is also the
name of a submodule: ``gradcheck.backprop`` is the module (its function is
``gradcheck.backprop.backprop``), whatever was imported before.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load_spec": "spec", "Spec": "spec",
    "trace_shapes": "shapes",
    "forward": "backprop",
    "numeric_gradient": "numeric",
    "check_network": "check", "assert_network": "check",
    "check_function": "generic", "assert_function": "generic",
    "check_layer": "generic", "assert_layer": "generic",
    "CheckResult": "compare", "TensorCheck": "compare", "ElementBlame": "compare", "RTOL": "compare",
    "ATOL": "compare",
    "derive": "symbolic",
    "GradcheckError": "errors", "SpecError": "errors", "ImplError": "errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
