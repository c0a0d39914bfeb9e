"""What a probe works on and what it gives: one layer call of the user's (:class:`Case`), and a kind recognised in
it with its correct backward and its known mistakes (:class:`Kind`); the probes themselves are :mod:`.probes`
and :mod:`.probes_seq`, and :mod:`.recognise` runs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .mistake import close

__all__ = ["Case", "Kind", "same_out"]


@dataclass
class Case:
    """One layer call: forward's ``inputs`` as given, ``names`` {input index: tensor name} of the differentiated
    ones, its float ``outs`` and the ``douts`` they were paired with."""

    inputs: list
    names: dict
    outs: list
    douts: list


@dataclass
class Kind:
    """A recognised kind: ``label`` ("maxpool2d 2x2, stride 1"), ``reference()`` -> {input index: gradient}, and its
    mistakes as (sentence, replay() -> {input index: gradient})."""

    label: str
    reference: Callable
    mistakes: list = field(default_factory=list)


def same_out(got, want):
    return np.shape(got) == np.shape(want) and close(np.asarray(got, float), np.asarray(want, float))
