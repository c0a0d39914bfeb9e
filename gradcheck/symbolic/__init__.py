"""The third opinion: the network written in SymPy symbols (``network``), each element's derivative derived and
evaluated (``derive``), and the local facts of each kind derived from indexed sums (``local_facts``)."""
