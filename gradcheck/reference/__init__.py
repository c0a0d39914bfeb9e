"""The reference opinion: NumPy forward and backward passes through the catalogue (``backprop``), the shape trace
they record (``shapes``), the rounding a correct float64 backprop may have (``rounding``), and the backprop at a
finite difference's steps around θ where it is found wrong (``around``)."""
