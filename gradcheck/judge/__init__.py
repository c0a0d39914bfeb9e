"""Verdicts: every opinion against the finite differences, element by element (``compare``), the values at kinks
tested together (``subgradient``), and the result of a check (``outcome``)."""
