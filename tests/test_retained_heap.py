"""retained_heap: big arrays freed inside the block stay in the process for the next step."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from labmnn.model import solver


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _freed_kept_mb() -> float:
    """RSS kept after a touched 256 MB array is freed."""
    a = np.ones(32 * 1024 * 1024)  # 256 MB, every page touched
    before = _rss_mb()
    del a
    return 256 - (before - _rss_mb())


@pytest.mark.skipif(not sys.platform.startswith("linux") or solver._glibc() is None, reason="glibc's malloc only")
def test_freed_big_arrays_stay_inside_and_go_back_outside():
    assert _freed_kept_mb() < 64  # by default a big array goes back to the system when freed
    with solver.retained_heap():
        kept = _freed_kept_mb()
        before = _rss_mb()
        again = np.ones(32 * 1024 * 1024)  # the next array of that size reuses those pages ...
        grown = _rss_mb() - before
        del again
    assert kept > 192
    assert grown < 64  # ... so the process did not grow by another 256 MB
    assert _freed_kept_mb() < 64  # the defaults are back after the block


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


def test_nested_blocks_set_once_and_restore_at_the_outermost_exit(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(solver, "_LIBC", [fake])
    with solver.retained_heap():
        with solver.retained_heap():
            assert fake.calls == [("mallopt", -4, 0), ("mallopt", -1, 2**31 - 1)]
        assert len(fake.calls) == 2  # the inner exit leaves the heap retained
    assert fake.calls[2:] == [("mallopt", -4, 65536), ("mallopt", -1, 128 * 1024), ("malloc_trim", 0)]
    assert solver._HEAP_DEPTH[0] == 0


def test_restored_when_the_block_raises(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(solver, "_LIBC", [fake])
    with pytest.raises(RuntimeError), solver.retained_heap():
        raise RuntimeError("step failed")
    assert fake.calls[-1] == ("malloc_trim", 0) and solver._HEAP_DEPTH[0] == 0


def test_no_glibc_is_a_plain_block(monkeypatch):
    monkeypatch.setattr(solver, "_LIBC", [None])
    with solver.retained_heap():
        depth = solver._HEAP_DEPTH[0]  # nothing set, nothing counted
    assert depth == 0 and solver._HEAP_DEPTH[0] == 0
