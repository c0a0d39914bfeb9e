"""A collection of realistic backprop mistakes, each with the diagnosis it must get.

Each :class:`Case` runs a file of this folder through ``check_network`` on a spec. ``expect``
lists fragments the diagnosis must contain (all of them); ``expect=()`` marks a mistake
gradcheck does not know, where the diagnosis must say only where the error starts and
name no cause. :func:`verdict` classifies a result as "named", "localised", "missed"
or "wrong cause" (a cause named that is not the expected one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cs231n_nets import SPECS as LAYER_SPECS  # this folder is on sys.path wherever the collection is read

HERE = Path(__file__).parent

#: Fragments that only a named cause (not a localisation) contains.
CAUSE_MARKERS = ("known mistake", "you differentiated", "every element is", "sign is flipped", "reverse",
                 "is 0 (all", "complex", "transposed", "not summed", "wrong axis")


def _spec(sizes, acts, loss, convention, bias="separate", batch=5, seed=0):
    return {"input": sizes[0], "layers": [{"units": u, "activation": a} for u, a in zip(sizes[1:], acts)],
            "loss": loss, "convention": convention, "bias": bias, "batch": batch, "seed": seed}


NIELSEN = _spec((3, 3, 3, 2), ["sigmoid"] * 3, "quadratic", "column")
NIELSEN_3432 = _spec((3, 4, 3, 2), ["sigmoid"] * 3, "quadratic", "column")
CS231N = _spec((4, 3, 3, 3), ["relu", "relu", "softmax"], "cross_entropy", "row", batch=6)
CS231N_TANH = _spec((4, 3, 3, 3), ["tanh", "tanh", "softmax"], "cross_entropy", "row", batch=6)
AUGMENTED = _spec((3, 3, 2), ["sigmoid", "sigmoid"], "sse", "row", bias="augmented", batch=4)
TANH_BCE = _spec((3, 3, 3, 2), ["tanh", "tanh", "sigmoid"], "bce", "column", bias="none", batch=5)
SOFTPLUS_MSE = _spec((2, 3, 3, 2), ["softplus", "softplus", "linear"], "mse", "column", batch=4)
LEAKY_QUADRATIC = _spec((3, 4, 3, 2), ["leaky_relu", "leaky_relu", "tanh"], "quadratic", "column", batch=5)
REGRESSION = _spec((3, 1), ["linear"], "mse", "row", batch=6)
AUGMENTED_333 = _spec((3, 3, 3), ["sigmoid", "sigmoid"], "sse", "row", bias="augmented", batch=4)


@dataclass
class Case:
    name: str
    spec: dict
    impl: str
    expect: tuple = ()
    style: str = ""
    forbid: tuple = field(default_factory=tuple)

    @property
    def target(self):
        return f"{HERE / self.impl}"


def _n(fn, *expect, spec=NIELSEN, forbid=()):
    return Case(f"nielsen:{fn}", spec, f"nielsen/adapter.py:{fn}", expect, "nielsen", forbid)


def _c(fn, *expect, spec=CS231N, forbid=()):
    return Case(f"cs231n:{fn}", spec, f"cs231n_style.py:{fn}", expect, "cs231n", forbid)


def _a(fn, *expect, spec=AUGMENTED, forbid=()):
    return Case(f"augmented:{fn}", spec, f"augmented.py:{fn}", expect, "augmented", forbid)


def _b(fn, *expect, spec, forbid=()):
    return Case(f"batched:{fn}", spec, f"batched_mlp.py:{fn}", expect, "batched", forbid)


def _k(fn, *expect, forbid=()):
    spec = LAYER_SPECS[next(k for k in LAYER_SPECS if fn.startswith(k + "_"))]
    return Case(f"layers:{fn}", spec, f"cs231n_nets.py:{fn}", expect, "layers", forbid)


def _m(fn, spec, *expect, forbid=()):
    return Case(f"mlp:{fn}:{spec['loss']}", spec, f"sigmoid_mlp.py:{fn}", expect, "batched", forbid)


CASES = [
    # Nielsen-style per-sample code through an adapter
    _n("summed", "you differentiated the sse loss", forbid=("twice",)),
    _n("reversed_layers", "reverse order"),
    _n("overwrites", "your gradients are those of the last sample alone (times 0.2)"),
    _n("returns_in_loop", "your gradients are those of the first sample alone"),
    _n("zeros", "is 0 (all"),
    _n("learning_rate", "every element is 3 × the true gradient", "η = 3"),
    _n("prime_of_a_all", "every sigmoid layer (0, 1, 2) applies sigmoid' to the activation a instead of to z"),
    _n("prime_of_a_hidden", "layers 0 and 1 apply sigmoid' to the activation a instead of to z", spec=NIELSEN_3432),
    _n("prime_of_a_output", "layer 2 applies sigmoid' to the activation a"),
    _n("prime_of_a_first", "layer 0 applies sigmoid' to the activation a"),
    _n("no_prime_output", "layer 2 leaves out the activation derivative"),
    _n("no_prime_hidden", "layer 1 leaves out the activation derivative"),
    _n("no_prime_all", "every sigmoid layer (0, 1, 2) leaves out the activation derivative"),
    _n("sigma_not_prime_hidden", "layers 0 and 1 multiply by the activation σ(z) itself"),
    _n("output_not_input_0", "layer 0 pairs δ with the layer's output a"),
    _n("w_not_transposed_1", "W not transposed in the backward pass: carrying δ back from layer 1 to layer 0"),
    _n("dw_transposed_0", "layer 0 returns dW transposed"),
    _n("sign", "sign is flipped"),
    _n("mixed", "layer 1 applies sigmoid' to the activation a"),
    _n("mixed_two", "layer 2 applies sigmoid' to the activation a", "layer 0 leaves out the activation derivative"),
    _n("prime_squared_1"),
    _n("zs_off_by_one_0"),
    # CS231n-style batched code (row convention, relu/tanh, softmax + cross-entropy)
    _c("no_mean", "N=6 times too large"),
    _c("sign", "sign is flipped"),
    _c("relu_mask_missing", "layer 0 leaves out the activation derivative"),
    _c("relu_mask_missing_all", "layers 0 and 1 leave out the activation derivative"),
    _c("relu_times_output", "layer 0 multiplies by the activation σ(z) itself"),
    _c("tanh_prime_missing", "layer 0 leaves out the activation derivative", spec=CS231N_TANH),
    _c("tanh_not_prime", "layer 0 multiplies by the activation σ(z) itself", spec=CS231N_TANH),
    _c("softmax_elementwise", "treats softmax as element-wise"),
    _c("w_not_transposed", "W not transposed in the backward pass: carrying δ back from layer 1 to layer 0"),
    _c("dw_transposed", "layer 1 returns dW transposed"),
    _c("dw_transposed_0", "W0: your dW has shape (3, 4)", "it is transposed"),
    _c("output_not_input", "layer 1 pairs δ with the layer's output a"),
    _c("output_not_input_0", "W0: your dW has shape (3, 3)", "pairs δ with the layer's *output* a"),
    _c("reversed_order", "reverse order"),
    _c("zeros", "is 0 (all"),
    _c("learning_rate", "sign is flipped", "every element is -0.001 × the true gradient", "η = 0.001"),
    _c("no_mean_and_relu_mask_missing", "N=6 times too large", "layer 0 leaves out the activation derivative"),
    _c("db_wrong_axis", "summed over the wrong axis"),
    _c("db_mean", "every relu/softmax layer (0, 1, 2) averages δ over the batch for db"),
    _c("dw_divided_again", "layer 0 divides dW by N once more"),
    _c("weight_decay", "an extra λ·W", "λ = 0.1"),
    _c("one_typo"),
    _c("output_layer_doubled"),
    _c("dout_scaled_in_hidden"),
    # augmented bias (row convention, sigmoid, sse)
    _a("prime_of_a", "every sigmoid layer (0, 1) applies sigmoid' to the activation a"),
    _a("prime_of_a_output", "layer 1 applies sigmoid' to the activation a"),
    _a("no_prime_hidden", "layer 0 leaves out the activation derivative"),
    _a("averaged", "you differentiated the quadratic loss", "the mse loss", forbid=("twice",)),
    _a("w_not_transposed", "W not transposed in the backward pass", spec=AUGMENTED_333),
    _a("bias_row_in_carry"),
    # column-convention batched code: other activations and losses, bias none
    _b("tanh_bce_prime_of_a_hidden", "layers 0 and 1 apply tanh' to the activation a", spec=TANH_BCE),
    _b("tanh_bce_no_prime_0", "layer 0 leaves out the activation derivative", spec=TANH_BCE),
    _b("tanh_bce_quadratic_for_bce", "you differentiated the quadratic loss", spec=TANH_BCE),
    _b("tanh_bce_mean_over_n", "K=2 times too large", spec=TANH_BCE),
    _b("tanh_bce_w_not_transposed", "W not transposed in the backward pass: carrying δ back from layer 1",
       spec=TANH_BCE),
    _b("tanh_bce_output_not_input_1", "layer 1 pairs δ with the layer's output a", spec=TANH_BCE),
    _b("tanh_bce_formula_on_z", "layer 0 evaluates the derivative written for a = σ(z) at z", spec=TANH_BCE),
    _b("tanh_bce_formula_on_z_all", "every sigmoid/tanh layer (0, 1, 2) evaluates the derivative written for a",
       spec=TANH_BCE),
    _b("softplus_mse_no_two", "half the true value", spec=SOFTPLUS_MSE),
    _b("softplus_mse_prime_of_a", "layer 0 applies softplus' to the activation a", spec=SOFTPLUS_MSE),
    _b("softplus_mse_sigma_not_prime", "layer 1 multiplies by the activation σ(z) itself", spec=SOFTPLUS_MSE,
       forbid=("leaves out",)),
    _b("softplus_mse_dw_transposed", "layer 1 returns dW transposed", spec=SOFTPLUS_MSE),
    _b("leaky_quadratic_no_prime_all", "every leaky_relu/tanh layer (0, 1, 2) leaves out the activation derivative",
       spec=LEAKY_QUADRATIC),
    _b("leaky_quadratic_prime_of_a_output", "layer 2 applies tanh' to the activation a", spec=LEAKY_QUADRATIC),
    _b("leaky_quadratic_mixed", "layer 2 applies tanh' to the activation a",
       "layer 0 leaves out the activation derivative", spec=LEAKY_QUADRATIC),
    # the layer kinds: convolution, pooling, flatten, norms, dropout (CS231n-style layers, cs231n_nets.py)
    _k("deep_cnn_flipped_dw", "dW uses the kernel flipped by 180°"),
    _k("deep_cnn_flipped_dx", "conv2d layer 1: dx uses the kernel flipped by 180°"),
    _k("deep_cnn_padding_kept", "conv2d layer 1: the padding is not stripped from dx"),
    _k("deep_cnn_stride_ignored", "conv2d layer 1: the backward pass ignores the stride S = 2"),
    _k("deep_cnn_maxpool_to_all", "maxpool2d layer 2 sends each window's gradient to every element of the window"),
    _k("deep_cnn_maxpool_averaged", "maxpool2d layer 2 spreads each window's gradient evenly over the window"),
    _k("deep_cnn_flatten_fortran", "flatten layer 3 flattens in Fortran order"),
    _k("deep_cnn_flatten_channels_last", "flatten layer 3 flattens channels-last"),
    _k("deep_cnn_unflatten_channels_last", "flatten layer 3: the backward pass reshapes δ channels-last"),
    _k("bn_cnn_avgpool_not_divided", "avgpool2d layer 3 does not divide the gradient by the window size"),
    _k("bn_cnn_constant_stats", "batchnorm layer 1 treats the batch mean μ and variance σ² as constants"),
    _k("bn_cnn_summed_over_n_only", "dgamma is summed over N only"),
    _k("bn_mlp_constant_stats", "batchnorm layer 1 treats the batch mean μ and variance σ² as constants"),
    _k("bn_mlp_not_summed", "dgamma is not summed over the 5 samples"),
    _k("ln_dropout_constant_stats", "layernorm layer 1 treats each sample's mean μ and variance σ² as constants"),
    _k("ln_dropout_no_mask", "dropout layer 2: the mask is not applied in the backward pass"),
    _k("ln_dropout_no_rescale", "dropout layer 2 applies the mask without the rescale"),
    # 1-D targets: a silent broadcast, found by the line tracer
    Case("regression:targets_flattened", REGRESSION, "regression.py:targets_flattened",
         ("your line regression.py:",
          "`err = pred - y` broadcast silently: `pred - y`: (6,1) − (6,) broadcast to (6,6)"),
         "batched"),
    # batched sigmoid MLP: which loss, which factor
    _m("sum_not_mean_column", _spec((3, 3, 2), ["sigmoid"] * 2, "quadratic", "column"),
       "you differentiated the sse loss"),
    _m("good_column", _spec((3, 3, 2), ["sigmoid"] * 2, "sse", "column"), "you differentiated the quadratic loss",
       "with K=2 outputs the mse loss", forbid=("twice",)),
    _m("sum_not_mean_mse_column", _spec((3, 3, 3), ["sigmoid"] * 2, "mse", "column"), "N=5 times too large",
       forbid=("7.5", "learning-rate")),
    _m("good_column", _spec((3, 3, 3), ["sigmoid"] * 2, "mse", "column"), "you differentiated the quadratic loss"),
    _m("sigma_not_prime_hidden_column", _spec((3, 3, 2), ["sigmoid"] * 2, "quadratic", "column"),
       "layer 0 multiplies by the activation σ(z) itself"),
    _m("prime_squared_hidden_column", _spec((3, 3, 2), ["sigmoid"] * 2, "quadratic", "column")),
    _m("one_element_wrong_column", _spec((3, 3, 2), ["sigmoid"] * 2, "quadratic", "column")),
]


def diagnosis_text(result):
    return " | ".join(result.problems + result.diagnosis + result.notes)


def verdict(case, result):
    """"named", "localised", "missed" or "wrong cause" for one case's check result."""
    text = " | ".join(result.problems + result.diagnosis)
    if result.passed:
        return "missed"
    if any(f in text for f in case.forbid):
        return "wrong cause"
    if case.expect:
        if all(f in text for f in case.expect):
            return "named"
        return "wrong cause" if any(m in text for m in CAUSE_MARKERS) else "missed"
    return "wrong cause" if any(m in text for m in CAUSE_MARKERS) else "localised"
