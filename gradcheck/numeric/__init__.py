"""The judge's evidence: finite differences, forward passes only.

``network`` drives them for a network, layer by layer, over ``perturbed`` networks (only
what a perturbation changes is recomputed; ``unitlines`` gives a dense layer's losses from
each unit's line); ``steps`` chooses each element's steps, ``noise`` measures the loss's
rounding, ``again`` estimates elements again after the first verdicts, ``kinks`` handles
steps that cross a kink; ``function`` does the same for any function; ``sampled`` checks a
sample plus random directions on large networks.
"""
