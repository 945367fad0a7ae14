"""MNIST benchmark: fastai's chapter 13 recipe in plain PyTorch against our default trainer.

One run on full MNIST (60,000 train, 10,000 test), ``--threads`` torch threads (default: every
CPU of this process), data in memory as uint8:

- book, first version: simple_cnn without BatchNorm, batch 64, one-cycle 1 epoch, lr 0.06;
- book, final version: simple_cnn with BatchNorm, batch 512, one-cycle 5 epochs, lr 0.1;
- ours: the ``fast`` preset (``convrec mnist train``) and the ``accurate`` preset.

Test accuracy is checked every quarter epoch; times are training time (evaluation excluded),
wall clock, plus process CPU time / 2 (this VM's cores are shared, steal time inflates wall).

Run: ``python benchmarks/bench_mnist.py [--data-dir ../shared/data] [--skip-accurate]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from convrec.vision.mnist import load_mnist
from convrec.vision.train import PRESETS, TrainResult, train


def _fmt(t: float | None) -> str:
    return "not reached" if t is None else f"{t:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("CONVREC_DATA") or str(Path(__file__).resolve().parents[2]
                                                   / "shared" / "data")
    parser.add_argument("--data-dir", default=default)
    parser.add_argument("--skip-accurate", action="store_true")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch threads for every run (default: every CPU of this process; "
                        "fixed here so that the runs compare, whatever the load)")
    args = parser.parse_args()
    data = load_mnist(data_dir=args.data_dir, download=False)
    if not data.full:
        raise SystemExit(f"need full MNIST (60k + 10k), got {data.describe()}")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {args.threads} threads, load average "
          f"{os.getloadavg()[0]:.2f}; {data.describe()}")
    runs = [("book (no BN, bs 64, 1 ep, lr 0.06)", "book"),
            ("book final (BN, bs 512, 5 ep, lr 0.1)", "book_bn"),
            ("ours: fast (default)", "fast")]
    if not args.skip_accurate:
        runs.append(("ours: accurate", "accurate"))
    results: dict[str, TrainResult] = {}
    for label, preset in runs:
        config = PRESETS[preset].with_changes(eval_every=0.25, threads=args.threads)
        start = time.perf_counter()
        r = train(data, config)
        wall = time.perf_counter() - start
        results[preset] = r
        print(f"{label:40s} train {r.train_seconds:6.1f} s (cpu/2 {r.cpu_seconds / 2:5.1f} s, "
              f"with evals {wall:5.1f} s)  test acc {r.final_accuracy:.2%}  "
              f"to 99.0%: {_fmt(r.time_to(0.99))}  to 99.5%: {_fmt(r.time_to(0.995))}",
              flush=True)
    book = results["book_bn"]
    ours = results["fast"]
    t99 = ours.time_to(0.99)
    print(f"book final recipe: {book.final_accuracy:.2%} in {book.train_seconds:.1f} s")
    if t99 is not None:
        print(f"ratio ours time-to-99.0% / book time-to-final: {t99 / book.train_seconds:.2f} "
              f"(target <= 0.20); full ours run / book: "
              f"{ours.train_seconds / book.train_seconds:.2f}")
    if "accurate" in results:
        acc = results["accurate"]
        print(f"accurate preset: {acc.final_accuracy:.2%} in {acc.train_seconds:.1f} s "
              f"(target >= 99.5% within 60 s)")


if __name__ == "__main__":
    main()
