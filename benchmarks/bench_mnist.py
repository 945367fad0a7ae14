"""MNIST benchmark: fastai's chapter 13 recipe in plain PyTorch against our default trainer.

One run on full MNIST (60,000 train, 10,000 test), ``--threads`` torch threads (default: every
CPU of this process), data in memory as uint8:

- book, first version: simple_cnn without BatchNorm, batch 64, one-cycle 1 epoch, lr 0.06;
- book, final version: simple_cnn with BatchNorm, batch 512, one-cycle 5 epochs, lr 0.1;
- ours: the ``fast`` preset (``convrec mnist train``) and the ``accurate`` preset.

Test accuracy is checked every quarter epoch; times are training time (evaluation excluded),
wall clock, plus process CPU time / 2 (this VM's cores are shared, steal time inflates wall).

``--variant`` adds runs of a preset (``fast`` unless the spec names ``preset=accurate`` or
another) with some fields changed (``TrainConfig`` fields, plus ``width=N`` for its CNN's
channels and, for the ``lean`` CNN, ``hidden=N``), to tune it against the book recipe in the
same run, e.g. ``--variant "batch_size=512,lr=0.04" --variant "width=16,epochs=3"
--variant "preset=accurate,ema=0.99,epochs=3"``. An ``accurate``-based run is reported by its
time to the first 99.5% as a share of the book recipe's full training time.

Run: ``python benchmarks/bench_mnist.py [--data-dir ../shared/data] [--skip-accurate]
[--presets book_bn,fast] [--variant SPEC ...]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import torch

from convrec.vision.mnist import load_mnist
from convrec.vision.train import PRESETS, TrainConfig, TrainResult, train


def _fmt(t: float | None) -> str:
    return "not reached" if t is None else f"{t:.1f} s"


def _epoch_at(result: TrainResult, accuracy: float) -> str:
    """The epoch of the first evaluation reaching ``accuracy``, or ``-``."""
    return next((f"{p.epoch:g}" for p in result.history if p.valid_accuracy >= accuracy), "-")


def _variant(spec: str) -> tuple[str, TrainConfig]:
    """``"preset=accurate,width=16,lr=0.04"`` → ``("accurate", that preset with those
    changes)``; without ``preset=`` the base is ``fast``."""
    from functools import partial

    from convrec.vision import models

    base = "fast"
    changes: dict[str, object] = {}
    sizes: dict[str, int] = {}
    fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, _, text = item.partition("=")
        if key == "preset":
            if text not in PRESETS:
                raise SystemExit(f"--variant: preset must be one of {', '.join(PRESETS)}, got "
                                 f"preset={text!r} in {spec!r}")
            base = text
        elif key in ("width", "hidden"):
            sizes[key] = int(text)
        elif key in fields:
            value: object = text
            if text in ("True", "False"):
                value = text == "True"
            else:
                for kind in (int, float):
                    try:
                        value = kind(text)
                        break
                    except ValueError:
                        continue
            changes[key] = value
        else:
            raise SystemExit(f"--variant: unknown field {key!r} in {spec!r}; use preset, width, "
                             f"hidden or one of {', '.join(fields)}")
    config = PRESETS[base].with_changes(**changes)
    if sizes:
        builders = {"lean": models.lean_cnn, "accurate": models.accurate_cnn}
        if config.model not in builders or ("hidden" in sizes and config.model != "lean"):
            raise SystemExit(f"--variant: width applies to the lean and accurate models, hidden "
                             f"to lean only; got {spec!r} on model {config.model!r}")
        name = config.model + "_" + "_".join(f"{k}{v}" for k, v in sorted(sizes.items()))
        models.MODELS[name] = partial(builders[config.model], **sizes)  # this process only
        config = config.with_changes(model=name)
    return base, config.validate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("CONVREC_DATA") or str(Path(__file__).resolve().parents[2]
                                                   / "shared" / "data")
    parser.add_argument("--data-dir", default=default)
    parser.add_argument("--skip-accurate", action="store_true")
    parser.add_argument("--presets", default="book,book_bn,fast,accurate",
                        help="comma-separated presets to run (book_bn and fast are needed for "
                        "the ratio)")
    parser.add_argument("--variant", action="append", default=[],
                        help="a run of a preset (fast unless preset=NAME) with changes, e.g. "
                        "'width=16,lr=0.04' or 'preset=accurate,ema=0.99' (repeatable)")
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
    labels = {"book": "book (no BN, bs 64, 1 ep, lr 0.06)",
              "book_bn": "book final (BN, bs 512, 5 ep, lr 0.1)",
              "fast": "ours: fast (default)", "accurate": "ours: accurate"}
    wanted = [p for p in args.presets.split(",") if p and not (args.skip_accurate
                                                               and p == "accurate")]
    runs = [(labels.get(p, p), PRESETS[p], p) for p in wanted]
    bases: dict[str, str] = {p: p for p in wanted}
    for spec in args.variant:
        base, config = _variant(spec)
        runs.append((f"{base} variant {spec}", config, f"variant {spec}"))
        bases[f"variant {spec}"] = base
    results: dict[str, TrainResult] = {}
    for label, preset_config, preset in runs:
        config = preset_config.with_changes(eval_every=0.25, threads=args.threads)
        start = time.perf_counter()
        r = train(data, config)
        wall = time.perf_counter() - start
        results[preset] = r
        print(f"{label:40s} train {r.train_seconds:6.1f} s (cpu/2 {r.cpu_seconds / 2:5.1f} s, "
              f"with evals {wall:5.1f} s)  test acc {r.final_accuracy:.2%}  "
              f"to 99.0%: {_fmt(r.time_to(0.99))} (epoch {_epoch_at(r, 0.99)})  to 99.5%: "
              f"{_fmt(r.time_to(0.995))} (epoch {_epoch_at(r, 0.995)})", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    book = results.get("book_bn")
    if book is not None:
        print(f"book final recipe: {book.final_accuracy:.2%} in {book.train_seconds:.1f} s")
        for name, ours in results.items():
            if bases[name] == "fast":
                t99 = ours.time_to(0.99)
                ratio = "never reached 99.0%" if t99 is None else f"{t99 / book.train_seconds:.2f}"
                print(f"{name}: time-to-99.0% / book time-to-final {ratio} (target <= 0.20), "
                      f"ends {ours.final_accuracy:.2%} (target >= 99.2%); full run / book "
                      f"{ours.train_seconds / book.train_seconds:.2f}")
            elif bases[name] == "accurate":
                t995 = ours.time_to(0.995)
                ratio = ("never reached 99.5%" if t995 is None
                         else f"{t995 / book.train_seconds:.2f}")
                print(f"{name}: time-to-99.5% / book time-to-final {ratio} (epoch "
                      f"{_epoch_at(ours, 0.995)}), ends {ours.final_accuracy:.2%}; full run / "
                      f"book {ours.train_seconds / book.train_seconds:.2f}")
    if "accurate" in results:
        acc = results["accurate"]
        print(f"accurate preset: {acc.final_accuracy:.2%} in {acc.train_seconds:.1f} s, first "
              f"99.5% at {_fmt(acc.time_to(0.995))} (target >= 99.5% within 60 s)")


if __name__ == "__main__":
    main()
