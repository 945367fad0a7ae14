"""The stencil's two compilations (one thread, several) stay two, across processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convrec.conv import _engines

pytest.importorskip("numba")


def test_the_serial_and_parallel_stencils_keep_separate_cache_entries() -> None:
    # numba keys a cache file by function name and signature, not by `parallel=`: compiled
    # from one function, the parallel dispatcher loaded the serial machine code cached by an
    # earlier call (W2, 60,000 digits, ran on one core: CPU time equal to wall time).
    serial, parallel = _engines._compile_stencil()
    assert serial._cache._cache_file._index_name != parallel._cache._cache_file._index_name
    x = np.random.default_rng(0).random((40, 1, 20, 20), dtype=np.float32)
    w = np.random.default_rng(1).standard_normal((4, 1, 3, 3)).astype(np.float32)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    for kernel in (serial, parallel):
        out = np.empty_like(expected)
        kernel(x, w, np.zeros(4, np.float32), out, 0, 0, 0, 0, 1, 1, 1, 1, 1)
        np.testing.assert_allclose(out, expected, atol=1e-5)
