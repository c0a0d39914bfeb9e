"""The benchmarks' floor of a full forward-difference check counts what a hand count gives."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from floors import dense_floors


def test_a_2_2_1_network_costs_its_hand_count():
    # Base forward pass: layer 1 2·2·2 + 2 (bias) + 2 (tanh), layer 2 2·2·1 + 1, mse 3: 20.
    # A hidden element: its z (2 for a weight, 1 for a bias), tanh 1, the output's change 2·1, mse 3.
    # An output element: its z (2 or 1), mse 3. Element floor: 20 + 4·8 + 2·7 + 2·5 + 1·4 = 80.
    # Unit floor: 20 + per unit (1 + the rest above) 2·7 + 1·4, and 2 flops per element (9 of them): 56.
    assert dense_floors([2, 2, 1], 1) == (80, 56)


def test_the_floors_grow_with_the_samples_and_the_layers_above():
    one, three = dense_floors([3, 4, 2], 1), dense_floors([3, 4, 2], 3)
    assert three == (3 * one[0], 3 * one[1])
    assert dense_floors([3, 4, 4, 2], 1)[0] > dense_floors([3, 4, 2], 1)[0]
    assert dense_floors([3, 4, 2], 1, "cross_entropy")[0] > one[0]  # softmax moves every output
