"""Timestamps of a studio start, for measuring it (``benchmarks/bench_studio_start.py``).

With ``CONVREC_START_TRACE=FILE`` in the environment, the ``convrec studio`` command and each
of its serving workers append one line per step of their start to ``FILE``::

    <unix time, s> <pid> <role> <step>

(``role``: ``cli`` or ``worker``); :func:`mark` also writes, once per process, the moment the
process itself started (from ``/proc``, 10 ms resolution), as the step ``process started``.
Without the variable, :func:`mark` does nothing but read it. Imports only the standard library.
"""

from __future__ import annotations

import functools
import os
import time

__all__ = ["TRACE_VARIABLE", "mark", "process_start_time"]

#: The environment variable naming the file the steps are appended to.
TRACE_VARIABLE = "CONVREC_START_TRACE"

_started_for: list[int] = []  # the pid whose "process started" line was written


@functools.cache
def _boot_time() -> float:
    """When the machine booted, in Unix seconds: read once per process, so that the start
    times of several processes are measured from one origin (``time.time() − uptime`` moves
    by up to the 10 ms of ``/proc/uptime``'s resolution from one reading to the next)."""
    with open("/proc/uptime", encoding="ascii") as f:
        uptime = float(f.read().split()[0])  # seconds since boot
    return time.time() - uptime


def process_start_time(pid: int | None = None) -> float | None:
    """When process ``pid`` (default: this one) started, in Unix seconds, from
    ``/proc/<pid>/stat`` and ``/proc/uptime`` (10 ms resolution); ``None`` where ``/proc``
    does not say."""
    try:
        with open(f"/proc/{pid or os.getpid()}/stat", encoding="ascii") as f:
            # field 22 (starttime, in clock ticks after boot); the name (field 2) may hold spaces
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        return _boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def mark(role: str, step: str) -> None:
    """Append ``<time> <pid> <role> <step>`` to ``$CONVREC_START_TRACE`` when it is set."""
    path = os.environ.get(TRACE_VARIABLE)
    if not path:
        return
    now, pid = time.time(), os.getpid()
    lines = []
    if _started_for != [pid]:
        _started_for[:] = [pid]
        started = process_start_time()
        if started is not None:
            lines.append(f"{started:.3f} {pid} {role} process started\n")
    lines.append(f"{now:.6f} {pid} {role} {step}\n")
    with open(path, "a", encoding="utf-8") as f:  # one write per line set: lines stay whole
        f.write("".join(lines))
