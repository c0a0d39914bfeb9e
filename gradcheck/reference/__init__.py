"""The reference opinion: NumPy forward and backward passes through the catalogue (``backprop``), the shape trace
they record (``shapes``), the rounding a correct float64 backprop may have (``rounding``), and the backprop a
finite difference's step either side of θ where it is found wrong (``around``)."""
