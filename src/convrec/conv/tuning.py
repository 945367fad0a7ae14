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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "MEASURE_MAX_MULTIPLY_ADDS",
    "ROUNDS",
    "Wisdom",
    "disable",
    "enable",
    "enabled",
    "machine_key",
    "tuned",
    "wisdom",
]

#: Calls bigger than this (about 1 s on one core) are never run three times to be timed.
MEASURE_MAX_MULTIPLY_ADDS = 2 * 10**9
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
#: Bumped when the way of measuring changes: wisdom measured the old way is not reused.
METHOD = "warm-up, interleaved rounds, median (2)"


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

    def measure(self, signature: str, candidates: dict[str, Callable[[], Any]]) -> str:
        """Time every candidate (see the module docstring), record the fastest (saved at once)
        and return it.

        The entry kept is ``{"engine": name, "ms": {engine: median ms}, "rounds": n}``; an
        engine dropped after the first round has that round's time instead.
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
        self.save()
        return best

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


_WISDOM: Wisdom | None = None
#: Wisdom read in this process, by cache folder: re-entering :func:`tuned` (one block per
#: call in a long-running program) must not re-read the file each time (about 1 ms).
_LOADED: dict[Path, Wisdom] = {}


def enable(cache_dir: str | os.PathLike[str], *, budget_s: float = 2.0) -> Wisdom:
    """Turn measured ``auto`` on for this process, with the wisdom kept under ``cache_dir``.

    Args:
        cache_dir: the cache folder (``Settings.cache_dir``); conv does not read settings.
        budget_s: the most time this process spends measuring (default 2 s).
    """
    global _WISDOM
    if _WISDOM is not None and _WISDOM.path.parent == Path(cache_dir):
        return _WISDOM  # already loaded: keep its choices and what is left of its budget
    if Path(cache_dir) in _LOADED:  # a `tuned` block before this one read it: no re-read
        _WISDOM = _LOADED[Path(cache_dir)]
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
    _WISDOM = _LOADED[Path(cache_dir)] = Wisdom(path=path, choices=choices, budget_s=budget_s)
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
