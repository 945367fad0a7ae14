"""Where the engines cross over, and how close ``auto`` stays to the best one on every case.

For batches of 28×28 and 56×56 maps, sweeps input channels × output channels with 3×3
kernels (padding 1) and times the stencil, im2col and torch engines, ``auto`` by the rule of
``choose_engine`` and ``auto`` tuned (``convrec.conv.tuning``: each shape measured once, wisdom
in a fresh temporary folder; the measuring budget is raised to cover the whole sweep, as a
long-running program accumulates its wisdom). Prints each case's ratio to the best engine
(1.00 = as fast as the best) and the worst case of both ``auto`` columns.

Usage: python benchmarks/bench_conv_crossover.py [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from convrec.conv import conv2d, tuning
from convrec.conv.functional import choose_engine


def median_time(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up (and, for tuned auto, the one measurement of this shape)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    load_start = os.getloadavg()
    wisdom_dir = Path(tempfile.mkdtemp(prefix="conv-wisdom-"))
    rng = np.random.default_rng(0)
    engines = ("stencil", "im2col", "torch")
    print("| input | C_out | stencil ms | im2col ms | torch ms | auto rule (picks) | "
          "auto rule / best | auto tuned / best (picks) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    worst_rule = worst_tuned = 0.0
    for n, hw in ((256, 28), (16, 56)):
        for c_in in (1, 3, 8, 16):
            for c_out in (4, 16, 32, 64):
                x = rng.random((n, c_in, hw, hw), dtype=np.float32)
                w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
                times = {
                    e: median_time(lambda x=x, w=w, e=e: conv2d(x, w, padding=1, engine=e),
                                   args.reps)
                    for e in engines
                }
                t_rule = median_time(lambda x=x, w=w: conv2d(x, w, padding=1), args.reps)

                def tuned_call(x: np.ndarray = x, w: np.ndarray = w) -> object:
                    with tuning.tuned(wisdom_dir, budget_s=600):
                        return conv2d(x, w, padding=1)

                t_tuned = median_time(tuned_call, args.reps)
                wisdom = tuning.enable(wisdom_dir)
                tuning.disable()
                picked = next(
                    (v["engine"] for k, v in wisdom.choices.items()
                     if k.startswith(f"{x.shape}|{w.shape}")), "-")
                best = min(times.values())
                worst_rule = max(worst_rule, t_rule / best)
                worst_tuned = max(worst_tuned, t_tuned / best)
                print(f"| ({n},{c_in},{hw},{hw}) | {c_out} | {times['stencil'] * 1e3:.2f} | "
                      f"{times['im2col'] * 1e3:.2f} | {times['torch'] * 1e3:.2f} | "
                      f"{t_rule * 1e3:.2f} ({choose_engine(x.shape, w.shape)}) | "  # type: ignore[arg-type]
                      f"{t_rule / best:.2f} | {t_tuned / best:.2f} ({picked}) |", flush=True)
    load = " ".join(f"{v:.2f}" for v in (*load_start, *os.getloadavg()))
    print(f"\nworst case: auto rule {worst_rule:.2f}× the best engine, auto tuned "
          f"{worst_tuned:.2f}×; load average (1, 5, 15 min) at start, then at end: {load}")


if __name__ == "__main__":
    main()
