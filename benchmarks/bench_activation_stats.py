"""What watching a training run costs: `ActivationStats` against torch's own five passes.

For the chapter's `simple_cnn` (and `simple_bn`) in training mode, at batch 64 and 512: the
forward alone, the forward with `ActivationStats` hooked (one numba pass per layer), and the
forward with the same statistics taken by torch (`mean`, `std`, `abs() <= 0.05`, its mean,
`histc`: what `ActivationStats` did before, the anchor). Median of interleaved rounds; the
hooks' cost is the difference to the forward alone.

Usage: python benchmarks/bench_activation_stats.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch

from convrec.vision.models import build_model
from convrec.vision.watch import HIST_BINS, HIST_RANGE, NEAR_ZERO, ActivationStats, watched_layers


def torch_stats_hooks(model: torch.nn.Module) -> list[torch.utils.hooks.RemovableHandle]:
    """The anchor: the same statistics by torch's operations (the code before the kernel)."""
    def record(_module: object, _inputs: object, output: torch.Tensor) -> None:
        x = output.detach().float()
        torch.histc(x, HIST_BINS, *HIST_RANGE).cpu().numpy()
        float(x.mean()), float(x.std()), float((x.abs() <= NEAR_ZERO).float().mean())

    return [m.register_forward_hook(record) for _, m in watched_layers(model)]


def forward_ms(model: torch.nn.Module, x: torch.Tensor, calls: int = 10) -> float:
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(calls):
            model(x)
    return (time.perf_counter() - start) / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    print(f"load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("| model | batch | forward ms | + ActivationStats ms | + torch's passes ms "
          "| hooks: ours / torch's |")
    print("|---|---|---|---|---|---|")
    for name in ("simple", "simple_bn"):
        for batch in (64, 512):
            torch.manual_seed(0)
            model = build_model(name).train()
            x = torch.randn(batch, 1, 28, 28)
            ours = ActivationStats()
            times: dict[str, list[float]] = {"plain": [], "ours": [], "torch": []}
            for _ in range(2):  # warm-up: numba's cache, oneDNN's primitives
                ours.before_fit(model, 1)
                forward_ms(model, x, 2)
                ours.detach()
            for _ in range(args.rounds):
                times["plain"].append(forward_ms(model, x))
                ours.before_fit(model, 1)
                times["ours"].append(forward_ms(model, x))
                ours.detach()
                handles = torch_stats_hooks(model)
                times["torch"].append(forward_ms(model, x))
                for handle in handles:
                    handle.remove()
            plain, mine, anchor = (statistics.median(times[k]) for k in ("plain", "ours", "torch"))
            ratio = (mine - plain) / (anchor - plain)
            print(f"| {name} | {batch} | {plain:.2f} | {mine:.2f} | {anchor:.2f} | {ratio:.2f} |")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
