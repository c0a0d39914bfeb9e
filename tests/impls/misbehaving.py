"""Backprops that misbehave in ways other than a wrong gradient: they loop, end the process, print, raise
KeyboardInterrupt, or return what is not a NumPy array of the right size. Column convention, for the
3-3-2 sigmoid network of tests/test_cli.py; each variant is ``good_column`` plus one misdeed."""

import os
import sys
import time
from pathlib import Path

import numpy as np
from sigmoid_mlp import good_column


def loops_forever(params, X, Y):
    while True:
        pass


def exits_the_process(params, X, Y):
    os._exit(0)


def prints(params, X, Y):
    print("epoch 1: loss 0.25")
    sys.stdout.flush()
    os.write(1, b"written to fd 1\n")
    return good_column(params, X, Y)


def raises_keyboard_interrupt(params, X, Y):
    raise KeyboardInterrupt


def waits_for_ctrl_c(params, X, Y):
    Path(os.environ["GRADCHECK_TEST_STARTED"]).write_text("started")
    time.sleep(60)
    return good_column(params, X, Y)


def extra_key_dw(params, X, Y):
    grads = good_column(params, X, Y)
    grads[0]["dw"] = grads[0]["W"]
    return grads


def weights_for_w(params, X, Y):
    grads = good_column(params, X, Y)
    grads[1]["weights"] = grads[1].pop("W")
    return grads


def huge_broadcast(params, X, Y):
    grads = good_column(params, X, Y)
    grads[0]["W"] = np.broadcast_to(np.float32(1.0), (10**6, 10**6))  # 4 TB if it were ever copied
    return grads


class TensorRequiringGrad:
    """Behaves as a torch tensor with requires_grad=True does when NumPy asks for its values."""

    def __init__(self, values):
        self.shape = values.shape

    def detach(self):
        raise AssertionError("gradcheck must not call the user's tensor methods")

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")


def tensor_requiring_grad(params, X, Y):
    grads = good_column(params, X, Y)
    grads[1]["b"] = TensorRequiringGrad(grads[1]["b"])
    return grads
