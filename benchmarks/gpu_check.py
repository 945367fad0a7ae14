"""The CUDA path in one short run: MNIST training, a 2-process DDP run over NCCL, conv2d on CUDA.

Meant for the lead on a machine with a CUDA GPU (it has not run on one yet: no GPU was lent
to the session that wrote it). Without CUDA it prints one line and exits 0, so it is safe to
run anywhere. Checks, each printed as one line with its figures (paste them into RESULTS):

1. ``conv2d(x, w, engine="torch")`` on a CUDA tensor equals ``F.conv2d`` on the CPU (the
   four edge kernels on 64 digits and W3's (32,64,56,56)×(64,64,3,3)), and its median time;
   also whether ``engine="auto"`` accepts a CUDA tensor.
2. The MNIST benchmark on CUDA: the book's final recipe (``book_bn``) and the ``fast`` and
   ``accurate`` presets with ``device="cuda"``: training seconds, test accuracy, time to
   99.0% / 99.5% (test accuracy every quarter epoch, as ``bench_mnist.py``).
3. ``train_distributed(..., nproc=2)`` on CUDA (NCCL, ``SyncBatchNorm``): needs two GPUs,
   one per process (NCCL refuses two ranks on one device); with one GPU it says so and
   skips this check.

Usage: python benchmarks/gpu_check.py [--data-dir DIR] [--skip-accurate]
Exit code: 0 when every check that could run passed (or there is no CUDA), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _median_ms(fn: Callable[[], object], reps: int = 20) -> float:
    """Median milliseconds of ``fn`` after a warm-up, synchronising the GPU around each call."""
    import torch

    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def check_conv() -> bool:
    """conv2d(engine="torch") on CUDA tensors against F.conv2d on the CPU."""
    import torch
    import torch.nn.functional as F

    from convrec.conv import conv2d, edge_weights

    ok = True
    gen = torch.Generator().manual_seed(0)
    cases = {
        "edge kernels (64,1,28,28)×(4,1,3,3) p1": (
            torch.rand(64, 1, 28, 28, generator=gen), torch.from_numpy(edge_weights()), 1),
        "W3 (32,64,56,56)×(64,64,3,3) p1": (
            torch.randn(32, 64, 56, 56, generator=gen),
            torch.randn(64, 64, 3, 3, generator=gen) * 0.1, 1),
    }
    for name, (x, w, pad) in cases.items():
        expected = F.conv2d(x, w, padding=pad)  # (N, O, H, W) on the CPU
        xc, wc = x.cuda(), w.cuda()
        got = conv2d(xc, wc, padding=pad, engine="torch")
        same_device = got.device.type == "cuda"
        close = torch.allclose(got.cpu(), expected, atol=1e-3, rtol=1e-3)
        ms = _median_ms(partial(conv2d, xc, wc, padding=pad, engine="torch"))
        ok &= same_device and close
        print(f"conv2d engine=torch on CUDA, {name}: {'ok' if close else 'DIFFERS'} against "
              f"F.conv2d on the CPU, result on {got.device}, median {ms:.3f} ms", flush=True)
    x, w, pad = cases["edge kernels (64,1,28,28)×(4,1,3,3) p1"]
    try:
        got = conv2d(x.cuda(), w.cuda(), padding=pad)
        close = torch.allclose(got.cpu(), F.conv2d(x, w, padding=pad), atol=1e-4)
        print(f"conv2d engine=auto on a CUDA tensor: result on {got.device}, "
              f"{'ok' if close else 'DIFFERS'}")
    except Exception as exc:  # a finding to report, not a crash of the whole check
        print(f"conv2d engine=auto on a CUDA tensor: refused ({type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''})")
    return ok


def _line(label: str, result: object) -> str:
    from convrec.vision.train import TrainResult

    assert isinstance(result, TrainResult)

    def to(acc: float) -> str:
        t = result.time_to(acc)
        return "not reached" if t is None else f"{t:.1f} s"

    return (f"{label:34s} train {result.train_seconds:6.1f} s  test acc "
            f"{result.final_accuracy:.2%}  to 99.0%: {to(0.99)}  to 99.5%: {to(0.995)}")


def check_training(data_dir: str | None, skip_accurate: bool) -> bool:
    """The MNIST benchmark's presets on CUDA."""
    from convrec.vision.mnist import load_mnist
    from convrec.vision.train import PRESETS, train

    data = load_mnist(data_dir=data_dir, download=False)
    print(f"MNIST on CUDA: {data.describe()}" + ("" if data.full else " (not the full 60k + 10k: "
                                                 "accuracies are not comparable)"), flush=True)
    presets = ["book_bn", "fast"] + ([] if skip_accurate else ["accurate"])
    ok = True
    for name in presets:
        result = train(data, PRESETS[name].with_changes(eval_every=0.25, device="cuda"))
        print(_line(f"{name} (cuda)", result), flush=True)
        ok &= result.final_accuracy > 0.9
    return ok


def check_ddp(data_dir: str | None) -> bool | None:
    """Two processes, one GPU each, NCCL; ``None`` when there are fewer than two GPUs."""
    import torch

    from convrec.vision.distributed import train_distributed
    from convrec.vision.mnist import load_mnist
    from convrec.vision.train import PRESETS

    if torch.cuda.device_count() < 2:
        print(f"DDP over NCCL: skipped, {torch.cuda.device_count()} GPU (NCCL needs one GPU per "
              "process; run this on a machine with two)")
        return None
    data = load_mnist(data_dir=data_dir, download=False)
    config = PRESETS["fast"].with_changes(eval_every=0.5, device="cuda")
    result = train_distributed(data, config, nproc=2)
    assert result is not None
    print(_line("fast, 2 processes DDP/NCCL", result), flush=True)
    return result.final_accuracy > 0.9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CONVREC_DATA"))
    parser.add_argument("--skip-accurate", action="store_true",
                        help="leave out the accurate preset (the longest run)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(f"no CUDA GPU visible to torch {torch.__version__}: every GPU check skipped")
        return 0
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.device_count()} × {torch.cuda.get_device_name(0)}", flush=True)
    results = [check_conv(), check_training(args.data_dir, args.skip_accurate),
               check_ddp(args.data_dir)]
    failed = [r for r in results if r is False]
    print("all GPU checks that could run passed" if not failed else
          f"{len(failed)} GPU check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
