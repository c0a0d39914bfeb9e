"""gradcheck: tells you whether your hand-written backprop is right, and if not, where and why.

The names below load on first use, so that the pytest plugin (active wherever gradcheck
is installed) costs other projects' test runs no SymPy import. No name here is also the
name of a submodule: ``gradcheck.pipeline.backprop`` is the module (its function is
``gradcheck.pipeline.backprop.backprop``), whatever was imported before.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load_spec": "pipeline.spec", "Spec": "pipeline.spec",
    "trace_shapes": "pipeline.shapes",
    "forward": "pipeline.backprop",
    "numeric_gradient": "pipeline.numeric",
    "check_network": "pipeline.check", "assert_network": "pipeline.check",
    "check_function": "pipeline.generic", "assert_function": "pipeline.generic",
    "check_layer": "pipeline.generic", "assert_layer": "pipeline.generic",
    "CheckResult": "pipeline.outcome", "TensorCheck": "pipeline.compare", "ElementBlame": "pipeline.compare",
    "RTOL": "pipeline.compare", "ATOL": "pipeline.compare",
    "derive": "pipeline.symbolic",
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
