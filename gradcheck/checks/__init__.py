"""The front doors: a network (``network``: :func:`~gradcheck.checks.network.check_network`) and any function or
layer (``function``), with the user's code loaded and called (``impl``, ``user_calls``), in a child process where
asked (``isolation``)."""
