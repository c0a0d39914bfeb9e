"""Verdicts: one element's band against the finite differences (``bands``), every opinion on a tensor compared
element by element (``compare``), the tolerances per dtype (``tolerances``), the values at kinks tested together
(``subgradient``), and the result of a check (``outcome``)."""
