"""Conv2d speed: our engines and `auto` against PyTorch, SciPy and OpenCV, in one run.

Workloads (float32):
  W1  the seed batch (64,1,28,28) × the 4 edge kernels
  W2  all 60,000 MNIST training digits × the 4 edge kernels (p0; p1; s2)
  W3  (32,64,56,56) × (64,64,3,3), padding 1
  W4  one 2048×2048 image × the 4 edge kernels

Also measures this machine's memory bandwidth (large copy) and float32 GEMM peak, and prints a
markdown table: median time, ratio to torch (lower is faster), and the fraction of the
physical limit (bytes in+out over bandwidth for W1/W2/W4; FLOPs over GEMM peak for W3).

"convrec auto, out= reused buffer" writes into one preallocated output (no page faults of a
fresh 649 MB array on W2); "convrec auto tuned" measures the engines on the first call of
each shape (``convrec.conv.tuning``: warm-up, interleaved rounds, median; wisdom in a fresh
temporary folder) and then uses the fastest; the calls that confirm a probe's pick on the
whole batch run before its timing (a program repeating one shape).

Usage: python benchmarks/bench_conv.py [--quick] [--data-dir DIR] [--only W1,W2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import cv2
import scipy.ndimage
import scipy.signal
import torch
import torch.nn.functional as F

from convrec.conv import conv2d, edge_weights, tuning
from convrec.conv.functional import choose_engine

Array = np.ndarray[Any, Any]


def timeit(fn: Callable[[], object], min_reps: int = 3, max_reps: int = 9,
           budget_s: float = 4.0) -> tuple[float, int]:
    """Median seconds after one warm-up; stops early once the budget is spent."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_reps:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= min_reps and time.perf_counter() - start > budget_s:
            break
    return statistics.median(times), len(times)


def memory_bandwidth_gbs() -> float:
    """Bytes read + written per second by the fastest large copy (numpy 1 thread, torch 2)."""
    n = 256 * 2**20  # 1 GiB of float32
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    t_np, _ = timeit(lambda: np.copyto(dst, src), 3, 5, 3)
    ts, td = torch.from_numpy(src), torch.from_numpy(dst)
    t_t, _ = timeit(lambda: td.copy_(ts), 3, 5, 3)
    return 2 * src.nbytes / min(t_np, t_t) / 1e9


def gemm_peak_gflops() -> float:
    n = 4096
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    t, _ = timeit(lambda: a @ b, 3, 5, 5)
    return 2 * n**3 / t / 1e9


def scipy_signal_loop(x: Array, w: Array, stride: int, pad: int) -> Array:
    out = []
    for img in x[:, 0]:
        src = np.pad(img, pad) if pad else img
        out.append([scipy.signal.correlate2d(src, k, mode="valid")[::stride, ::stride]
                    for k in w[:, 0]])
    return np.asarray(out)


def ndimage_batched(x: Array, w: Array, stride: int, pad: int) -> Array:
    src = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    maps = []
    for k in w[:, 0]:
        full = scipy.ndimage.correlate(src, k[None, None], mode="constant")  # same size
        maps.append(full[:, 0, 1:-1:stride, 1:-1:stride])  # centre of each 3×3 window
    return np.stack(maps, axis=1)


def cv2_stacked(x: Array, w: Array, stride: int, pad: int) -> Array:
    """One filter2D call per kernel on all images stacked vertically (valid rows only)."""
    src = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    n, _, h, wd = src.shape
    tall = np.ascontiguousarray(src[:, 0]).reshape(n * h, wd)
    maps = []
    for k in w[:, 0]:
        full = cv2.filter2D(tall, -1, k, borderType=cv2.BORDER_CONSTANT).reshape(n, h, wd)
        maps.append(full[:, 1:-1:stride, 1:-1:stride])
    return np.stack(maps, axis=1)


def torch_conv(x: Array, w: Array, stride: int, pad: int, channels_last: bool = False) -> Array:
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
        wt = wt.contiguous(memory_format=torch.channels_last)
    return F.conv2d(xt, wt, stride=stride, padding=pad).numpy()


