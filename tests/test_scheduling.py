"""The suite's own scheduling (tests/scheduling.py): units by file or group, longest first."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.scheduling import LongestFirstScheduling, read_durations, work_unit_of

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("tests/web/test_fuzz.py::test_no_server_errors", "tests/web/test_fuzz.py"),
        ("tests/a.py::TestX::test_y[1]", "tests/a.py"),
        ("tests/docs/test_tutorials.py::test_run[movie]@tutorial-movie", "tutorial-movie"),
        ("tests/a.py::test_email[me@host]", "tests/a.py"),  # a '@' in a parameter is no group
    ],
)
def test_a_test_belongs_to_its_group_else_to_its_file(nodeid: str, unit: str) -> None:
    assert work_unit_of(nodeid) == unit


class _RecordingWorker:
    """Stands in for xdist's WorkerController: records the test indexes it is sent."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[list[int]] = []
        self.shutting_down = False

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def test_the_longest_units_are_dealt_first_and_a_file_stays_whole(
    pytester: pytest.Pytester,
) -> None:
    collection = [
        "tests/a.py::test_1",
        "tests/a.py::test_2",
        "tests/a.py::test_3",
        "tests/b.py::test_1",
        "tests/c.py::test_long[x]@long-x",
        "tests/c.py::test_long[y]@long-y",
    ]
    config = pytester.parseconfigure("--tx", "2*popen", "--dist", "loadgroup")
    scheduler = LongestFirstScheduling(config)
    scheduler.durations = {
        "tests/a.py::test_1": 1.0,
        "tests/a.py::test_2": 1.0,
        "tests/b.py::test_1": 0.1,
        "tests/c.py::test_long[x]@long-x": 80.0,
        "tests/c.py::test_long[y]@long-y": 60.0,
    }
    first, second = _RecordingWorker("gw0"), _RecordingWorker("gw1")
    for worker in (first, second):
        scheduler.add_node(worker)  # type: ignore[arg-type]
        scheduler.add_node_collection(worker, collection)  # type: ignore[arg-type]
    scheduler.schedule()
    # xdist's own loadfile would deal tests/a.py first (the most tests) and the long ones last
    assert first.sent[0] == [4] and second.sent[0] == [5]
    dealt = [sorted(batch) for worker in (first, second) for batch in worker.sent]
    assert [0, 1, 2] in dealt, "a file is one unit: its module fixtures are built once"


def test_missing_or_broken_durations_only_lose_the_order(tmp_path: Path) -> None:
    assert read_durations(tmp_path / "none.json") == {}
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert read_durations(broken) == {}
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"tests/a.py::t": 2}))
    assert read_durations(good) == {"tests/a.py::t": 2.0}
