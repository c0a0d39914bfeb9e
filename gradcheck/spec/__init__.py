"""net.json in: read (``jsonfile``), its keys checked (``keys``, ``validate``), its arrays laid out (``arrays``), and
the validated network (``parse``: :class:`~gradcheck.spec.parse.Spec`, :func:`~gradcheck.spec.parse.load_spec`)."""
