"""Why a gradient is wrong: one interface for known mistakes (``mistake``), implemented by site tweaks of the
reference backprop (``mistakes``) and by the layer kinds' own mistakes replayed from the catalogue (``layers``), one
search over them (``search``), constant factors (``factors``), the network diagnosis (``network``), a function or
layer check's whole tensor (``tensor``), and the user's code line by line (``linetrace``)."""
