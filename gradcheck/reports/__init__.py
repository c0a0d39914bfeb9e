"""Derivation reports: built from a check (``derivation``), printed to the digits the numbers support
(``precision``), and written to ``reports/`` (``files``)."""
