"""Check a network's gradients: reference backprop, finite differences, SymPy, and the user's own.

Finite differences are the judge; every analytic opinion (the reference backprop,
the SymPy derivation, the user's function) is compared with them element by element.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..catalogue.regularization import cost_kink_texts
from ..diagnose.intermediates import network_intermediates
from ..diagnose.network import diagnose, shape_hint
from ..errors import SpecError
from ..heap import keep_heap
from ..judge.bands import ATOL, RTOL, UNDERFLOW, judged_together, within_rtol
from ..judge.compare import TensorCheck
from ..judge.outcome import CheckResult
from ..judge.subgradient import network_kinks
from ..judge.tolerances import tolerance
from ..numeric.again import confirm_elements, grow_alone, grow_elements, refine_elements
from ..numeric.estimate import plan_sample, resolve_mode
from ..numeric.kinks import agreeing, bracketed, unresolved
from ..numeric.methods import lookup
from ..numeric.network import numeric_gradient
from ..numeric.sampled import DIRECTIONS, SAMPLE, check_directions
from ..reference.backprop import not_finite, reference_pass
from ..reference.rounding import backprop_rounding, low_precision_rounding, unseen
from ..spec.arrays import given_batch, given_targets, parse_params
from ..spec.parse import load_spec
from ..threads import blas_threads, check_threads
from . import narrow, refill
from .options import CheckOptions
from .symbolic import symbolic_stage, sympy_alone
from .user import Loaded, line_trace, user_gradients
from .verdicts import judged_rtol, kink_notes, outcome, tensor_check

__all__ = ["check_network", "assert_network"]

#: An element found wrong by a difference its finite difference's bound misses by at most this factor has its
#: loss's rounding measured again where its steps go, before the verdict stands: a slip is caught by far more
#: (a 1e-3 slip of a gradient resolved to 1e-9 misses by 1e6), a bound that rounding made too small by little.
CLOSE_CALL = 1e3
#: At most this many elements are measured again per check (the closest calls first): each costs eight losses.
CLOSE_CALLS = 4096
#: Above this many params, whether the allowance for the reference's rounding is needed is forecast before any
#: tensor is judged (see _tensors).
FORECAST_PARAMS = 2**18


def check_network(spec, impl=None, *, seed=None, rtol=RTOL, atol=ATOL, symbolic="auto", step=None,  # noqa: PLR0913
                  method="auto", params=None, data=None, trace_code=True, mode="auto", sample=SAMPLE,
                  directions=DIRECTIONS, progress=None, timeout=None, explain=False) -> CheckResult:
    """Check the gradients of the network ``spec`` (a path, a dict or a :class:`~gradcheck.spec.parse.Spec`).

    ``impl`` is the user's backprop: a callable ``fn(params, X, Y) -> grads`` or a
    ``"module:function"`` / ``"path/file.py:function"`` string (default: the spec's
    ``impl`` key, if any). ``params`` (list of {"W", "b"} dicts) and ``data`` ((X, Y) in
    the convention's layout; Y may be integer class labels where the loss takes them) override the spec's
    own, checked as net.json's are (a :class:`~gradcheck.errors.SpecError` names the param, X or Y, the shape
    expected and the shape given). ``symbolic`` is "auto", "on" or
    "off". ``method`` is the finite-difference method ("auto" picks the most accurate one for
    the network; "central", "richardson", "complex-step"). When the user's gradients fail,
    ``trace_code`` runs the function once more under a line tracer
    (:mod:`gradcheck.diagnose.linetrace`): ``result.extra["line_trace"]`` holds the shape of every
    array after each of its lines, and the diagnosis names silent broadcasts and, for a
    wrong shape, the first line whose shape departs from the reference. ``explain=True`` traces it even
    when it passes (the command line's ``--explain``).
    ``mode`` is "full" (every element), "sampled" (``sample`` elements per tensor, every
    row and column hit, plus ``directions`` random directional derivatives over all
    elements, with group testing to name the wrong ones: see :mod:`gradcheck.numeric.sampled`)
    or "auto" (full when it takes about 2 s or less). ``progress(done, total)``, if given, is
    told how far the finite differences are (see :mod:`gradcheck.progress`). ``timeout`` (seconds,
    as the command line's ``--timeout``) runs each call of ``impl`` in a child process
    (:mod:`gradcheck.usercode.isolation`): a call that does not return in time, ends the
    process or raises KeyboardInterrupt is a problem of the result, and what it prints to
    stdout is kept in ``result.extra["impl_output"]``; None (the default) calls it in this
    process. Returns a :class:`~gradcheck.judge.outcome.CheckResult`; ``result.extra["mode"]``
    is the mode that ran.

    >>> r = check_network({"input": 2, "layers": [{"units": 3, "activation": "tanh"},
    ...                                           {"units": 1, "activation": "linear"}]}, symbolic="off")
    >>> r.passed, [t.name for t in r.tensors]
    (True, ['W0', 'b0', 'W1', 'b1'])
    """
    opts = CheckOptions(rtol=rtol, atol=atol, method=method, step=step, mode=mode, sample=sample,
                        directions=directions, symbolic=symbolic, seed=seed, timeout=timeout, trace_code=trace_code,
                        progress=progress, explain=explain)
    keep_heap()
    with blas_threads(check_threads()):
        state = _prepare(load_spec(spec), impl, params, data, opts)
        for stage in STAGES:
            stage(state, opts)
    return state.result


@dataclass
class _Network:
    """What the stages of a network check know so far: its inputs, every opinion, and the evidence on them."""

    spec: object
    user_fn: Loaded | None  # the user's backprop, if any
    X: np.ndarray
    Y: np.ndarray  # the targets the losses compute with (class labels made one-hot)
    params: list
    given: np.ndarray | None = None  # Y as given (class labels stay labels): what the user's backprop receives
    loss: float | None = None
    reference: list | None = None  # the reference backprop's gradients
    done: object = None  # the ReferencePass they came from (its forward pass and δs, used again)
    mode: str = "full"  # the mode that runs
    elements: list | None = None  # per layer, {param: flat indices} a sampled check perturbs
    cover: bool = True  # whether that sample hits every row and column of each weight
    numeric: object = None  # the NumericGradient
    rounding: list | None = None  # the reference backprop's rounding, once asked for (see backprop_rounding)
    hidden: list | None = None
    opinions: dict = field(default_factory=dict)  # {opinion: per-layer gradients}
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # problems of the check as a whole
    derivation: object = None
    unevaluated: list | None = None  # per layer, the elements SymPy's forms could not evaluate
    sympy_met: frozenset = frozenset()  # the floating-point errors NumPy met evaluating SymPy's forms
    user: object = None  # UserGradients of the user's backprop
    stray: list = field(default_factory=list)  # problems with keys no tensor has
    found: list = field(default_factory=list)  # a sampled check's directional derivatives
    joint: dict = field(default_factory=dict)  # {opinion: per layer, elements the joint test at kinks finds wrong}
    joint_notes: list = field(default_factory=list)
    rounding32: list | None = None  # where the user's gradients are float32: a float32 backprop's rounding
    narrow: list | None = None  # per layer, {param: bool mask} of the elements whose slope at θ no step resolves
    result: CheckResult | None = None

    @property
    def n(self):
        return self.spec.samples_in(self.Y)

    @property
    def impl_float32(self):
        return self.user is not None and self.user.float32

    def checked(self):
        """The opinions judged against finite differences, in their order."""
        return tuple(op for op in ("backprop", "symbolic", "impl") if op in self.opinions)

    def judged(self, ops):
        """{opinion: gradients} of ``ops``, without the user's when its call failed as a whole."""
        return {op: self.opinions[op] for op in ops if not (op == "impl" and self.problems)}

    def judged_bound(self, own, layer, kind, flat=None):
        """The bound the judge gives numeric values of layer ``layer``'s ``kind`` whose own bound is ``own`` (the
        tensor's, or its element ``flat``'s): with the underflow floor, and the output errors the loss cannot show,
        where they are measured."""
        hidden = 0.0 if self.hidden is None else self.hidden[layer][kind]
        if flat is not None:
            hidden = float(np.broadcast_to(hidden, self.reference[layer][kind].shape).flat[flat])
        return own + UNDERFLOW + hidden

    def backprop_rounding(self):
        """Per layer, the rounding a correct float64 backprop may make in each element
        (:func:`~gradcheck.reference.rounding.backprop_rounding`), made on first use: a check whose every element
        agrees within the tolerance alone never needs it."""
        if self.rounding is None:
            self.rounding = backprop_rounding(self.spec, self.params, self.X, self.Y, done=self.done)
        return self.rounding


def _prepare(spec, impl, params, data, opts):
    """The network's data and params (the spec's, or those given, validated as net.json's)."""
    impl = spec.impl if impl is None else impl
    if data is None:
        X, Y_given = spec.batch_data(opts.seed)
    else:  # token ids stay integers
        X, Y_given = np.asarray(data[0], np.int64 if spec.tokens else float), given_targets(spec, data[1])
        given_batch(spec, X, Y_given)
    Y = spec.targets(Y_given)
    n = spec.samples_in(Y)
    for ly in spec.layers:
        ly.check_batch(n, spec.source)
    if params is None:
        params = spec.parameters(opts.seed, n=n)
    else:  # validated like net.json's params: shapes named per layer, with hints
        given = parse_params(params if isinstance(params, list) else _listed(params), spec, spec.source)
        params = replace(spec, params=given).parameters(opts.seed, n=n)
    return _Network(spec, None if impl is None else Loaded(impl), X, Y, params, Y_given)


def reference_stage(s, opts):
    """The reference backprop, and the mode that runs (with the sample of a sampled check)."""
    s.done = reference_pass(s.spec, s.params, s.X, s.Y)
    if (why := not_finite(s.spec, s.params, s.X, s.Y, s.done)) is not None:
        raise SpecError("", why, s.spec.source)
    s.loss, s.reference = s.done.loss, s.done.grads
    s.mode, mode_note = resolve_mode(opts.mode, s.spec, s.n, opts.method, opts.sample, opts.directions)
    if s.mode == "sampled":
        k, s.cover = opts.sample, True
        if opts.mode == "auto":  # within about SAMPLED_SECONDS (a sample asked for by name is taken as asked)
            k, s.cover, _ = plan_sample(s.spec, s.n, opts.method, opts.sample, opts.directions)
        s.elements = refill.sample(s.spec, k, opts.seed, s.cover)
    s.notes += [mode_note] if mode_note else []


def numeric_stage(s, opts):
    """Finite differences (the judge), and what the loss cannot show (output errors whose terms in it underflow)."""
    s.numeric = numeric_gradient(s.spec, s.params, s.X, s.Y, step=opts.step, method=opts.method, elements=s.elements,
                                 progress=opts.progress, done=s.done)
    s.hidden = unseen(s.spec, s.params, s.X, s.Y, fw=s.done.fw)
    s.opinions.update(backprop=s.reference, numeric=s.numeric.grads)


def user_stage(s, opts):
    """One call of the user's backprop: its gradients, or the problems that keep them from being compared."""
    if s.user_fn is None:
        return
    s.user = user_gradients(s.user_fn, s.spec, s.params, s.X, s.given, opts.timeout)
    s.notes += s.user.notes
    if "" in s.user.problems:
        s.problems.append(s.user.problems.pop(""))
    names = {name for name, *_ in s.spec.param_names()}
    s.stray = [text for key, text in s.user.problems.items() if key not in names]  # keys no tensor has
    if s.user.float32:
        s.rounding32 = low_precision_rounding(s.spec, s.params, s.X, s.Y)
    s.opinions["impl"] = s.user.grads if s.user.grads is not None else [dict.fromkeys(p) for p in s.params]


def sampled_stage(s, opts):
    """A sampled check's random directional derivatives, and the elements they name refilled."""
    if s.mode != "sampled":
        return
    judged = s.judged(op for op in s.checked() if op != "symbolic")
    s.found = check_directions(s.spec, s.params, (s.X, s.Y), judged, s.backprop_rounding(),
                               (opts.directions, opts.seed or 0), opts.rtol, noise=s.numeric.noise)
    s.elements = refill.refill(s.spec, s.params, s.X, s.Y, s.numeric, s.elements, s.found, opts)
    s.notes.append(refill.sampled_note(s.spec, s.elements, s.found, s.cover))


def kinks_stage(s, opts):
    """The values at all kinks, tested together as a sub- or supergradient."""
    if not any(k.any() for layer in s.numeric.kinks for k in layer.values()):
        return
    judged = s.judged(s.checked())
    rtols = {op: judged_rtol(opts.rtol, op == "impl" and s.impl_float32) for op in judged}
    s.joint, s.joint_notes, _ = network_kinks(s.spec, s.params, (s.X, s.Y), s.numeric, judged,
                                              s.backprop_rounding(), rtols, opts.atol)


def _tensors(s, opts):
    """Every tensor's :class:`~gradcheck.judge.compare.TensorCheck`. Judged first without the allowance for the
    reference backprop's rounding where it is not made yet: an allowance only widens tolerances, so a tensor whose
    every element is good without it has the same verdicts with it. The allowance is made where some element is
    not: in a network of more than :data:`FORECAST_PARAMS` params, before any tensor is judged where a comparison
    within rtol forecasts it (some of a million elements usually needs it), else after, and then only the tensors
    it concerns are judged again (let go of first: a million-param W's comparison arrays are a good part of a
    check's peak memory). In a smaller one the forecast would cost more than it saves."""
    names = [(name, layer, kind, tuple(shape)) for name, layer, kind, shape in s.spec.param_names()]
    if s.rounding is None and s.spec.n_params > FORECAST_PARAMS and not all(
            within_rtol(s.opinions[op][layer].get(kind), s.numeric.grads[layer][kind], opts.rtol, opts.atol)
            for _, layer, kind, _ in names for op in s.checked()):
        s.backprop_rounding()  # some element needs it, as forecast: made before any tensor is judged
    evidence = [_evidence(s, opts, *named) for named in names]
    if s.rounding is None:  # the first judgement: every tensor's values against its differences, in one pass
        for op in s.checked():
            picked = [k for k, e in enumerate(evidence) if _batched(e, op, s.impl_float32)]
            parts = [(evidence[k]["values"][op], evidence[k]["values"]["numeric"], evidence[k]["kinks"],
                      evidence[k]["bound"]) for k in picked]
            for k, judged in zip(picked, judged_together(parts, opts.rtol, opts.atol)):
                evidence[k].setdefault("judged", {})[op] = judged
    tensors = [tensor_check(opts=opts, **e) for e in evidence]
    again = [k for k, t in enumerate(tensors) if not t.settled] if s.rounding is None else []
    if again:
        for k in again:
            tensors[k] = None
        s.backprop_rounding()
        for k in again:
            tensors[k] = _tensor(s, opts, *names[k])
        for t in tensors:  # the settled ones carry the allowance too, as if it had been made first
            if t.rounding is None and t.layer is not None:
                t.rounding = tolerance().rounding(s.rounding[t.layer][t.kind])
    return tensors


def judge_stage(s, opts):
    """Every tensor's verdicts, and the result with its notes and problems. Elements some opinion finds
    inconclusive because the loss's rounding hides them at the default steps get growing steps, and are estimated
    again with their own rounding at the default and smaller steps (a loss near 0), and are judged again; those
    still inconclusive whose own rounding is far below their layer's take growing steps bounded by it; then
    elements found wrong by a difference their bound misses by little have the loss's rounding measured again
    where their steps go (:data:`CLOSE_CALL`), and are judged again; last, elements at which the reference is found
    wrong by a difference whose steps are wider than a feature of the loss are estimated again at smaller steps
    where those resolve them, and judged again (:mod:`gradcheck.checks.narrow`)."""
    tensors = _tensors(s, opts)
    if opts.step is None and lookup(s.numeric.method).per_element_steps and not all(t.settled for t in tensors):
        data = (s.spec, s.params, s.X, s.Y, s.numeric)
        undecided, judgeable = _undecided(s.spec, tensors)
        # Both, each keeping what improves the bound.
        if (grow_elements(*data, undecided, done=s.done) | refine_elements(*data, judgeable, done=s.done)):
            tensors = _tensors(s, opts)
        alone = not all(t.settled for t in tensors) and _undecided(s.spec, tensors)[1]
        if alone and grow_alone(*data, alone, s.reference, done=s.done):
            tensors = _tensors(s, opts)
        if confirm_elements(*data, _close_calls(s.spec, tensors), done=s.done):
            tensors = _tensors(s, opts)
    if narrow.look(s, tensors, opts):  # a slope that changes within the steps: smaller ones, where they resolve it
        resolved = narrow.finer(s, opts)
        tensors = _tensors(s, opts)
        if narrow.still_narrow(s, tensors, resolved):
            tensors = _tensors(s, opts)
    if "symbolic" in s.opinions and sympy_alone(s, opts):  # on the differences as they now stand
        tensors = _tensors(s, opts)
    lost = [f"a random directional derivative of your {op} disagrees with finite differences "
            f"({d.analytic[op]:.6g} vs {d.numeric:.6g}), but group testing could not narrow it down to elements "
            "(errors spread thinly over many elements); run with mode='full'"
            for d in s.found for op, ok in d.agrees.items() if not ok and not d.located.get(op)][:1]
    s.result = outcome(s.spec.name, tensors, s.opinions, s.checked(), opts,
                       notes=s.notes + kink_notes(tensors, lambda _: _on_kink(s.spec), "a kink", "the loss's rounding"),
                       problems=s.problems, later=s.stray + lost, diagnosis=list(s.joint_notes), spec=s.spec,
                       loss=s.loss, params=s.params, X=s.X, Y=s.Y, method=s.numeric.method,
                       mode=s.mode, directions=s.found, derivation=s.derivation,
                       impl_output=(s.user.output or None) if s.user is not None else None)


def _tensor(s, opts, name, layer, kind, shape):
    return tensor_check(opts=opts, **_evidence(s, opts, name, layer, kind, shape))


def _batched(evidence, op, float32):
    """True where ``op``'s values of a tensor may be judged with the others' in one pass: present, of the tensor's
    shape, and judged with the options' tolerances (not float32's)."""
    v = evidence["values"].get(op)
    return (v is not None and np.shape(v) == np.shape(evidence["values"]["numeric"])
            and not (float32 and op in TensorCheck.USER))


def _evidence(s, opts, name, layer, kind, shape):
    """What :func:`~gradcheck.checks.verdicts.tensor_check` is given for one tensor."""
    values = {op: s.opinions[op][layer].get(kind) for op in s.opinions}
    problem = s.user.problems.get(name) if s.user is not None else None
    got = values.get("impl")
    returned = s.user.extras.get("reshaped", {}).get(name, np.shape(got)) if s.user is not None else None
    if s.user is not None and not s.problems and got is not None and returned != shape:
        hint = shape_hint(s.spec, layer, kind, returned, shape, n=s.n)
        problem = (f"{name}: your d{kind} has shape {returned}, expected {shape} "
                   f"(the shape of {kind}){': ' + hint if hint else ''}"
                   + (f"; its values are compared as {shape}" if returned != np.shape(got) else ""))
    numeric = s.numeric
    return dict(name=name, shape=shape, values=values, checked=s.checked(), layer=layer, kind=kind,
                kinks=numeric.kinks[layer][kind], problem=problem,
                bound=s.judged_bound(numeric.bounds[layer][kind], layer, kind),
                rounding=None if s.rounding is None else tolerance().rounding(s.rounding[layer][kind]),
                float32=s.impl_float32, mask=refill.mask(s.elements, layer, kind, shape),
                rounding32=s.rounding32[layer][kind] if s.rounding32 is not None else None,
                unevaluated={"symbolic": s.unevaluated[layer][kind]} if s.unevaluated else {},
                unresolved=unresolved(numeric, layer, kind), bracketed=bracketed(numeric, layer, kind),
                agreeing=agreeing(numeric, layer, kind),
                joint={op: s.joint[op][layer][kind] for op in s.joint}, replaced=numeric.at_default_steps(layer, kind),
                narrow=None if s.narrow is None else s.narrow[layer][kind])


def _close_calls(spec, tensors):
    """Per layer, {param: flat indices} of the elements some opinion is found wrong or suspicious at by a difference
    their finite difference's bound misses by at most :data:`CLOSE_CALL` times (at most :data:`CLOSE_CALLS` of them,
    the closest first): their loss's rounding is measured again where their steps go
    (:func:`~gradcheck.numeric.again.confirm_elements`)."""
    out = [{key: np.zeros(0, dtype=int) for key in shapes} for shapes in spec.param_shapes()]
    misses = [(t.layer, t.kind, t.misses().ravel()) for t in tensors if t.layer is not None]
    ratios = np.concatenate([m for *_, m in misses]) if misses else np.zeros(0)
    close = np.sort(ratios[ratios <= CLOSE_CALL])
    if not len(close):
        return out
    limit = close[min(len(close), CLOSE_CALLS) - 1]
    for layer, kind, m in misses:
        out[layer][kind] = np.flatnonzero(m <= limit)[:CLOSE_CALLS]
    return out


def _on_kink(spec):
    where = sorted({text for ly in spec.layers for text in ly.kink_texts})  # what each kind's kinks are
    where += cost_kink_texts(spec)  # and the loss's
    return f"on a kink ({'; '.join(where)}), where the loss is not smooth"


def _undecided(spec, tensors):
    """Per layer, {param: flat indices} of the elements some opinion finds inconclusive (not at a kink); and the
    same without those inconclusive only because a correct backprop's rounding there is as large as the element
    (no finite difference, however fine, makes them judgeable)."""
    out = [{key: np.zeros(0, dtype=int) for key in shapes} for shapes in spec.param_shapes()]
    judgeable = [dict(layer) for layer in out]
    for t in tensors:
        hit, free = np.zeros(t.shape, dtype=bool), np.zeros(t.shape, dtype=bool)
        for op in t.checked:
            inconclusive = t.inconclusive(op)
            if inconclusive.any():
                hit |= inconclusive
                free |= inconclusive & ~t.swamped_elements(op)
        if t.unresolved is not None:
            hit &= ~np.asarray(t.unresolved, bool)
            free &= ~np.asarray(t.unresolved, bool)
        out[t.layer][t.kind], judgeable[t.layer][t.kind] = np.flatnonzero(hit), np.flatnonzero(free)
    return out, judgeable


def diagnose_stage(s, opts):
    """Why the user's values are wrong, for tensors of the right shape, when the reference itself passes."""
    result = s.result
    if "impl" not in s.opinions or result.passed or s.problems:
        return  # shape problems explain themselves
    reshaped = s.user.extras.get("reshaped", {})  # a (1, n) db is compared as (n,): its values tell the cause
    wrong = {t.name for t in result.tensors
             if (t.problem is None or t.name in reshaped) and not t.opinion_passed("impl")}
    if wrong and all(t.opinion_passed("backprop") for t in result.tensors):
        with np.errstate(all="ignore"):  # replayed mistakes may overflow where the network saturates
            result.diagnosis = s.joint_notes + diagnose(s.spec, s.params, s.X, s.Y, s.opinions["impl"],
                                                        s.reference, wrong)


def line_trace_stage(s, opts):
    """The user's backprop run once more under the line tracer, when it failed and was not stopped."""
    result = s.result
    if "impl" not in s.opinions or s.user.contained or not (opts.explain or (opts.trace_code and not result.passed)):
        return
    wrong = {t.name: np.shape(t.values["impl"]) for t in result.tensors
             if t.values.get("impl") is not None and np.shape(t.values["impl"]) != t.shape}
    wrong.update(s.user.extras.get("reshaped", {}))
    traced = line_trace(s.user_fn, s.spec, s.params, s.X, s.given, result.trace, wrong, opts.timeout)
    if isinstance(traced, str):
        result.notes.append(f"line trace skipped: {traced}")
    else:
        result.line_trace, sentences = traced
        (result.notes if result.passed else result.diagnosis).extend(sentences)


def intermediates_stage(s, opts):
    """The a, δ and loss the user's backprop returned beside its gradients, against the reference's: which departs
    first leads the diagnosis (or is a note, when the gradients pass)."""
    returned = s.user.extras.get("intermediates") if s.user is not None and not s.problems else None
    if not returned:
        return
    result = s.result
    values_pass = all(t.opinion_passed("impl") for t in result.tensors)  # a (1, n) db is a problem, not a value
    sentences, items = network_intermediates(s.spec, s.params, s.X, s.Y, returned, opts.rtol, opts.atol,
                                             values_pass)
    result.intermediates = items
    if result.passed:
        result.notes += sentences
    else:
        result.diagnosis[:0] = sentences


def _own(stage):
    """``stage`` run with NumPy's floating-point warnings off: gradcheck's own arithmetic, where params of 1e100 or
    more overflow on purpose (a loss not finite at a step is unmeasured, an inf bound or allowance inconclusive) and
    every such value is judged, not warned about. Stages that call the user's code leave its warnings as they are."""

    def quiet(s, opts):
        with np.errstate(all="ignore"):
            return stage(s, opts)

    quiet.__name__, quiet.__doc__ = stage.__name__, stage.__doc__
    return quiet


#: The stages of a network check, in order; each reads and extends the state.
STAGES = (_own(reference_stage), _own(numeric_stage), symbolic_stage, user_stage, sampled_stage, _own(kinks_stage),
          _own(judge_stage), diagnose_stage, intermediates_stage, line_trace_stage)


def _listed(params):
    try:
        return list(params)
    except TypeError:
        raise SpecError("params", f"expected a list of {{'W': array, 'b': array}} dicts, one per layer, got "
                                  f"{type(params).__name__}") from None


def assert_network(spec, impl=None, **kwargs) -> CheckResult:
    """Like :func:`check_network`, but raise ``AssertionError`` with the report when it fails."""
    result = check_network(spec, impl, **kwargs)
    if not result.passed:
        raise AssertionError("gradient check failed\n" + str(result))
    return result
