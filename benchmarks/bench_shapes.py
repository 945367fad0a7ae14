"""The shape tracer beside torchinfo, in one run: the zoo table and ResNet-50.

For every model of the zoo (``tests/shapes/zoo.py``: transformers' ResNet, ConvNeXt,
MobileNetV2, ViT, BERT, GPT-2, T5, wav2vec2 from tiny configs; a U-Net, small ResNets, an
LSTM tagger), it traces the model with ``convrec.shapes.trace`` and summarises it with
``torchinfo.summary`` on the same input, and prints a markdown table: rows, params ours /
torchinfo, mult-adds ours / torchinfo, convolutions whose receptive field the tests check by
input gradients, and trace time ours / torchinfo (best of ``--repeat``, interleaved so that
both see the same machine load). Then the same for transformers' ResNet-50 (ResNetConfig()
defaults, random weights) at (2, 3, 224, 224), the issue's speed target (within 1.5x).

Usage: python benchmarks/bench_shapes.py [--repeat 3] [--skip-zoo]
(run it under ``flock /tmp/convrec-bench.lock``: it is CPU-heavy)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.shapes.zoo


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _pair(model: Any, entry: Any, repeat: int) -> tuple[Any, Any, float, float]:
    """(trace, torchinfo summary, our time, torchinfo's time), interleaved runs."""
    import torchinfo

    from convrec.shapes import trace

    data = entry.input_data()

    def ours() -> Any:
        return trace(model, entry.input_size, dtypes=entry.dtypes)

    def theirs() -> Any:
        if isinstance(data, dict):
            return torchinfo.summary(model, input_data=data, verbose=0)
        return torchinfo.summary(model, input_data=[data], verbose=0)

    ours(), theirs()  # warm-up: lazy imports, first-call allocations
    t_ours, t_theirs = float("inf"), float("inf")
    t = s = None
    for _ in range(repeat):
        dt, t = _best(ours, 1)
        t_ours = min(t_ours, dt)
        dt, s = _best(theirs, 1)
        t_theirs = min(t_theirs, dt)
    return t, s, t_ours, t_theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-zoo", action="store_true")
    args = parser.parse_args()

    import torch
    from tests.shapes.zoo import ZOO, Entry
    from torch import nn

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load "
          f"{os.getloadavg()[0]:.2f}")
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    if not args.skip_zoo:
        print("\n| model | rows | params ours / torchinfo | mult-adds ours / torchinfo | "
              "convs RF-checked | trace s ours / torchinfo |")
        print("|---|---:|---|---|---:|---|")
        for entry in ZOO:
            if entry.broken:
                continue
            model = entry.build()
            t, s, a, b = _pair(model, entry, args.repeat)
            checked = sum(isinstance(m, convs) for m in model.modules()) if entry.cnn else 0
            print(f"| {entry.name} | {len(t.layers)} | {t.total_params:,} / "
                  f"{s.total_params:,} | {t.total_mult_adds:,} / {s.total_mult_adds:,} | "
                  f"{checked} | {a:.3f} / {b:.3f} ({a / b:.2f}x) |")
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    resnet50 = ResNetModel(ResNetConfig()).eval()
    entry = Entry("ResNet-50", lambda: resnet50, (2, 3, 224, 224))
    t, s, a, b = _pair(resnet50, entry, args.repeat)
    print(f"\nResNet-50 (ResNetConfig() defaults) at (2, 3, 224, 224): rows {len(t.layers)}, "
          f"params {t.total_params:,} / {s.total_params:,}, mult-adds "
          f"{t.total_mult_adds:,} / {s.total_mult_adds:,}; trace {a:.2f} s, torchinfo "
          f"{b:.2f} s: ratio {a / b:.2f} (target <= 1.5); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
