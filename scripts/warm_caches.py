"""Compile once what every test process would otherwise compile for itself.

A fresh clone has no bytecode for the installed packages (``make install`` passes
``--no-compile``) and no numba cache for convrec's kernels, so each of pytest-xdist's workers,
and each notebook kernel, CLI or studio process a test starts, compiles the same torch,
FastAPI, matplotlib... modules and the same numba kernels at the same time. ``make test`` runs
this first, in one process beside mypy: it imports the heavy modules the tests use (writing
their bytecode) and calls every numba kernel once (every registered model fitted, ranked and
folded in on a tiny table; the stencil engine serial and parallel), so that the workers read
the caches instead. Only the speed of the run depends on it: a test never relies on it.

Usage: PYTHONDONTWRITEBYTECODE= python scripts/warm_caches.py
"""

from __future__ import annotations

import importlib
import time

import numpy as np

#: what the tests and the processes they start import (their bytecode is written here once)
MODULES = (
    "torch", "torch.nn", "torch.optim", "scipy.ndimage", "scipy.sparse", "sklearn.decomposition",
    "pandas", "matplotlib.pyplot", "PIL.Image", "numba", "fastapi", "fastapi.testclient",
    "sqlalchemy.orm", "alembic.command", "httpx", "uvicorn", "typer", "rich.progress",
    "hypothesis", "schemathesis", "nbformat", "nbclient", "ipykernel.kernelapp",
    "convrec.cli", "convrec.conv", "convrec.shapes", "convrec.data", "convrec.vision",
    "convrec.recsys", "convrec.recsys.catalog", "convrec.recsys.evaluate", "convrec.web.app",
)


def compile_kernels() -> int:
    """Call every numba kernel once on small inputs; return how many models were fitted."""
    from convrec.conv import conv2d
    from convrec.recsys import Ratings
    from convrec.recsys._topn import _KERNEL_ROWS, top_n
    from convrec.recsys.registry import MODELS
    from convrec.vision._activation_kernel import summarise

    rng = np.random.default_rng(0)
    x = rng.random((256, 1, 28, 28), dtype=np.float32)
    weight = rng.random((4, 1, 3, 3), dtype=np.float32)
    conv2d(x[:1], weight, engine="stencil")  # one image: the serial kernel
    conv2d(x, weight, engine="stencil")  # past PARALLEL_MIN_WORK: the parallel one
    summarise(x, 0.05, 0.0, 10.0, 40)  # the activation statistics of a watched training run
    for dtype in (np.float64, np.float32):  # many users' rows at once: the top-N kernel
        top_n(rng.random((_KERNEL_ROWS, 60)).astype(dtype), 5)
    users, items = rng.integers(0, 40, 800), rng.integers(0, 60, 800)
    ratings = Ratings.from_arrays(users, items, rng.integers(1, 6, 800).astype(np.float64),
                                  timestamps=rng.integers(0, 10**6, 800))
    fitted = 0
    for spec in MODELS.values():
        if spec.heavy:  # torch's own training: no numba kernel to compile
            continue
        model = spec.create().fit(ratings)
        model.recommend(int(users[0]), n=5)
        if model.folds_in:
            model.recommend_vector(model.fold_in({int(items[0]): 4.0, int(items[1]): 2.0}), n=5)
        fitted += 1
    return fitted


def main() -> None:
    start = time.perf_counter()
    for name in MODULES:
        importlib.import_module(name)
    imported = time.perf_counter()
    fitted = compile_kernels()
    print(f"warm caches: {len(MODULES)} modules imported in {imported - start:.1f} s, "
          f"numba kernels compiled for {fitted} models in {time.perf_counter() - imported:.1f} s")


if __name__ == "__main__":
    main()
