"""The start trace (``CONVREC_START_TRACE``) that ``benchmarks/bench_studio_start.py`` reads."""

from __future__ import annotations

import os
import subprocess
import sys
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
    timeline.mark("worker", "app built (database checked)")
    timeline.mark("worker", "recommender loaded")
    lines = [line.split(" ", 3) for line in trace.read_text().splitlines()]
    assert [(pid, role, step) for _, pid, role, step in lines] == [
        (str(os.getpid()), "worker", "process started"),
        (str(os.getpid()), "worker", "app built (database checked)"),
        (str(os.getpid()), "worker", "recommender loaded"),
    ]
    started, first, second = (float(stamp) for stamp, *_ in lines)
    assert started < first <= second  # this process started before the test ran


def test_process_start_time_orders_processes_by_when_they_started() -> None:
    # no clock reading here: this test process started seconds before the two children,
    # which start in turn (/proc counts 10 ms ticks, so those two may tie). Asked in the
    # reverse order, so that an answer of "now" would fail
    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    first = subprocess.Popen(sleep)
    second = subprocess.Popen(sleep)
    try:
        later = timeline.process_start_time(second.pid)
        earlier = timeline.process_start_time(first.pid)
        own = timeline.process_start_time()
    finally:
        for child in (first, second):
            child.kill()
            child.wait()
    assert own is not None and earlier is not None and later is not None
    assert own < earlier <= later
    assert timeline.process_start_time(2**22 + 1) is None  # no such process
