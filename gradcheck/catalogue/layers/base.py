"""What every layer kind shares: the :class:`Layer` interface, the recorder behind the shape trace, helpers.

A layer of a validated network is an *instance* of its kind's class, configured by
net.json: ``layers[i]`` of a :class:`~gradcheck.spec.parse.Spec` is e.g. ``Conv2d(index=0,
in_shape=(1, 6, 6), out_shape=(2, 4, 4), activation="relu", options={...})``. Shapes
of one sample are ``(features,)`` for a vector and ``(C, H, W)`` for an image.

Batched arrays: a batch of vectors is laid out by the convention ((features, N) in the
column convention, (N, features) in the row convention); a batch of images is
(N, C, H, W) in both. Every array method accepts leading *stack* axes (P, ...) on the
params and on ``a_prev`` (finite differences evaluate many perturbed networks at once).

To add a layer kind, write one subclass in one new module of this package, set ``kind``,
``keys`` and ``params`` and implement the methods below (a subclass with a ``kind`` of its
own registers itself in :data:`LAYER_KINDS`; see :mod:`gradcheck.catalogue` for the steps):

- ``build(cls, read, index, in_shape, bias)``: validate the JSON keys (``read`` is a
  :class:`~gradcheck.spec.parse.KeyReader`), return the configured layer (or raise
  :class:`~gradcheck.errors.SpecError` naming the layer, the formula and a fix);
- ``param_shapes(conv, bias)`` and ``init(rng, conv, bias)``: trainable params;
  ``buffer_shapes(conv, n)``, ``buffers(seed, conv, n)`` and ``check_buffer``: fixed
  arrays for a batch of n that are passed in ``params`` but get no gradient (the
  dropout mask); ``check_batch(n, source)``: refuse a batch size the layer cannot take;
- ``forward(params, a_prev, conv, bias, tape)`` -> ``(z, cache)``;
  ``backward(delta, cache, params, conv, bias, tape)`` -> ``(grads, da_prev)``, where
  ``delta`` = ∂C/∂z, ``grads`` has one array per trainable param and
  ``da_prev`` = ∂C/∂a_prev;
- ``size_formulas()``: how each output size follows from the input (shape trace);
- optionally, for finite differences that recompute only what a perturbation changes
  (:mod:`gradcheck.numeric.perturbed`): ``unit_change(params, key, index, delta, a_in, z,
  conv, bias)``, the one output unit each element of a param touches and that unit's
  new z over the batch, and ``input_change(params, z, unit, da_row, conv, bias)``,
  this layer's z when one unit of its input moves;
- optionally ``backward_magnitude(size, cache, params, conv, bias, a_prev=None)``: backward
  on magnitudes for the rounding estimate of a backprop (``a_prev``: |the layer's input|);
  a kind whose backward subtracts terms (a norm's means) adds them here instead;
- ``kink_state(a_prev, z, conv, params=None)``: a discrete state of the forward pass whose
  change under a finite-difference step means the step crossed a point where the layer is
  not differentiable (default: which side of the activation's kinks each z is on;
  max pooling adds which element of each window is the maximum; a recurrent layer with
  relu inside, every step's side, recomputed from ``params``);
- the symbolic form, used by :mod:`gradcheck.symbolic.derive`: ``symbolic_z(params, a_prev,
  conv, bias)`` maps SymPy symbols of the params (object arrays shaped like the params,
  plus one sample's buffer symbols such as a dropout mask) and a flat list of SymPy
  a_prev entries of one sample (C order of ``in_shape``) to the flat list of that
  sample's z entries (C order of ``out_shape``); an optional ``define(letter, index,
  expr)`` argument names intermediate values (a norm's μ and σ²). A layer whose output
  for one sample depends on the other samples (``per_sample = False``: batchnorm)
  defines ``symbolic_batch(params, a_prev, conv, bias, define)`` instead, on a list of
  samples. ``unit_input(kind, index, conv)`` names the z entry (and input entry, or
  None) a param element feeds, where that is one entry (dense). A kind without a form
  is reported "skipped" by the symbolic opinion (see :attr:`Layer.has_symbolic`);
- its facts, asked instead of its name: ``mistakes`` (its known mistakes, see :mod:`.mistakes`),
  ``kink_text`` (what its forward pass is not differentiable at), ``shape_hint(key, got,
  expected, n)`` (why a gradient of its own params has the wrong shape), ``units_of`` and
  ``unit_word`` (the output unit a param element feeds), ``conv_fact``/``pool_fact`` (its local
  fact in derivation reports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from ..activations import ACTIVATION_KEYS, ACTIVATIONS

__all__ = ["LAYER_KINDS", "Layer", "Recorder", "Tokens", "image_axes", "sequence_axes"]

#: JSON ``type`` -> layer class: every subclass of :class:`Layer` that sets a ``kind`` of its own, in the order the
#: kinds are defined (see ``layers/__init__.py``).
LAYER_KINDS: dict = {}
#: What a parameter of a kind that is not :attr:`Layer.symbolic_dense` (or of one on sequences or images) costs
#: the SymPy opinion, in dense weights (a 2,580-parameter conv net took as long as a 30,000-parameter dense one).
SYMBOLIC_OTHER_COST = 12.0


def image_axes(shape):
    """True when a per-sample shape is an image (C, H, W)."""
    return len(shape) == 3


def sequence_axes(shape):
    """True when a per-sample shape is a sequence (T, D): a batch is (N, T, D) in both conventions."""
    return len(shape) == 2


class Tokens(tuple):
    """The per-sample shape (T,) of token ids in [0, vocab): a batch is (N, T) integers in both conventions.

    >>> t = Tokens(3, 27)
    >>> t, t.vocab, len(t)
    ((3,), 27, 1)
    """

    def __new__(cls, steps, vocab):
        out = super().__new__(cls, (steps,))
        out.vocab = vocab
        return out

    def __getnewargs__(self):
        return (self[0], self.vocab)


def feature_axis(shape, conv):
    """The axis of a batch of per-sample ``shape`` that holds its features: the convention's unit axis for vectors,
    the last axis of sequences (N, T, D), the channel axis of images (N, C, H, W)."""
    return conv.unit_axis if len(shape) == 1 else (-3 if len(shape) == 3 else -1)


@dataclass(frozen=True)
class Layer:
    """One configured layer: its kind (class), position, per-sample shapes and JSON options."""

    index: int
    in_shape: tuple
    out_shape: tuple
    activation: str = "linear"
    options: dict = field(default_factory=dict)
    formulas: tuple = field(default=(), compare=False)
    #: Where the layer's input(s) come from: earlier layers' indices, -1 for the network input (set by the spec:
    #: the previous layer unless net.json names ``inputs``).
    inputs: tuple = ()
    #: The layer's ``name`` in net.json ("" when it has none).
    name: str = ""

    kind: ClassVar[str] = ""
    #: JSON keys besides "type", with their defaults (``...`` marks a required key).
    keys: ClassVar[dict] = {}
    #: Trainable params, in the order of ``params[i]`` and of the gradients.
    params: ClassVar[tuple] = ()
    #: The params that are weights, the ones a regularisation term penalises (never biases, γ or β).
    weights: ClassVar[tuple] = ()
    #: False when one sample's output depends on the other samples or on the batch's layout.
    per_sample: ClassVar[bool] = True
    #: True when one sample's output depends on the other samples' inputs (batchnorm). A dropout mask is
    #: tied to each sample's place (not ``per_sample``) but does not mix samples.
    mixes_samples: ClassVar[bool] = False
    #: True when a stack of perturbed networks runs faster folded into one batch of P·N samples than as a stack
    #: (one big call instead of P small ones); dense layers multiply a stack directly, which is faster still.
    folds: ClassVar[bool] = True
    #: What each quantity of the shape trace is, for this kind (merged over the generic meanings).
    meanings: ClassVar[dict] = {}
    #: True when forward is analytic in its inputs and params and evaluates complex arrays (only + − × ÷,
    #: exp, log, ... with branches taken on real parts), so complex-step finite differences may run through it.
    complex_step: ClassVar[bool] = False
    #: False where a kind's ``unit_change`` or ``output_change`` does not apply to this configuration (a dense layer
    #: on a sequence, an rnn whose cell has kinks).
    structured: ClassVar[bool] = True
    #: True when ``backward`` takes a stack of δs (a leading axis before the batch's) with the forward cache of one
    #: network, and returns the stack's gradients and ∂C/∂a_prev with that axis in front: the rounding allowance
    #: then carries all its random draws down in one pass.
    stacks_backward: ClassVar[bool] = False
    #: True when the params' gradients are linear in the forward cache (δ·a_prev summed): an error of the layer's
    #: input moves them by ``backward_magnitude`` on that error's cache (the rounding allowance's inputs, as a
    #: correct backprop's own forward pass rounds them).
    cache_linear: ClassVar[bool] = False
    #: True when the kind takes two or more inputs: ``build`` gets a list of their shapes, ``forward`` a list of
    #: arrays, and ``backward`` returns a list of ∂C/∂a_prev, one per input.
    multi_input: ClassVar[bool] = False
    #: True when the kind reads token ids (its input is :class:`Tokens`); no other kind may take them.
    takes_tokens: ClassVar[bool] = False
    #: The kind's known mistakes (:class:`~.mistakes.KnownMistake`), replayed and named by the diagnosis.
    mistakes: ClassVar[tuple] = ()
    #: What the kind's forward pass is not differentiable at, in words ("" when only the activation has kinks).
    kink_text: ClassVar[str] = ""
    #: What one output channel of the kind is called in sentences ("unit", "filter").
    unit_word: ClassVar[str] = "unit"
    #: True when derivation reports show the local fact of a convolution for this kind.
    conv_fact: ClassVar[bool] = False
    #: The name of the window reduction whose local fact reports show ("max", "avg"), or None; a kind that sets it
    #: defines ``window_form(window)``, one window's output as a SymPy expression of its symbols, which
    #: :func:`~gradcheck.symbolic.local_facts.pool_fact` differentiates.
    pool_fact: ClassVar[str | None] = None
    #: True when, on vectors, one of the kind's params costs the SymPy opinion what a dense weight costs (it
    #: enters one unit's sum once); see :attr:`symbolic_cost`.
    symbolic_dense: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):  # a kind of its own: not a shared base (_Pool2d) nor a mistaken copy of a kind
            LAYER_KINDS.setdefault(cls.kind, cls)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def build(cls, read, index, in_shape, bias):
        raise NotImplementedError

    @classmethod
    def json_keys(cls):
        """The kind's JSON keys with defaults: its ``keys`` and, where it names an activation, the keys an
        activation may take (``slope``, ``alpha``; default None, the activation's own)."""
        return {**cls.keys, **({k: None for k in ACTIVATION_KEYS} if "activation" in cls.keys else {})}

    def with_activation_keys(self, read):
        """The layer with its activation's parameters read from its JSON object (``read``: a KeyReader) into
        ``options`` (defaults written out); a SpecError for a key its activation does not take."""
        if not self.has_activation:
            return self
        values = read.activation_settings(ACTIVATIONS[self.activation])
        return replace(self, options={**self.options, **values}) if values else self

    def to_json(self):
        """The layer's net.json object (defaults written out; its ``name`` and ``inputs`` are the spec's)."""
        out = {"type": self.kind, **{k: v for k, v in self.options.items() if k not in ACTIVATION_KEYS}}
        if "activation" in self.keys:
            out["activation"] = self.activation
            out.update((k, v) for k, v in self.options.items() if k in ACTIVATION_KEYS)
        return out

    # -- facts -----------------------------------------------------------------------------
    @property
    def layer(self):
        """The catalogue entry: the layer itself."""
        return self

    @property
    def act(self):
        """The :class:`~gradcheck.catalogue.Activation` applied after z (identity for layers without one),
        configured with the layer's parameters of it (a leaky_relu's ``slope``)."""
        entry = ACTIVATIONS[self.activation]
        if not entry.params:
            return entry
        return entry.configured(**{k: self.options[k] for k in entry.settings if k in self.options})

    def unit_axis(self, conv):
        """The axis of this layer's output batch that holds its units (softmax's axis): see :func:`feature_axis`."""
        return feature_axis(self.out_shape, conv)

    @property
    def fan_in(self):
        """Entries of one input sample."""
        return math.prod(self.in_shape)

    @property
    def units(self):
        """Entries of one output sample."""
        return math.prod(self.out_shape)

    @property
    def work(self):
        """Array entries one sample's forward pass of this layer touches (sizes memory-bounded chunks)."""
        return self.units + self.fan_in

    @property
    def forward_macs(self):
        """Multiply-adds of one sample's forward pass (a check's time estimate): by default one per output entry
        (an activation, a norm, a flatten's copy); kinds with weights count their products."""
        return self.units

    @property
    def change_macs(self):
        """Multiply-adds per sample that recompute this layer when one of its params moved (a check's time
        estimate): by default its output rewritten; a layer whose every output depends on every param (recurrent,
        attention, dense on a sequence) runs its whole forward pass again."""
        return self.units

    @property
    def row_reductions(self):
        """Reductions along a short axis one sample's forward pass makes, one per row reduced (a norm's mean and
        variance of each step, a softmax's max and sum of each row; a check's time estimate): NumPy's fixed cost
        per row reduced, about 15 ns, is most of the work where the rows are a few entries long."""
        return 0

    @property
    def change_entries(self):
        """Array entries per sample written when one of its params moved (a check's time estimate): those of its
        :attr:`change_macs` and its output, at most its :attr:`work`."""
        return min(self.work, self.change_macs + self.units)

    def weight_mask(self, key, conv, bias):
        """Which entries of the weight param ``key`` a regularisation term penalises: None for all of them."""
        return None

    @property
    def kinked(self):
        """True when the layer has points where it is not differentiable (see :meth:`kink_state`)."""
        return bool(self.act.kinks)

    @property
    def kink_texts(self):
        """What the layer is not differentiable at, in words: its activation's kinks ("relu at 0") and its kind's
        own ("a max-pool window's maximum"); () when it is smooth."""
        return tuple(t for t in (self.act.kink_text, self.kink_text) if t)

    @property
    def has_activation(self):
        return "activation" in self.keys

    @property
    def has_symbolic(self):
        """True when this kind defines its symbolic form (see the module docstring)."""
        return type(self).symbolic_z is not Layer.symbolic_z or callable(getattr(type(self), "symbolic_batch", None))

    @property
    def symbolic_cost(self):
        """What one of this layer's params costs the SymPy opinion, in dense weights on vectors (``symbolic auto``
        divides its limit by the network's largest): a convolution's weight enters every output position and a
        norm's every sample, about :data:`SYMBOLIC_OTHER_COST` times as much; a recurrent weight every step."""
        return 1.0 if self.symbolic_dense and len(self.out_shape) == 1 else SYMBOLIC_OTHER_COST

    def describe(self):
        """``conv2d 1x6x6 -> 2x4x4, relu``."""
        sizes = f"{'x'.join(map(str, self.in_shape))} -> {'x'.join(map(str, self.out_shape))}"
        return f"{self.kind} {sizes}" + (f", {self.act.label}" if self.has_activation else "")

    def size_formulas(self):
        """Lines like ``conv2d 0: H' = (6 + 2·0 − 3)/1 + 1 = 4`` (none for layers that keep the size)."""
        return list(self.formulas)

    # -- arrays ------------------------------------------------------------------------------
    def param_shapes(self, conv, bias):
        return {}

    def param_layout(self, name, conv, bias):
        """The shape of param ``name`` in words, e.g. "(units, fan_in) in the column convention" ("" if none)."""
        return ""

    def init(self, rng, conv, bias):
        return {}

    def buffer_shapes(self, conv, n):
        return {}

    def buffers(self, seed, conv, n):
        return {}

    def check_buffer(self, key, arr, path, source):
        """Raise a SpecError if a given buffer's values make no sense (its shape is already checked)."""

    def check_batch(self, n, source=None):
        """Raise a SpecError if the layer cannot take a batch of ``n`` samples (statistics over too few values)."""

    def forward(self, params, a_prev, conv, bias, tape=None):
        raise NotImplementedError

    def backward(self, delta, cache, params, conv, bias, tape=None):
        raise NotImplementedError

    def rounding_terms(self, delta, fw, params, conv):
        """|x|·|∂C/∂x| of the values this layer rounds inside its forward pass besides its z and a (a norm's mean
        and variance), flat arrays, for the loss's first-order rounding model
        (:func:`~gradcheck.numeric.noise.forward_rounding`); ``delta`` is ∂C/∂z, ``fw`` the forward pass
        (:class:`~gradcheck.reference.backprop.Forward`). Empty: nothing but z and a."""
        return ()

    def rounded_output(self, z, a):
        """The layer's output a as the loss's rounding model counts it (its rounding ε/2 times this): |a|, and
        where the activation's form rounds beyond ε·|a| (:attr:`~gradcheck.catalogue.activations.Activation.
        output_rounding`: gelu_tanh's 1 + tanh(u) cancels where z ≪ 0, so that a of 4e-6 rounds at 2e-16, in
        steps a finite difference sees), that too."""
        extra = self.act.output_rounding if self.has_activation else None
        return np.abs(a) if extra is None else np.abs(a) + 2 * extra(z, a)

    def own_rounding_terms(self, delta, fw, params, conv):
        """Like :meth:`rounding_terms`, the values this layer rounds inside its forward pass besides its z and a,
        but those that move with its own params too (a recurrent layer's gates and states at every step), so that
        they count when the layer's own elements move. Empty: none."""
        return ()

    def output_rounding(self, cache, params, a_prev, conv):
        """How far a correct forward pass's output of this layer may be from this one's beyond ε·|a|, in units of
        ε (shaped like z), where the layer magnifies its own rounding (a norm over values alike: x − μ is a few
        ulps of x, times 1/√(σ² + ε)); the gradients of the layers it feeds multiply it. None: ε·|a| only."""
        return None

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        """:meth:`backward` on magnitudes (all arguments ≥ 0, ``a_prev`` the layer's input's), for the rounding
        estimate of a backprop (:func:`~gradcheck.reference.rounding.backprop_rounding`): a kind whose backward
        subtracts terms overrides it to add them instead."""
        return self.backward(size, cache, params, conv, bias)

    def shape_hint(self, key, got, expected, n):
        """Why a gradient of param ``key`` has shape ``got`` instead of ``expected`` (``n`` samples checked), for a
        kind whose params have shapes of their own (a norm's γ and β); None where the generic W and b hints of the
        diagnosis apply."""
        return None

    def units_of(self, params, key, index, conv):
        """The output unit (filter) each flat element ``index`` of param ``key`` feeds, where it feeds one unit's
        z only (dense and conv layers), else None."""
        return None

    def kink_state(self, a_prev, z, conv, params=None):
        """Sides of the activation's kinks for every z (None when the activation has no kink). ``params``: the
        layer's params (maybe stacked), for a kind whose kinks lie inside it, before its output."""
        kinks = self.act.kinks
        if not kinks:
            return None
        return np.stack([np.sign(z - k) for k in kinks], axis=-1)

    def on_kink(self, a_prev, z, conv, params=None):
        """Where the forward pass sits exactly on a kink, entry by entry of :meth:`kink_state` (None for a kind
        without kinks): here a sign of 0, z at the kink itself. A step either way leaves such an entry; where an
        entry is not on its kink and steps both ways reach one same other state, the piece θ is on is thinner than
        the steps and none of them sees it."""
        state = self.kink_state(a_prev, z, conv, params)
        return None if state is None else state == 0

    # -- symbolic form -----------------------------------------------------------------------
    def symbolic_z(self, params, a_prev, conv, bias):
        raise NotImplementedError(f"{self.kind} has no symbolic form yet")

    @staticmethod
    def _named(define, letter, t, exprs):
        """Step t's values ``exprs`` as named intermediates (``define`` from the derivation), or as they are."""
        return list(exprs) if define is None else [define(letter, (t, j), e) for j, e in enumerate(exprs)]

    def unit_input(self, kind, index, conv):
        raise NotImplementedError(f"{self.kind} has no symbolic form yet")

    def __repr__(self):
        return f"{type(self).__name__}({self.index}: {self.describe()})"


class Recorder:
    """Passes results through; on a tape, records (name, expression, operand shapes, result shape)."""

    def __init__(self, tape, phase):
        self.tape, self.phase = tape, phase

    def __call__(self, name, expr, result, **operands):
        if self.tape is not None:
            self.tape.record(self.phase, name, expr,
                             {k: np.shape(v) for k, v in operands.items()}, np.shape(result))
        return result
