"""The reference opinion: NumPy forward and backward passes through the catalogue (``backprop``), the shape trace
they record (``shapes``), and the rounding a correct float64 backprop may have (``rounding``)."""