def tuned_auto(x: Array, w: Array, stride: int, pad: int, wisdom_dir: Path) -> Array:
    """``auto`` with tuning on (conv.tuning): the first call per shape measures the engines."""
    with tuning.tuned(wisdom_dir):
        return conv2d(x, w, stride=stride, padding=pad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="W2 on 6,000 digits, fewer reps")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("CONVREC_DATA"))
    parser.add_argument("--only", default="", help="comma-separated workload prefixes (W1,W2)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    load_start = os.getloadavg()

    from convrec.data.mnist import load_mnist_idx

    try:
        train, _ = load_mnist_idx("train", data_dir=args.data_dir, download=False)
        digits = train[:, None].astype(np.float32) / 255  # (60000, 1, 28, 28)
        source = "MNIST train (60,000)"
    except FileNotFoundError:
        digits = np.random.default_rng(0).random((60000, 1, 28, 28), dtype=np.float32)
        source = "random (MNIST not found)"
    if args.quick:
        digits = digits[:6000]
    rng = np.random.default_rng(0)
    ew = edge_weights()
    workloads: dict[str, tuple[Array, Array, int, int]] = {
        "W1 seed (64,1,28,28)×4": (np.ascontiguousarray(digits[:64]), ew, 1, 0),
        f"W2 {len(digits)}×4 p0": (digits, ew, 1, 0),
        f"W2 {len(digits)}×4 p1": (digits, ew, 1, 1),
        f"W2 {len(digits)}×4 s2": (digits, ew, 2, 0),
        "W3 (32,64,56,56)×(64,64,3,3) p1": (
            rng.standard_normal((32, 64, 56, 56), dtype=np.float32),
            rng.standard_normal((64, 64, 3, 3), dtype=np.float32) * 0.1, 1, 1),
        "W4 2048²×4": (rng.random((1, 1, 2048, 2048), dtype=np.float32), ew, 1, 0),
    }
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy "
          f"{np.__version__}, scipy {scipy.__version__}, opencv {cv2.__version__}; "
          f"W2 data: {source}")
    bandwidth = memory_bandwidth_gbs()
    peak = gemm_peak_gflops()
    print(f"memory bandwidth (copy, read+write): {bandwidth:.1f} GB/s; "
          f"float32 GEMM peak (numpy 4096³): {peak:.0f} GFLOP/s\n")

    import tempfile

    wisdom_dir = Path(tempfile.mkdtemp(prefix="conv-wisdom-"))  # fresh: measured in this run
    rows: list[list[str]] = []
    only = [p for p in args.only.split(",") if p]
    for name, (x, w, stride, pad) in workloads.items():
        if only and not any(name.startswith(p) for p in only):
            continue
        few_channels = x.shape[1] == 1
        ref = torch_conv(x, w, stride, pad)
        out_bytes = ref.nbytes
        flops = 2 * ref.size * w.shape[1] * w.shape[2] * w.shape[3]
        impls: dict[str, Callable[[], Array]] = {
            "torch F.conv2d": lambda x=x, w=w, s=stride, p=pad: torch_conv(x, w, s, p),
        }
        if not few_channels:
            impls["torch channels_last"] = lambda x=x, w=w, s=stride, p=pad: torch_conv(
                x, w, s, p, True)
        for engine in ("auto", "stencil", "im2col", "direct"):
            if engine == "direct" and x.shape[0] * w.shape[0] * ref.shape[-1] ** 2 > 2e5:
                continue  # pure-Python loops: only the seed batch is practical
            impls[f"convrec {engine}"] = (
                lambda x=x, w=w, s=stride, p=pad, e=engine: conv2d(x, w, stride=s, padding=p,
                                                                   engine=e))
        buffer = np.empty_like(ref)  # repeated feature extraction: one output, reused
        impls["convrec auto, out= reused buffer"] = (
            lambda x=x, w=w, s=stride, p=pad, b=buffer: conv2d(x, w, stride=s, padding=p,
                                                               out=b))
        impls["convrec auto tuned (measured per shape)"] = (
            lambda x=x, w=w, s=stride, p=pad: tuned_auto(x, w, s, p, wisdom_dir))
        if few_channels:
            if x.shape[0] <= 6000 or x.shape[-1] > 28:
                impls["scipy correlate2d loop"] = (
                    lambda x=x, w=w, s=stride, p=pad: scipy_signal_loop(x, w, s, p))
            impls["scipy ndimage batched"] = (
                lambda x=x, w=w, s=stride, p=pad: ndimage_batched(x, w, s, p))
            impls["opencv filter2D stacked"] = (
                lambda x=x, w=w, s=stride, p=pad: cv2_stacked(x, w, s, p))
        results: dict[str, float] = {}
        for label, fn in impls.items():
            got = fn()
            if not np.allclose(got, ref, atol=1e-3, rtol=1e-3):
                raise SystemExit(f"{label} disagrees with torch on {name}")
            if "tuned" in label:  # the calls that confirm a probe's pick, before the timing
                for _ in tuning.CONFIRM_STEPS:
                    fn()
            results[label], _ = timeit(fn, budget_s=2.0 if args.quick else 4.0)
        t_torch = results["torch F.conv2d"]
        for label, t in results.items():
            if few_channels:
                limit = (x.nbytes + out_bytes) / (bandwidth * 1e9)
                frac = f"{limit / t:.1%} of bandwidth"
            else:
                frac = f"{flops / t / 1e9 / peak:.1%} of GEMM peak"
            rows.append([name, label, f"{t * 1e3:.2f}", f"{t / t_torch:.2f}", frac])
        auto_pick = choose_engine(x.shape, w.shape)  # type: ignore[arg-type]
        wisdom = tuning.enable(wisdom_dir)
        tuning.disable()
        measured = {k: v["engine"] for k, v in wisdom.choices.items() if str(x.shape) in k}
        rows.append([name, f"(auto picks: {auto_pick}; tuned picks: "
                     f"{', '.join(measured.values()) or '-'})", "", "", ""])
        print(f"done {name}", file=sys.stderr)

    load = " ".join(f"{v:.2f}" for v in (*load_start, *os.getloadavg()))
    print(f"load average (1, 5, 15 min) at start, then at end: {load}")
    print("| workload | implementation | median ms | ratio to torch | fraction of limit |")
    print("|---|---|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
