"""Default settings of every check, as plain numbers and names.

No NumPy here: the pytest plugin reads them when it loads, in test runs that may never
check a gradient.
"""

__all__ = ["ATOL", "DIRECTIONS", "MAX_DIRECTIONS", "MODES", "RTOL", "SAMPLE", "TIMEOUT"]

#: Default relative tolerance: the default finite differences are good to ~1e-9 and better.
RTOL = 1e-5
#: An element is wrong only when its error exceeds the tolerance plus MARGIN × the finite difference's error bound.
MARGIN = 3.0
#: Default absolute floor: none. Pass ``atol`` to accept tiny absolute differences on purpose.
ATOL = 0.0
#: Check modes: every element, a sample with directional derivatives, or whichever fits the time.
MODES = ("auto", "full", "sampled")
#: Default elements checked per tensor in sampled mode (raised to cover every row and column).
SAMPLE = 256
#: Default random directional derivatives in sampled mode.
DIRECTIONS = 8
#: The most random directions a sampled check takes (each costs four forward passes of the whole network).
MAX_DIRECTIONS = 10_000
#: Seconds the command line gives each call of the user's backprop (``--timeout``).
TIMEOUT = 60.0
