"""A picture of the blame: each failing tensor's relative errors as an inline SVG heat map in HTML."""

from __future__ import annotations

import numpy as np

from gradcheck import check_function, check_network, load_spec
from gradcheck.reference.backprop import backprop
from gradcheck.render import TEXT, Document, render
from gradcheck.render.heatmap import MAX_CELLS, heatmap_blocks
from gradcheck.render.picture import GOOD
from gradcheck.render.results import check_blocks

NET = {"input": 4, "layers": [{"units": 5, "activation": "tanh"}, {"units": 5, "activation": "linear"}],
       "loss": "mse", "convention": "row", "batch": 6, "seed": 0}


def _transposed(params, X, Y):
    _, g = backprop(load_spec(NET), params, X, Y)
    g[1]["W"] = g[1]["W"].T.copy()
    return g


def test_a_transposed_gradient_is_a_red_grid_with_a_pale_diagonal():
    result = check_network(NET, _transposed, symbolic="off")
    pics = heatmap_blocks(result)
    assert [p.caption for p in pics] == ["W1 (5×5): impl vs finite differences"]
    grid = np.array(pics[0].grid, dtype=float)
    diagonal = np.eye(5, dtype=bool)
    assert np.all(grid[diagonal] <= result.rtol) and np.all(grid[~diagonal] > result.rtol)
    page = render(Document("t", check_blocks(result)), "html")
    assert page.count("<svg") == 1 and f'fill="rgb{GOOD}"' in page
    assert "<svg" in result._repr_html_()
    assert "<svg" not in str(result) and "<svg" not in TEXT.body(check_blocks(result))


def test_a_passing_check_draws_nothing():
    result = check_network(NET, lambda params, X, Y: backprop(load_spec(NET), params, X, Y)[1], symbolic="off")
    assert result.passed and heatmap_blocks(result) == [] and "<svg" not in result._repr_html_()


def test_a_big_tensor_is_drawn_block_by_block():
    x = np.linspace(-1, 1, 100 * 70).reshape(100, 70)

    def grad(x):
        g = 2 * x
        g[7, 3] = 0.0  # one wrong element
        return g

    result = check_function(lambda x: np.sum(x ** 2), grad, x)
    (pic,) = heatmap_blocks(result)
    grid = np.array(pic.grid, dtype=float)
    assert max(grid.shape) <= MAX_CELLS and pic.block == (3, 2)
    assert np.argwhere(grid > result.rtol).tolist() == [[7 // 3, 3 // 2]]


def test_a_tensor_of_more_axes_has_its_last_axis_as_columns():
    x = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    result = check_function(lambda x: np.sum(x ** 3), lambda x: 3 * x ** 2 + (x > 0.9), x)
    (pic,) = heatmap_blocks(result)
    assert pic.caption == "x (2×3×4): analytic vs finite differences (rows: its first 2 axes, 2×3; columns: the last)"
    assert np.array(pic.grid, dtype=float).shape == (6, 4) and pic.grid[5][3] > result.rtol
