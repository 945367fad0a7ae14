"""Measured engine choice for ``engine="auto"``: cuDNN's benchmark mode with FFTW-style wisdom.

A crossover rule learned on one machine misfires on another (issue 17: the same sweep moved
torch's W3 time from 52 to 21 ms on a second machine of the same kind). So, once tuning is
enabled, the first ``auto`` call of each *shape signature* (input and weight shapes, stride,
padding, dilation, groups, dtype, padding mode) runs every candidate engine on the real
arguments, keeps the fastest and records it in a wisdom file in the cache folder, one file
per CPU model, core count and library versions. Later calls, and later processes on the same
machine, look the choice up. Measuring costs at most ``budget_s`` (2 s) of a process's time;
past it, or for calls too large to run three times, the rule of
:func:`convrec.conv.functional.choose_engine` decides.

What is timed is the real call on the first images of its batch (:func:`probe_images`:
about 16 M multiply-adds, a few ms, at least 8 images): every engine's cost grows linearly
with the batch past a few images (each splits a batch by images), so the ranking on the first
images is the ranking on all of them, and a shape costs tens of milliseconds to measure, not
20 calls of the whole batch (the sweep of 32 shapes took 19 s that way).

How one shape is measured (:meth:`Wisdom.measure`): one untimed warm-up call per engine (the
first call pays numba's cache load, oneDNN's primitive creation and the output's page faults),
then up to :data:`ROUNDS` interleaved rounds, each timing every remaining engine once in a
rotating order, so that a burst of load from another process falls on all of them rather than
on one; engines clearly slower in the first round (:data:`CLEARLY_SLOWER`) are dropped, and
the engine with the lowest median wins. Each timing is the second of two back-to-back calls:
the first call after another engine pays for that engine's thread pool still spinning on the
cores (measured on 2 cores: the stencil 9.9 ms right after torch against 6.8 ms after
itself, im2col 10.7 against 5.4), a cost that a program calling one shape over and over never
pays. A single timing per engine (the first version) picked
im2col for W2 p0, 1.35× slower than the stencil, on a shared machine.

A probe can mislead where the whole batch no longer fits the caches: im2col took 1.38 ms on
the first 36 of 256 images of (256, 1, 28, 28) × 64 kernels but 17 ms on all 256, where torch
took 14 (a 1.24× miss on the crossover sweep). So when the probe was not the whole batch and
another engine came within :data:`CONFIRM_WITHIN` of the pick, the next real calls of that
shape confirm it (:meth:`Wisdom.confirming`): the pick runs twice, then the runner-up twice,
each second call timed on the whole batch, all of it twice (:data:`CONFIRM_STEPS`); the
runner-up takes over if its lower time was below :data:`SWITCH_BELOW` of the pick's. These
are the caller's own calls, with the right result; confirming costs at most four calls of
the runner-up, and never runs when one of them would take more than :data:`CONFIRM_MAX_S`.

Tuning is off until a face enables it (``convrec conv apply``, the benchmarks):
``enable(settings.cache_dir)``. Library calls and the test suite therefore get the same,
machine-independent rule; only speed, never a result beyond float rounding, depends on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIRM_MAX_S",
    "CONFIRM_WITHIN",
    "MEASURE_MAX_MULTIPLY_ADDS",
    "PROBE_MIN_IMAGES",
    "PROBE_MULTIPLY_ADDS",
    "REUSE_BLOCKS_BELOW_BYTES",
    "ROUNDS",
    "SWITCH_BELOW",
    "Wisdom",
    "disable",
    "enable",
    "enabled",
    "machine_key",
    "probe_images",
    "reuse_freed_blocks",
    "tuned",
    "wisdom",
]

#: Calls bigger than this (about 1 s on one core) are never run three times to be timed.
MEASURE_MAX_MULTIPLY_ADDS = 2 * 10**9
#: A batch is timed on its first images, as many as make about this much work (1-5 ms on
#: this project's 2-core machines; past the stencil's threshold for using threads, so that
#: the probe runs the same machine code as the whole batch).
PROBE_MULTIPLY_ADDS = 16 * 10**6
#: ... but never fewer images than this (each engine splits a batch by images over threads).
PROBE_MIN_IMAGES = 8
#: Timed rounds per shape at most (each times every remaining engine once).
ROUNDS = 5
#: Rounds always run, whatever they cost (a median needs three samples).
MIN_ROUNDS = 3
#: Past this much measuring on one shape, no further round starts (after MIN_ROUNDS).
SHAPE_BUDGET_S = 0.4
#: An engine whose first timed call took more than this many times the fastest one's is not
#: timed further: it cannot win, and timing it costs the most. (Not judged on the warm-up,
#: which carries one-off costs such as numba loading its compiled code.)
CLEARLY_SLOWER = 4.0
#: A runner-up this close to the pick on the probe is tried on the whole batch as well.
CONFIRM_WITHIN = 1.5
#: ... and takes over when its whole-batch call took less than this share of the pick's.
SWITCH_BELOW = 0.9
#: No whole-batch confirmation when the runner-up's call is expected to take longer than this.
CONFIRM_MAX_S = 0.5
#: The real calls that confirm a probe's pick: (which engine, whether this call is timed).
#: Each timed call follows an untimed one of its engine; two timings each, the lower kept (a
#: single whole-batch timing of torch once read 7.3 ms where it typically takes 3.7).
CONFIRM_STEPS = (("pick", False), ("pick", True), ("runner_up", False), ("runner_up", True)) * 2
#: Bumped when the way of measuring changes: wisdom measured the old way is not reused.
METHOD = ("first images of the batch; warm-up, interleaved rounds, median (3); "
          "close runner-up confirmed on whole-batch calls")


def probe_images(n_batch: int, multiply_adds: int) -> int:
    """How many of a batch's ``n_batch`` images to time the engines on.

    About :data:`PROBE_MULTIPLY_ADDS` of the call's ``multiply_adds`` (whole batch), at least
    :data:`PROBE_MIN_IMAGES`, at most the batch: ``(60000, 1, 28, 28)`` with the four edge
    kernels (1.46 G multiply-adds) is timed on 658 digits, ``(256, 16, 28, 28)`` with 64
    3×3 kernels on 8 images, the seed batch of 64 digits whole.
    """
    if n_batch <= PROBE_MIN_IMAGES or multiply_adds <= PROBE_MULTIPLY_ADDS:
        return n_batch
    per_image = multiply_adds / n_batch
    return min(n_batch, max(PROBE_MIN_IMAGES, -(-PROBE_MULTIPLY_ADDS // int(per_image))))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


@cache
def _machine_key() -> tuple[tuple[str, str], ...]:
    return tuple(
        {
            "cpu": _cpu_model(),
            "cores": str(os.cpu_count()),
            **{name: _version(name) for name in ("numpy", "torch", "numba", "convrec")},
            "method": METHOD,
        }.items()
    )


def machine_key() -> dict[str, str]:
    """What a measurement depends on: CPU model, cores, and the engines' library versions.

    Read once per process (they do not change while it runs).
    """
    return dict(_machine_key())


@dataclass
class Wisdom:
    """Measured choices of one machine, and where they are kept.

    Attributes:
        path: the JSON file (``conv-wisdom-<hash of machine_key()>.json``).
        choices: shape signature -> ``{"engine": name, "ms": {engine: median ms}, "rounds":
            n}`` (see :meth:`measure`).
        budget_s: measuring time this process may still spend.
    """

    path: Path
    choices: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget_s: float = 2.0

    def lookup(self, signature: str) -> str | None:
        entry = self.choices.get(signature)
        return None if entry is None else str(entry["engine"])

    def measure(
        self,
        signature: str,
        candidates: Mapping[str, Callable[[], Any]],
        probe_images: int | None = None,
        batch_images: int | None = None,
    ) -> str:
        """Time every candidate (see the module docstring), record the fastest (saved at once)
        and return it.

        The entry kept is ``{"engine": name, "ms": {engine: median ms}, "rounds": n}``, plus
        ``"probe_images": n`` when the candidates run on the first ``n`` images of the batch
        (:func:`probe_images`); an engine dropped after the first round has that round's
        time instead. When the probe is smaller than the batch (``batch_images``) and a
        runner-up came within :data:`CONFIRM_WITHIN`, the entry also names it
        (``"runner_up"``, ``"pick"``) for :meth:`confirming`.
        """
        spent = 0.0
        for run in candidates.values():  # warm-up, untimed for the choice
            spent += _seconds(run)
        alive = list(candidates)
        samples: dict[str, list[float]] = {name: [] for name in alive}
        rounds = 0
        while rounds < ROUNDS and (rounds < MIN_ROUNDS or spent < SHAPE_BUDGET_S):
            shift = rounds % len(alive)
            for name in alive[shift:] + alive[:shift]:  # rotating order
                spent += _seconds(candidates[name])  # absorbs the switch from another engine
                elapsed = _seconds(candidates[name])
                samples[name].append(elapsed)
                spent += elapsed
            rounds += 1
            if rounds == 1:  # drop the engines that cannot win before they cost more
                fastest = min(times[0] for times in samples.values())
                alive = [name for name in alive if samples[name][0] <= CLEARLY_SLOWER * fastest]
        typical = {name: statistics.median(times) for name, times in samples.items()}
        best = min(alive, key=typical.__getitem__)
        self.budget_s -= spent
        self.choices[signature] = {
            "engine": best,
            "ms": {name: round(typical[name] * 1e3, 4) for name in candidates},
            "rounds": rounds,
        }
        if probe_images is not None:
            self.choices[signature]["probe_images"] = probe_images
        others = sorted((name for name in alive if name != best), key=typical.__getitem__)
        if (
            probe_images is not None
            and batch_images is not None
            and probe_images < batch_images
            and others
            and typical[others[0]] <= CONFIRM_WITHIN * typical[best]
            and typical[others[0]] * batch_images / probe_images <= CONFIRM_MAX_S
        ):
            self.choices[signature].update(
                {"pick": best, "runner_up": others[0], "whole_calls": 0, "whole_ms": {}}
            )
        self.save()
        return best

    def confirming(self, signature: str) -> tuple[str, bool] | None:
        """``(engine, timed)`` for this real call of ``signature`` while its probe's pick
        awaits confirmation on the whole batch (the module docstring), else ``None``.

        The caller runs that engine and reports with :meth:`record_whole`.
        """
        entry = self.choices.get(signature)
        if entry is None or "runner_up" not in entry:
            return None
        step = int(entry["whole_calls"])
        if step >= len(CONFIRM_STEPS):
            return None
        role, timed = CONFIRM_STEPS[step]
        return str(entry[role]), timed

    def record_whole(self, signature: str, seconds: float) -> None:
        """Count one real call of the engine :meth:`confirming` named, which took ``seconds``;
        after the last, keep the faster of the pick and the runner-up (saved), with both
        whole-batch times (``"whole_ms"``)."""
        entry = self.choices[signature]
        step = int(entry["whole_calls"])
        role, timed = CONFIRM_STEPS[step]
        if timed:
            engine, ms = str(entry[role]), round(seconds * 1e3, 4)
            entry["whole_ms"][engine] = min(ms, entry["whole_ms"].get(engine, ms))
        entry["whole_calls"] = step + 1
        if step + 1 == len(CONFIRM_STEPS):
            whole = entry["whole_ms"]
            pick, runner_up = entry["pick"], entry["runner_up"]
            if whole[runner_up] < SWITCH_BELOW * whole[pick]:
                entry["engine"] = runner_up
            self.save()

    def save(self) -> None:
        """Write the file atomically (a torn file would be read as no wisdom, never crash)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"machine": machine_key(), "choices": self.choices}, indent=1))
        os.replace(tmp, self.path)


