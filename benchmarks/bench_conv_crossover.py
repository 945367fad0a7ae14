"""Where the fused stencil stops beating oneDNN: the measurement behind ``choose_engine``.

For batches of 28×28 and 56×56 maps, sweeps input channels (per group) × output channels with
3×3 kernels and prints the stencil/torch time ratio (< 1: stencil faster); ``choose_engine`` in
``convrec.conv.functional`` encodes the crossover it shows.

Usage: python benchmarks/bench_conv_crossover.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from convrec.conv import conv2d
from convrec.conv.functional import choose_engine


def median_time(fn: object, reps: int = 5) -> float:
    fn()  # type: ignore[operator]
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(0)
    print("| input | C_in | C_out | taps | stencil ms | torch ms | stencil/torch | auto picks |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for n, hw in ((256, 28), (16, 56)):
        for c_in in (1, 3, 8, 16):
            for c_out in (4, 16, 32, 64):
                x = rng.random((n, c_in, hw, hw), dtype=np.float32)
                w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
                t_s = median_time(lambda x=x, w=w: conv2d(x, w, padding=1, engine="stencil"))
                t_t = median_time(lambda x=x, w=w: conv2d(x, w, padding=1, engine="torch"))
                print(f"| ({n},{c_in},{hw},{hw}) | {c_in} | {c_out} | {c_in * 9} | "
                      f"{t_s * 1e3:.2f} | {t_t * 1e3:.2f} | {t_s / t_t:.2f} | "
                      f"{choose_engine(x.shape, w.shape)} |")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
