"""pytest integration: the run's settings and records, the fixture's checker, collected net.json items.

:mod:`gradcheck.plugin` (the ``pytest11`` entry point) holds only hooks, options and the
fixture; :mod:`gradcheck.strategies` holds the hypothesis strategies.
"""
