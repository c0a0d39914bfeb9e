"""Why a gradient is wrong: known mistakes replayed on the reference (``mistakes``, ``layers``), constant factors
(``factors``), the network diagnosis (``network``), and the user's code line by line (``linetrace``)."""
