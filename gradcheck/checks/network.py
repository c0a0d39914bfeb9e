"""Check a network's gradients: reference backprop, finite differences, SymPy, and the user's own.

Finite differences are the judge; every analytic opinion (the reference backprop,
the SymPy derivation, the user's function) is compared with them element by element.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..diagnose.linetrace import trace_impl
from ..diagnose.network import diagnose, shape_hint
from ..errors import SpecError
from ..judge.compare import ATOL, RTOL, UNDERFLOW, TensorCheck, low_precision
from ..judge.outcome import CheckResult
from ..judge.subgradient import network_kinks
from ..judge.tolerances import tolerance
from ..numeric.kinks import merge_sides, unresolved
from ..numeric.methods import lookup
from ..numeric.network import grow_elements, numeric_gradient
from ..numeric.sampled import DIRECTIONS, SAMPLE, check_directions, choose_elements, resolve_mode
from ..reference.backprop import backprop
from ..reference.rounding import backprop_rounding, unseen
from ..reference.shapes import trace_shapes
from ..spec.arrays import parse_params
from ..spec.parse import load_spec
from ..usercode import isolation
from ..usercode.impl import call_impl, load_impl

__all__ = ["check_network", "assert_network"]


def check_network(spec, impl=None, *, seed=None, rtol=RTOL, atol=ATOL, symbolic="auto", step=None,
                  method="auto", params=None, data=None, trace_code=True, mode="auto", sample=SAMPLE,
                  directions=DIRECTIONS, progress=None, timeout=None) -> CheckResult:
    """Check the gradients of the network ``spec`` (a path, a dict or a :class:`~gradcheck.spec.parse.Spec`).

    ``impl`` is the user's backprop: a callable ``fn(params, X, Y) -> grads`` or a
    ``"module:function"`` / ``"path/file.py:function"`` string (default: the spec's
    ``impl`` key, if any). ``params`` (list of {"W", "b"} dicts) and ``data`` ((X, Y) in
    the convention's layout) override the spec's own. ``symbolic`` is "auto", "on" or
    "off". ``method`` is the finite-difference method ("auto" picks the most accurate one for
    the network; "central", "richardson", "complex-step"). When the user's gradients fail,
    ``trace_code`` runs the function once more under a line tracer
    (:mod:`gradcheck.diagnose.linetrace`): ``result.extra["line_trace"]`` holds the shape of every
    array after each of its lines, and the diagnosis names silent broadcasts and, for a
    wrong shape, the first line whose shape departs from the reference.
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
    spec = load_spec(spec)
    impl = spec.impl if impl is None else impl
    X, Y = spec.batch_data(seed) if data is None else (np.asarray(data[0], float), np.asarray(data[1], float))
    n = Y.shape[spec.conv.sample_axis]
    if params is None:
        params = spec.parameters(seed, n=n)
    else:  # validated like net.json's params: shapes named per layer, with hints
        given = parse_params(params if isinstance(params, list) else _listed(params), spec, spec.source)
        params = replace(spec, params=given).parameters(seed, n=n)
    loss, reference = backprop(spec, params, X, Y)
    ran, mode_note = resolve_mode(mode, spec, n, method)
    elements = _sample(spec, sample, seed) if ran == "sampled" else None
    numeric = numeric_gradient(spec, params, X, Y, step=step, method=method, elements=elements, progress=progress)
    rounding = backprop_rounding(spec, params, X, Y)
    hidden = unseen(spec, params, X, Y)
    opinions = {"backprop": reference, "numeric": numeric.grads}
    notes = [mode_note] if mode_note else []

    derivation, unevaluated = None, None
    if symbolic != "off" and spec.symbolic_gap():
        notes.append(spec.symbolic_gap())  # decided without loading SymPy
    elif symbolic != "off":
        from ..symbolic.derive import derive, should_run

        run, reason = should_run(spec, symbolic)
        if run:
            # Derived once: a derivation report of this result reuses it (with its expanded forms).
            derivation = derive(spec, expand="auto")
            sympy_says = derivation.opinion(params, X, Y, reference)
            opinions["symbolic"], unevaluated = sympy_says.grads, sympy_says.skipped
            if sympy_says.note:
                notes.append(sympy_says.note)
        elif reason:
            notes.append(reason)

    problems, impl_problems, impl_float32, stray, output, contained = [], {}, False, [], "", False
    user_fn = _Loaded(impl)
    if impl is not None:
        user, impl_problems, impl_float32, impl_notes, output, contained = _user_gradients(user_fn, spec, params, X,
                                                                                           Y, timeout)
        notes += impl_notes
        if "" in impl_problems:
            problems.append(impl_problems.pop(""))
        names = {name for name, *_ in spec.param_names()}
        stray = [text for key, text in impl_problems.items() if key not in names]  # keys no tensor has
        opinions["impl"] = user if user is not None else [dict.fromkeys(p) for p in params]

    checked = tuple(op for op in ("backprop", "symbolic", "impl") if op in opinions)
    found = []
    if ran == "sampled":
        judged = {op: opinions[op] for op in checked if op != "symbolic" and not (op == "impl" and problems)}
        found = check_directions(spec, params, (X, Y), judged, rounding, (directions, seed or 0), rtol,
                                 noise=numeric.noise)
        located = _located(spec, found)
        if any(idx.size for layer in located for idx in layer.values()):
            more = numeric_gradient(spec, params, X, Y, step=step, method=method, elements=located)
            for ours, theirs, sampled in zip(_parts(numeric), _parts(more), located):
                for part, extra in zip(ours, theirs):
                    for key, flat in sampled.items():
                        part[key].ravel()[flat] = extra[key].ravel()[flat]
            merge_sides(numeric, more, located)
            elements = [{key: np.union1d(elements[i][key], located[i][key]) for key in located[i]}
                        for i in range(len(located))]
        notes.append(_sampled_note(spec, elements, found))
    joint, joint_notes = {}, []
    if any(k.any() for layer in numeric.kinks for k in layer.values()):  # the kinks' values tested together
        judged = {op: opinions[op] for op in checked if not (op == "impl" and problems)}
        rtols = {op: tolerance("float32" if op == "impl" and impl_float32 else "float64").judged_rtol(rtol)
                 for op in judged}
        joint, joint_notes, _ = network_kinks(spec, params, X, Y, numeric, judged, rounding, rtols, atol)
    def judged():
        out = []
        for name, layer, kind, shape in spec.param_names():
            values = {op: opinions[op][layer].get(kind) for op in opinions}
            problem = impl_problems.get(name)
            got = values.get("impl")
            if impl is not None and not problems and got is not None and np.shape(got) != tuple(shape):
                hint = shape_hint(spec, layer, kind, np.shape(got), shape, n=n)
                problem = (f"{name}: your d{kind} has shape {np.shape(got)}, expected {tuple(shape)} "
                           f"(the shape of {kind}){': ' + hint if hint else ''}")
            out.append(TensorCheck(name, layer, kind, tuple(shape), values, checked, rtol, atol,
                                   kinks=numeric.kinks[layer][kind], problem=problem,
                                   bound=numeric.bounds[layer][kind] + UNDERFLOW
                                   + (0.0 if hidden is None else hidden[layer][kind]),
                                   rounding=tolerance().rounding(rounding[layer][kind]),
                                   float32=impl_float32, mask=_mask(elements, layer, kind, shape),
                                   unevaluated={"symbolic": unevaluated[layer][kind]} if unevaluated else {},
                                   unresolved=unresolved(numeric, layer, kind),
                                   joint={op: joint[op][layer][kind] for op in joint}))
        return out

    tensors = judged()
    # Elements the default steps leave inconclusive because the loss's rounding hides them: larger steps.
    if step is None and lookup(numeric.method).per_element_steps and grow_elements(spec, params, X, Y, numeric,
                                                                          _undecided(spec, tensors)):
        tensors = judged()
    n_kinks = sum(t.n_kinks for t in tensors)
    if n_kinks:
        where = sorted({text for ly in spec.layers for text in ly.kink_texts})  # what each kind's kinks are
        notes.append(f"{n_kinks} element(s) sit on a kink ({'; '.join(where)}), where the loss is not "
                     "differentiable: their one-sided derivatives differ. A value between them is reported as 'kink', "
                     "not failed, and the values at all kinks were tested together along directions over them "
                     "(a sub- or supergradient as a vector)")
    n_lost = sum(int(np.count_nonzero(t.unresolved)) for t in tensors if t.unresolved is not None)
    if n_lost:
        notes.append(f"{n_lost} element(s) sit so close to a kink that no step the loss's rounding resolves stays "
                     "clear of it: inconclusive where the value lies between the slopes seen, wrong outside them")
    lost = [f"a random directional derivative of your {op} disagrees with finite differences "
            f"({d.analytic[op]:.6g} vs {d.numeric:.6g}), but group testing could not narrow it down to elements "
            "(errors spread thinly over many elements); run with mode='full'"
            for d in found for op, ok in d.agrees.items() if not ok and not d.located.get(op)][:1]
    result = CheckResult(spec.name, tensors, tuple(opinions), checked, rtol, atol, notes=notes,
                         problems=problems + [t.problem for t in tensors if t.problem] + stray + lost,
                         diagnosis=joint_notes)
    result.extra.update(spec=spec, loss=loss, params=params, X=X, Y=Y, method=numeric.method, mode=ran,
                        directions=found)
    if output:
        result.extra["impl_output"] = output
    if derivation is not None:
        result.extra["derivation"] = derivation
    if "impl" in opinions and not result.passed and not problems:
        # Shape problems explain themselves; diagnose the values of the tensors that have none.
        wrong = {t.name for t in tensors if t.problem is None and not t.opinion_passed("impl")}
        if wrong and all(t.opinion_passed("backprop") for t in tensors):
            with np.errstate(all="ignore"):  # replayed mistakes may overflow where the network saturates
                result.diagnosis = joint_notes + diagnose(spec, params, X, Y, opinions["impl"], reference, wrong)
    if "impl" in opinions and not result.passed and trace_code and not contained:
        wrong = {t.name: np.shape(t.values["impl"]) for t in tensors
                 if t.values.get("impl") is not None and np.shape(t.values["impl"]) != t.shape}
        traced = _line_trace(user_fn, spec, params, X, Y, wrong, timeout)
        if isinstance(traced, str):
            result.notes.append(f"line trace skipped: {traced}")
        else:
            result.extra["line_trace"], sentences = traced
            result.diagnosis += sentences
    return result


class _Loaded:
    """The user's backprop, loaded on first use: in the child process that calls it when there is one, so that
    its module's own code (a loop, a print, an os._exit at import) is contained too."""

    def __init__(self, impl):
        self.impl, self.fn = impl, None

    def __call__(self):
        if self.fn is None:
            self.fn = load_impl(self.impl)
        return self.fn

    @property
    def who(self):
        target = self.impl if isinstance(self.impl, str) else getattr(self.impl, "__name__", "")
        return f"your backprop ({target})" if target and not target.startswith("<") else "your backprop"


def _user_gradients(user_fn, spec, params, X, Y, timeout):
    """(grads, problems, float32, notes, stdout, contained) of one call of the user's backprop (see
    :func:`call_impl`); ``contained``: the call was stopped (a time-out) or ended its process."""
    def task():
        fn, notes = _Kept(user_fn()), []
        grads, problems = call_impl(fn, spec, params, X, Y, notes)
        return grads, problems, low_precision(fn.returned), notes

    ran = isolation.run(task, timeout, user_fn.who)
    if ran.problem:
        return None, {"": ran.problem}, False, [], ran.output, True
    return (*ran.value, ran.output, False)


def _line_trace(user_fn, spec, params, X, Y, wrong, timeout):
    """(LineTrace, diagnosis sentences) of the user's backprop run under the line tracer, or why there is none."""
    def task():
        lines = trace_impl(user_fn(), spec, params, X, Y, trace_shapes(spec))
        sentences = lines.sentences(wrong)  # here: it finds the returned arrays by identity
        return (replace(lines, result=None, error=None, _origin={}) if timeout is not None else lines), sentences

    ran = isolation.run(task, timeout, user_fn.who)
    return ran.problem if ran.problem else ran.value


def _undecided(spec, tensors):
    """Per layer, {param: flat indices} of the elements some opinion finds inconclusive (not at a kink)."""
    out = [{key: np.zeros(0, dtype=int) for key in shapes} for shapes in spec.param_shapes()]
    for t in tensors:
        hit = np.zeros(t.shape, dtype=bool)
        for op in t.checked:
            ver = t.verdict(op)
            if ver is not None:
                hit |= ver == "inconclusive"
        if t.unresolved is not None:
            hit &= ~np.asarray(t.unresolved, bool)
        out[t.layer][t.kind] = np.flatnonzero(hit)
    return out


def _sample(spec, sample, seed):
    """Per layer, {param: flat indices} of the elements a sampled check perturbs (every row and column hit)."""
    rng = np.random.default_rng([seed or 0, 0x5A3])
    return [{key: choose_elements(shape, sample, rng) for key, shape in shapes.items()}
            for shapes in spec.param_shapes()]


def _located(spec, found):
    """Per layer, {param: flat indices} of the elements group testing named."""
    named = {}
    for d in found:
        for names in d.located.values():
            for name, index in names:
                named.setdefault(name, []).append(index)
    return [{key: np.asarray([np.ravel_multi_index(idx, shape) for idx in named.get(name, [])], dtype=int)
             for name, _, key, shape in layer}
            for layer in _names_by_layer(spec)]


def _names_by_layer(spec):
    layers = [[] for _ in spec.layers]
    for name, layer, kind, shape in spec.param_names():
        layers[layer].append((name, layer, kind, tuple(shape)))
    return layers


def _parts(numeric):
    """Per layer, the (grads, bounds, kinks) dicts of a NumericGradient."""
    return list(zip(numeric.grads, numeric.bounds, numeric.kinks))


def _mask(elements, layer, kind, shape):
    if elements is None:
        return None
    mask = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=bool)
    mask[elements[layer][kind]] = True
    return mask.reshape(shape)


def _sampled_note(spec, elements, found):
    checked = sum(len(idx) for layer in elements for idx in layer.values())
    bad = sum(1 for d in found if not all(d.agrees.values()))
    return (f"sampled check: {checked:,} of {spec.n_params:,} elements checked by finite differences (every row "
            f"and column of each weight), and {len(found)} random directional derivatives over all elements"
            + (f", {bad} of which disagree" if bad else ", all agreeing"))


class _Kept:
    """The user's backprop, keeping what it returned (to see its dtypes before they become float64)."""

    def __init__(self, fn):
        self.__wrapped__, self.returned = fn, []  # __wrapped__: where its errors are located

    def __call__(self, *args):
        out = self.__wrapped__(*args)
        self.returned.append(out)
        return out


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
