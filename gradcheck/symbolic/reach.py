"""How far the symbolic opinion reaches: which networks SymPy derives (``should_run``) and writes out in full
(``expand_wanted``), and why not."""

from __future__ import annotations

from ..catalogue.layers.base import SYMBOLIC_OTHER_COST
from ..spec.parse import load_spec

__all__ = ["BATCH_UNITS_LIMIT", "EXPAND_MAX_DEPTH", "EXPAND_MAX_PARAMS", "OTHER_LIMIT", "SYMBOLIC_LIMIT", "UNITS_LIMIT",
           "batch_level", "beyond_reach", "expand_wanted", "limit_of", "should_run"]

#: ``should_run(spec, "auto")`` skips dense networks (every layer's params cost what a dense weight costs:
#: :attr:`~gradcheck.catalogue.layers.base.Layer.symbolic_dense` kinds on vectors) with more parameters than
#: this. The cost is close to linear in the parameters, about 70 µs of CPU each to derive, evaluate and compare
#: (a 4,324-parameter 32-64-32-4 net 0.3 s, 12,940 parameters 0.9-1.0 s, SymPy's import aside; see
#: benchmarks/bench_symbolic.py): the limit keeps the third opinion within about a second.
SYMBOLIC_LIMIT = 12000
#: The same limit for networks with a layer whose params cost more (:attr:`~gradcheck.catalogue.layers.base.Layer.
#: symbolic_cost`): a convolution's weight enters every output position and a recurrent weight every step (a
#: 16x4x4 -> 16 filters 3x3 conv net of 2,580 parameters takes 0.7 s). ``auto``'s limit is
#: :data:`SYMBOLIC_LIMIT` over the network's largest cost per parameter; for convolutions and norms this.
OTHER_LIMIT = int(SYMBOLIC_LIMIT / SYMBOLIC_OTHER_COST)
#: ``should_run(spec, "auto")`` also skips networks whose written-out units (of every layer,
#: for one sample) are more than this: a conv layer 3x8x8 -> 4x8x8 has only 112 parameters but
#: 512 units and takes about 2.5 s, the tiny CNN has 51 and takes 0.2 s.
UNITS_LIMIT = 300
#: The same for a network written out for the whole batch (a batchnorm layer ties the samples), over samples ×
#: units: every sample's expressions are then sample 0's renamed (:mod:`gradcheck.symbolic.retag`), and the third
#: opinion costs about 0.3-0.45 ms of CPU per sample and unit (4-5-bn-3 with N = 32: 576, 0.18 s; N = 128: 2,304,
#: 0.75 s; 8-16-bn-4 with N = 32: 1,664, 0.71 s; 16-32-bn-4: 3,200, 1.4 s): this keeps it within about a second.
BATCH_UNITS_LIMIT = 2000
#: ``derive(spec, expand="auto")`` writes out the expanded forms only up to this many
#: parameters and layers: a 2-3-2 net gives about 1,000 characters per hidden weight,
#: while three layers already give 5,000-15,000 (2-3-3-1, 3-3-3-2).
EXPAND_MAX_PARAMS = 30
EXPAND_MAX_DEPTH = 2


def batch_level(ly):
    """True when the layer defines its symbolic form on the whole batch (``symbolic_batch``)."""
    return callable(getattr(type(ly), "symbolic_batch", None))


def expand_wanted(spec, expand):
    """Whether ``derive(spec, expand)`` writes out the expanded forms (:func:`~gradcheck.symbolic.derive.derive`)."""
    if expand in (True, "on"):
        return True
    if expand in (False, "off", None):
        return False
    if expand == "auto":
        return spec.n_params <= EXPAND_MAX_PARAMS and len(spec.layers) <= EXPAND_MAX_DEPTH
    raise ValueError(f"expand must be 'auto', 'on', 'off', True or False, got {expand!r}")


def limit_of(spec):
    """The parameter limit of "auto" for ``spec``: :data:`SYMBOLIC_LIMIT` over the largest
    :attr:`~gradcheck.catalogue.layers.base.Layer.symbolic_cost` of its layers (1 for a dense network on
    vectors: :data:`SYMBOLIC_LIMIT`; :data:`OTHER_LIMIT` with a convolution or a norm; less with a recurrent
    layer, by its steps)."""
    return int(SYMBOLIC_LIMIT / max((ly.symbolic_cost for ly in spec.layers), default=1.0))


def should_run(spec, mode="auto"):
    """(run?, one-line reason) for the symbolic check; ``mode`` is "auto", "on" or "off".

    "auto" runs up to :func:`limit_of` parameters (:data:`SYMBOLIC_LIMIT` for a dense network,
    :data:`OTHER_LIMIT` for others) and :data:`UNITS_LIMIT` units (:data:`BATCH_UNITS_LIMIT` samples × units with
    a batchnorm layer), "on" always, "off" never; a layer kind without a symbolic form is skipped whatever the
    mode, with its name.
    """
    spec = load_spec(spec)
    if mode == "off":
        return False, "symbolic check off (use --symbolic on or auto to run it)"
    if mode not in ("on", "auto"):
        raise ValueError(f"symbolic mode must be 'auto', 'on' or 'off', got {mode!r}")
    if spec.symbolic_gap():
        return False, spec.symbolic_gap()
    left_out = _left_out(spec)
    if mode == "on":
        return True, "symbolic check forced on" + (f", beyond auto's reach ({left_out[0]})" if left_out else "")
    if left_out:
        return False, f"symbolic check skipped: {left_out[0]} ({left_out[1]})"
    return True, f"symbolic check: {spec.n_params} parameters <= limit {limit_of(spec)}"


def _left_out(spec):
    """(why "auto" leaves SymPy out of ``spec``, what the user can do about it), or None where it runs it."""
    n, limit = spec.n_params, limit_of(spec)
    if n > limit:
        return f"{n} parameters > limit {limit}", "use --symbolic on to force"
    whole = [ly.kind for ly in spec.layers if batch_level(ly)]
    units = sum(ly.units for ly in spec.layers)
    if whole and spec.n_samples * units > BATCH_UNITS_LIMIT:
        why = (f"{whole[0]} ties the {spec.n_samples} samples together, so the whole batch is written out: N·units = "
               f"{spec.n_samples * units} > limit {BATCH_UNITS_LIMIT}")
        return why, "use --symbolic on to force, or a smaller batch"
    if units > UNITS_LIMIT:
        return f"{units} units per sample to write out > limit {UNITS_LIMIT}", "use --symbolic on to force"
    return None


def beyond_reach(spec):
    """Why "auto" leaves SymPy out of ``spec`` (its reason, without the advice to force it), or None where it runs
    it or where SymPy has no form for it: what ``--symbolic on`` forces.

    >>> from gradcheck.spec.parse import load_spec
    >>> beyond_reach(load_spec({"input": 2, "layers": [{"units": 1}]})) is None
    True
    >>> beyond_reach(load_spec({"input": 200, "layers": [{"units": 100}]}))
    '20100 parameters > limit 12000'
    """
    spec = load_spec(spec)
    left_out = None if spec.symbolic_gap() else _left_out(spec)
    return left_out[0] if left_out else None
