"""How pytest-xdist deals the suite to its workers: the longest work first.

xdist's own ``--dist loadfile`` deals files in order of their number of tests, so the few long
files (the three tutorials, Spark, the docs build) were dealt last and ran alone at the end while
the other workers sat idle: the suite used 1.5 of the machine's 2 cores. Here a work unit is
one test file (its module fixtures are built once), or an ``xdist_group`` for tests that are
independent and long (each tutorial notebook), and the units are dealt longest first (LPT, the
classic greedy rule for scheduling on parallel machines) by the durations of an earlier run kept
in ``tests/durations.json``. Stale or missing durations only make the suite slower, never wrong.

Record the durations again with ``make test-durations`` (``pytest --record-durations``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

DURATIONS_FILE = Path(__file__).with_name("durations.json")
# a test with no recorded duration counts as a typical one (the suite's median is under 0.1 s)
UNKNOWN_TEST_S = 0.5


def read_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    """The recorded seconds per test id; empty when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def work_unit_of(nodeid: str) -> str:
    """The work unit of a test id: its ``xdist_group`` (the ``@name`` suffix), else its file.

    ``tests/docs/test_tutorials.py::test_run[a]@tutorial-a`` -> ``tutorial-a``;
    ``tests/web/test_fuzz.py::test_no_server_errors`` -> ``tests/web/test_fuzz.py``.
    """
    if nodeid.rfind("@") > nodeid.rfind("]"):  # a '@' inside a parameter id is not a group
        return nodeid.rsplit("@", 1)[-1]
    return nodeid.split("::", 1)[0]


class LongestFirstScheduling(LoadScopeScheduling):
    """xdist's ``loadgroup`` with files as the default unit, dealt longest first."""

    def __init__(self, config: pytest.Config, log: Producer | None = None) -> None:
        super().__init__(config, log)
        self.durations = read_durations()
        self._unit_seconds: dict[str, float] = {}

    def _split_scope(self, nodeid: str) -> str:
        return work_unit_of(nodeid)

    def unit_seconds(self, unit: str, nodeids: dict[str, bool]) -> float:
        """The recorded length of a work unit: the sum over its tests."""
        if unit not in self._unit_seconds:
            self._unit_seconds[unit] = sum(self.durations.get(n, UNKNOWN_TEST_S) for n in nodeids)
        return self._unit_seconds[unit]

    def _assign_work_unit(self, node: WorkerController) -> None:
        queue = self.workqueue
        longest = max(queue, key=lambda unit: self.unit_seconds(unit, queue[unit]))
        self.workqueue.move_to_end(longest, last=False)  # the base class deals the first unit
        super()._assign_work_unit(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(
    config: pytest.Config, log: Producer
) -> LongestFirstScheduling | None:
    """Deal longest first under ``--dist loadgroup`` (the Makefile's); other modes as xdist does."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return LongestFirstScheduling(config, log)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-durations",
        action="store_true",
        help=f"write each test's seconds (setup + call + teardown) to {DURATIONS_FILE.name}",
    )


_recorded: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # under xdist the controller receives every worker's reports, so it alone writes the file
    _recorded[report.nodeid] = _recorded.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not session.config.getoption("record_durations") or hasattr(session.config, "workerinput"):
        return
    seconds = {nodeid: round(s, 2) for nodeid, s in sorted(_recorded.items())}
    DURATIONS_FILE.write_text(json.dumps(seconds, indent=0) + "\n")
