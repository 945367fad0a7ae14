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

Tuning is off until a face enables it (``convrec conv apply``, the benchmarks):
``enable(settings.cache_dir)``. Library calls and the test suite therefore get the same,
machine-independent rule; only speed, never a result beyond float rounding, depends on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
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
#: A candidate faster than this is timed twice (min): the first call pays warm-up costs.
_RETIME_BELOW_S = 0.05


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
        choices: shape signature -> ``{"engine": name, "ms": {engine: time}}``.
        budget_s: measuring time this process may still spend.
    """

    path: Path
    choices: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget_s: float = 2.0

    def lookup(self, signature: str) -> str | None:
        entry = self.choices.get(signature)
        return None if entry is None else str(entry["engine"])

    def measure(self, signature: str, candidates: dict[str, Callable[[], Any]]) -> str:
        """Run and time every candidate, record the fastest (saved at once) and return it."""
        times: dict[str, float] = {}
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            if elapsed < _RETIME_BELOW_S:
                start = time.perf_counter()
                run()
                elapsed = min(elapsed, time.perf_counter() - start)
            times[name] = elapsed
            self.budget_s -= elapsed
        best = min(times, key=times.__getitem__)
        self.choices[signature] = {
            "engine": best, "ms": {k: round(v * 1e3, 4) for k, v in times.items()}
        }
        self.save()
        return best

    def save(self) -> None:
        """Write the file atomically (a torn file would be read as no wisdom, never crash)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"machine": machine_key(), "choices": self.choices}, indent=1))
        os.replace(tmp, self.path)


_WISDOM: Wisdom | None = None


def enable(cache_dir: str | os.PathLike[str], *, budget_s: float = 2.0) -> Wisdom:
    """Turn measured ``auto`` on for this process, with the wisdom kept under ``cache_dir``.

    Args:
        cache_dir: the cache folder (``Settings.cache_dir``); conv does not read settings.
        budget_s: the most time this process spends measuring (default 2 s).
    """
    global _WISDOM
    key = json.dumps(machine_key(), sort_keys=True)
    if _WISDOM is not None and _WISDOM.path.parent == Path(cache_dir):
        return _WISDOM  # already loaded: keep its choices and what is left of its budget
    name = f"conv-wisdom-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
    path = Path(cache_dir) / name
    choices: dict[str, dict[str, Any]] = {}
    try:
        loaded = json.loads(path.read_text())
        if loaded.get("machine") == machine_key() and isinstance(loaded.get("choices"), dict):
            choices = loaded["choices"]
    except (OSError, ValueError, AttributeError):
        pass  # absent or torn: measure again
    _WISDOM = Wisdom(path=path, choices=choices, budget_s=budget_s)
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
    """Back to the rule of ``choose_engine`` for every ``auto`` call."""
    global _WISDOM
    _WISDOM = None


def enabled() -> bool:
    return _WISDOM is not None


def wisdom() -> Wisdom | None:
    """The wisdom in use, or ``None`` when tuning is off."""
    return _WISDOM
