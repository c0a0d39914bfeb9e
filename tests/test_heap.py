"""The C heap kept between a check's chunks (gradcheck/heap.py): set once where the C library is glibc, never
where the user tunes it."""

import subprocess
import sys

import pytest

from gradcheck import heap

#: Three rounds of 16 blocks of 1 MiB, every page touched, each round's blocks freed before the next: the page
#: faults of each round. Kept, the heap serves the second and third rounds from the pages of the first.
ROUNDS = """
import resource, numpy as np
from gradcheck.heap import keep_heap
print(keep_heap())
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [np.ones(1 << 17) for _ in range(16)]
    del blocks
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _rounds(**env):
    import os

    out = subprocess.run([sys.executable, "-c", ROUNDS], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.split()
    return out[0] == "True", [int(n) for n in out[1:]]


@pytest.mark.skipif(heap._mallopt() is None, reason="the C library is not glibc: nothing is set")
def test_a_kept_heap_serves_the_next_arrays_from_the_pages_it_has():
    kept, faults = _rounds()
    left, faults_left = _rounds(GRADCHECK_HEAP="default")
    assert kept and not left
    pages = 16 * (1 << 20) // 4096
    assert max(faults[1:]) < pages // 10  # the pages of the first round, again
    assert min(faults_left[1:]) > pages // 2  # handed back after each round, and faulted in again


def test_the_heap_is_left_alone_where_the_user_tunes_it(monkeypatch):
    monkeypatch.setattr(heap, "_DONE", {})
    calls = []
    monkeypatch.setattr(heap, "_mallopt", lambda: lambda *a: calls.append(a) or 1)
    assert not heap.keep_heap({"GRADCHECK_HEAP": "default"})
    assert not heap.keep_heap({"MALLOC_TRIM_THRESHOLD_": "1000000"})
    assert calls == []
    assert heap.keep_heap({})
    assert calls == [(-3, heap.MMAP_THRESHOLD), (-1, heap.TRIM_THRESHOLD)]
    assert heap.keep_heap({}) and len(calls) == 2  # once per process


def test_nothing_is_set_where_the_c_library_has_no_mallopt(monkeypatch):
    monkeypatch.setattr(heap, "_DONE", {})
    monkeypatch.setattr(heap, "_mallopt", lambda: None)
    assert not heap.keep_heap({})