def _seconds(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


#: Blocks up to this size are kept by the C allocator for reuse once tuning is enabled.
REUSE_BLOCKS_BELOW_BYTES = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_REUSING = False


def reuse_freed_blocks() -> bool:
    """Make glibc's allocator keep freed blocks below 256 MiB for reuse (once per process).

    By default glibc gives a large block back to the system when it is freed (``munmap``),
    so the next allocation of that size page-faults all of it again; torch's convolution
    allocates its output and a oneDNN scratch buffer on every call: (256, 3, 28, 28) × 32
    3×3 kernels took 40 ms with 12,512 page faults a call against 8.4 ms with none (the same
    call with ``MALLOC_MMAP_THRESHOLD_`` set, measured on 2 cores), while the NumPy engines
    reused theirs. The threshold glibc moves by itself depends on what the process freed
    before, so torch's time for one shape differed 4× between two processes, and a
    measurement on a few images (small blocks, reused) said nothing of the whole batch.
    Larger blocks (W2's 649 MB output) are still returned; ``conv2d(..., out=buffer)``
    avoids those faults. Only speed changes; a no-op (``False``) outside glibc.
    """
    global _REUSING
    if _REUSING:
        return True
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl without mallopt): its allocator decides
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _REUSING = bool(
        mallopt(_M_MMAP_THRESHOLD, REUSE_BLOCKS_BELOW_BYTES)
        and mallopt(_M_TRIM_THRESHOLD, 2 * REUSE_BLOCKS_BELOW_BYTES)
    )
    return _REUSING


