"""The front doors: a network (``network``: :func:`~gradcheck.checks.network.check_network`) and any function or
layer (``function``), each a short sequence of named stages over one state and the settings (``options``): the
function and layer stages in ``scalar``, a sampled network's refill in ``refill``, the user's backprop called and
traced in ``user``, and the verdicts assembled the same way for both in ``verdicts``."""
