"""The pipeline: net.json → shapes → reference backprop → finite differences → SymPy → compare / diagnose.

========================  ==============================================================
``spec``                  net.json parsed and validated (``spec_keys``, ``spec_arrays``)
``shapes``                the shape trace, recorded while the reference backprop runs
``backprop``              the reference forward and backward passes through the catalogue
``numeric``               finite differences (``perturbed``: structured; ``sampled``: big nets)
``symbolic``              SymPy's per-element derivation (``symbolic_net``, ``local_facts``)
``compare``               per-element verdicts against the finite difference's error bound
``diagnose``              why a gradient is wrong (``mistakes``, ``factors``, ``diagnose_layers``)
``impl``, ``user_calls``  loading and calling the user's code; ``linetrace`` follows its lines
``check``, ``generic``    the entry points: a network, a function, a layer
========================  ==============================================================
"""