_WISDOM: Wisdom | None = None
#: Wisdom read in this process, by cache folder: re-entering :func:`tuned` (one block per
#: call in a long-running program) must not re-read the file each time (about 1 ms).
_LOADED: dict[str, Wisdom] = {}  # by os.fspath(cache_dir): no Path parsing per call


def enable(cache_dir: str | os.PathLike[str], *, budget_s: float = 2.0) -> Wisdom:
    """Turn measured ``auto`` on for this process, with the wisdom kept under ``cache_dir``.

    Also keeps the process's freed memory blocks below :data:`REUSE_BLOCKS_BELOW_BYTES` for
    reuse (:func:`reuse_freed_blocks`), so that repeated calls of one shape cost the same on
    their first images and on the whole batch.

    Args:
        cache_dir: the cache folder (``Settings.cache_dir``); conv does not read settings.
        budget_s: the most time this process spends measuring (default 2 s).
    """
    global _WISDOM
    reuse_freed_blocks()
    folder = os.fspath(cache_dir)
    loaded_before = _LOADED.get(folder)
    if loaded_before is not None:  # read by this process already: keep its choices and
        _WISDOM = loaded_before  # what is left of its budget (no re-read, ~1 ms)
        return _WISDOM
    key = json.dumps(machine_key(), sort_keys=True)
    name = f"conv-wisdom-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
    path = Path(cache_dir) / name
    choices: dict[str, dict[str, Any]] = {}
    try:
        loaded = json.loads(path.read_text())
        if loaded.get("machine") == machine_key() and isinstance(loaded.get("choices"), dict):
            choices = loaded["choices"]
    except (OSError, ValueError, AttributeError):
        pass  # absent or torn: measure again
    _WISDOM = _LOADED[folder] = Wisdom(path=path, choices=choices, budget_s=budget_s)
    return _WISDOM


@contextmanager
def tuned(cache_dir: str | os.PathLike[str], *, budget_s: float = 2.0) -> Iterator[Wisdom]:
    """:func:`enable` for the duration of a ``with`` block (a command), then the state before."""
    global _WISDOM
    before = _WISDOM
    try:
        yield enable(cache_dir, budget_s=budget_s)
    finally:
        _WISDOM = before


def disable() -> None:
    """Back to the rule of ``choose_engine`` for every ``auto`` call (and forget what was
    read: a later :func:`enable` reads the file again, as a new process would)."""
    global _WISDOM
    _WISDOM = None
    _LOADED.clear()


def enabled() -> bool:
    return _WISDOM is not None


def wisdom() -> Wisdom | None:
    """The wisdom in use, or ``None`` when tuning is off."""
    return _WISDOM
