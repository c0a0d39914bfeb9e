"""gradcheck: tells you whether your hand-written backprop is right, and if not, where and why.

The names in ``__all__``, :mod:`gradcheck.strategies` and the catalogue's registries
(:mod:`gradcheck.catalogue`) are the public surface; other modules may move.

The names below load on first use, so that the pytest plugin (active wherever gradcheck
is installed) costs other projects' test runs no SymPy import. No name here is also the
name of a submodule: ``gradcheck.reference.backprop`` is the module (its function is
``gradcheck.reference.backprop.backprop``), whatever was imported before.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load_spec": "spec.parse", "Spec": "spec.parse",
    "trace_shapes": "reference.shapes",
    "forward": "reference.backprop",
    "numeric_gradient": "numeric.network",
    "check_network": "checks.network", "assert_network": "checks.network",
    "check_function": "checks.function", "assert_function": "checks.function",
    "check_layer": "checks.function", "assert_layer": "checks.function",
    "CheckResult": "judge.outcome", "TensorCheck": "judge.compare", "ElementBlame": "judge.compare",
    "RTOL": "judge.bands", "ATOL": "judge.bands",
    "derive": "symbolic.derive",
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
