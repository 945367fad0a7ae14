"""The start trace (``CONVREC_START_TRACE``) that ``benchmarks/bench_studio_start.py`` reads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convrec.web import timeline


def test_mark_writes_nothing_without_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(timeline.TRACE_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    timeline.mark("cli", "a step")
    assert list(tmp_path.iterdir()) == []


def test_mark_appends_steps_after_the_process_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = tmp_path / "trace"
    monkeypatch.setenv(timeline.TRACE_VARIABLE, str(trace))
    monkeypatch.setattr(timeline, "_started_for", [])
    before = time.time()
    timeline.mark("worker", "app built (database checked)")
    timeline.mark("worker", "recommender loaded")
    lines = [line.split(" ", 3) for line in trace.read_text().splitlines()]
    assert [(pid, role, step) for _, pid, role, step in lines] == [
        (str(os.getpid()), "worker", "process started"),
        (str(os.getpid()), "worker", "app built (database checked)"),
        (str(os.getpid()), "worker", "recommender loaded"),
    ]
    started, first, second = (float(stamp) for stamp, *_ in lines)
    assert started <= before <= first <= second


def test_process_start_time_of_a_child_is_when_it_started(tmp_path: Path) -> None:
    before = time.time()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = timeline.process_start_time(child.pid)
    finally:
        child.kill()
        child.wait()
    assert started is not None
    assert before - 0.05 <= started <= time.time() + 0.05  # /proc counts in 10 ms ticks
    assert timeline.process_start_time(2**22 + 1) is None  # no such process
