"""A layer's backward as the gradient of one scalar: ``L = Σ_k sum(out_k · dout_k)`` with a random dout per output.

The layer is a pair of functions (:class:`Functions`, arguments read by
:class:`~gradcheck.usercode.signature.Signature`) or an object with ``forward``/``backward``
(:class:`~gradcheck.usercode.objects.LayerObject`); both give the same small interface:
``names``, ``arrays``, ``forward(arrs) -> (outputs, state)``, ``backward(douts, state) ->
gradients`` and ``traced(douts, state) -> (fn, args)`` for the line tracer. :class:`LayerCheck`
turns either into the :class:`~gradcheck.checks.scalar.Scalar` the stages check.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..diagnose.against import compare_with_reference
from ..diagnose.linetrace import trace_call
from ..diagnose.recognise import Case, causes
from ..errors import describe_exception
from ..judge.bands import low_precision
from ..usercode import autograd, calls, tensors
from ..usercode.signature import ReturnError, split_outputs
from . import scalar

__all__ = ["DOUT_STREAM", "Functions", "LayerCheck"]

#: Salt for dout's random stream, so that dout never equals data a test drew from default_rng(seed).
DOUT_STREAM = 0xD0D7


def describe(e, who):
    """One line for an exception: a structure problem as it is, the user's own error at the user's line."""
    if isinstance(e, calls.NotScalarError):
        return str(e)
    return f"{who} raised {describe_exception(e)}"


class Functions:
    """CS231n-style ``forward(x, *params)`` and ``backward(dout_1, …, dout_k, cache)``."""

    def __init__(self, forward, backward, sig):
        self.fwd, self.bwd, self.sig = forward, backward, sig
        self.names, self.arrays = sig.names, sig.arrays
        self.label_fn = forward

    def case_inputs(self):
        """(forward's inputs, {input index: tensor name}) as the layer recogniser sees them."""
        inputs = [tensors.to_numpy(v) for v in self.sig.inputs]
        it = iter(self.arrays)
        inputs = [next(it) if d else v for v, d in zip(inputs, self.sig.differentiated)]
        return inputs, dict(zip([i for i, d in enumerate(self.sig.differentiated) if d], self.names))

    def forward(self, arrs):
        outs, cache = split_outputs(self.fwd(*self.sig.call_args(arrs)))
        return outs, (self.sig.default_cache() if cache is None else cache)

    def backward(self, douts, cache):
        like = next((v for v in self.sig.inputs if tensors.is_tensor(v) and tensors.is_float(v)), None)
        return self.bwd(*self._args([tensors.like(d, like) for d in douts], cache))

    def _args(self, douts, cache):
        """backward's arguments: ``(*douts, cache)``, or the douts alone for a backward that takes no cache (a bound
        method such as ``layer.backward_pass(dout)`` that keeps its own state)."""
        n = _positional(self.bwd)
        return (*douts,) if n is not None and n <= len(douts) else (*douts, cache)

    def autograd(self, douts):
        """torch autograd's gradients (or None and why), where tensors were given."""
        return autograd.layer_vjp(self.fwd, self.sig, douts) if self.sig.torch else (None, None)

    def traced(self, douts, cache):
        return self.bwd, self._args(douts, cache)


class LayerCheck:
    """The state of a layer check: forward and backward called once at the given point with random douts."""

    def __init__(self, layer):
        self.layer = layer
        self.douts = None
        # Every forward starts NumPy's global random state from here: a dropout mask drawn with np.random is the
        # same at every point (it is kept in the cache for backward).
        self.random_state = np.random.get_state()
        self.draws = False

    def outputs(self, arrs):
        np.random.set_state(self.random_state)
        outs, state = self.layer.forward(arrs)
        self.draws = self.draws or _drew(self.random_state)
        return [_as_array(o) for o in outs], state

    def loss(self, arrs):
        """L = Σ_k sum(out_k · dout_k): its gradient is what backward computes."""
        outs, _ = self.outputs(arrs)
        if len(outs) != len(self.douts):
            raise ReturnError(f"forward returned {len(outs)} outputs at a perturbed point, {len(self.douts)} at x")
        total = 0.0
        stepped = any(np.iscomplexobj(a) for a in arrs)  # a complex step: the output's imaginary part is the answer
        for k, (o, d) in enumerate(zip(outs, self.douts)):
            o = o if stepped and np.iscomplexobj(o) else np.real(o).astype(np.float64)  # else its real part
            if o.shape != d.shape:
                raise ReturnError(f"forward's output {k} changed shape from {d.shape} to {o.shape}")
            total = total + np.sum(o * d)
        return total

    def state(self, name, seed):
        ly = self.layer
        state = scalar.Scalar(name or calls.label(getattr(ly, "label_fn", None), "layer"), self.loss, ly.arrays,
                              ly.names, "forward", retrace=self.retrace)
        try:
            outs, cache = self.outputs([a.copy() for a in ly.arrays])
            state.f_float32 = any(low_precision(o) for o in outs)
            outs = [np.real(np.asarray(o)).astype(np.float64) for o in outs]  # a complex output: its real part
        except (Exception, SystemExit) as e:
            state.problems.append(describe(e, "forward"))
        else:
            rng = np.random.default_rng([seed, DOUT_STREAM])
            self.douts = [rng.standard_normal(o.shape) for o in outs]
            case = Case(*ly.case_inputs(), outs, self.douts)
            state.recognise = lambda user, numeric, failing: causes(case, user, numeric, failing)
            if hasattr(ly, "autograd"):
                state.autograd, why = ly.autograd(self.douts)
                state.notes += [why] if why else []
            state.notes += getattr(ly, "notes", [])
            if self.draws:
                state.notes.append("forward draws from NumPy's global random state (a dropout mask?): every "
                                   "evaluation starts it from the same state, so each draws the same numbers")
            leak = getattr(ly, "leak", None)
            note = leak() if leak else None
            if note:
                state.notes.append(note)
            self._backward(state, cache)
        state.skip_numeric = self.douts is None
        dout = None if self.douts is None else (self.douts[0] if len(self.douts) == 1 else self.douts)
        state.carried = {"dout": dout}
        return state

    def _backward(self, state, cache):
        ly = self.layer
        try:
            grads = tensors.to_numpy(ly.backward([d.copy() for d in self.douts], cache))
        except (Exception, SystemExit) as e:
            state.problems.append(describe(e, "backward"))
            state.tensor_problems = {nm: f"d{nm}: no analytic gradient (backward failed, see above)"
                                     for nm in ly.names}
            return
        if len(ly.arrays) == 1 and not isinstance(grads, (tuple, list)):
            grads = (grads,)
        state.float32 = low_precision(grads)  # the gradients' own dtype, not the inputs'
        state.analytic, state.tensor_problems, structure = calls.gradients(
            grads, None, ly.names, ly.arrays, "backward", "layer", out_shape=self.douts[0].shape,
            returned=state.returned)
        state.problems += structure

    def retrace(self):
        """Backward run once more, from a fresh forward, under the line tracer."""
        ly = self.layer
        _, fresh = ly.forward([a.copy() for a in ly.arrays])
        fn, args = ly.traced([d.copy() for d in self.douts], fresh)
        known = [a.shape for a in ly.arrays] + [d.shape for d in self.douts]
        return compare_with_reference(trace_call(fn, *args), [], self.douts[0].shape[0] if self.douts[0].ndim else 1,
                                      known, unlike="none of the inputs' shapes or dout's")


def _drew(before):
    """Whether NumPy's global random state moved on from ``before``."""
    now = np.random.get_state()
    return now[2] != before[2] or not np.array_equal(now[1], before[1])


def _positional(fn):
    """How many positional arguments ``fn`` takes (None: any number, or unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _as_array(o):
    arr = np.asarray(tensors.to_numpy(o))
    if arr.dtype.kind not in "biufc":
        raise ReturnError(f"forward returned {type(o).__name__} as an output; expected a numeric array (out, "
                          "(out, cache) or (out_1, …, out_k, cache))")
    return arr
