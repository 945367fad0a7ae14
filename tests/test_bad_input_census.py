"""The bad-input census, lean: its ``quick`` cases on every face must be answered clearly.

``benchmarks/census_bad_inputs.py`` tries 500+ bad inputs on the CLI, the HTTP API and the
library and classifies each answer (clear, vague, traceback/5xx, silently accepted). The
cases marked ``quick`` (about 300: one or more per command, route and public function, and
every input a fix of issue 12 is about) run here, in-process, and each must be *clear*: a
regression to a traceback, a 500 or a silent acceptance fails ``make test``. The full
census and its table are in benchmarks/RESULTS.md ("Bad-input census").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks import census_bad_inputs as census


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
          ) -> Iterator[tuple[dict[str, list[census.Case]], Path | None]]:
    """The quick cases of every face, on fixtures made once (two small models, seconds), and
    the shared data folder (``None``: the movie cases are left out)."""
    try:
        data: Path | None = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        data = None  # the movie cases then run without a recommender
    root = tmp_path_factory.mktemp("census")
    with census.census_environment(root):
        built, studio = census.build_cases(root, {"cli", "api", "library"}, data)
        by_face: dict[str, list[census.Case]] = {}
        for case in built:
            if case.quick and (data is not None or not case.name.startswith("movies ")):
                by_face.setdefault(case.face, []).append(case)
        yield by_face, data
        if studio is not None:
            studio.client.__exit__(None, None, None)


def _check(face_cases: list[census.Case]) -> list[str]:
    results = census.run_cases(face_cases)
    return [f"{case.name}: {outcome.kind}: {outcome.detail}"
            for case, outcome, _ in results if outcome.kind != "clear"]


@pytest.mark.parametrize("face", ["cli", "api", "library"])
def test_every_quick_case_is_answered_clearly(
    face: str, cases: tuple[dict[str, list[Any]], Path | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_face, data = cases
    # the census sets its own environment; the suite's autouse fixture reset it per test
    monkeypatch.setenv("CONVREC_THREADS", "1")
    if data is not None:  # the saved recommender's titles come from the release
        monkeypatch.setenv("CONVREC_DATA", str(data))
    assert len(by_face[face]) >= 25, f"{face}: only {len(by_face[face])} quick cases"
    unclear = _check(by_face[face])
    assert not unclear, f"{len(unclear)} of {len(by_face[face])} not clear:\n" + "\n".join(
        unclear)


def test_the_census_classifies_what_it_sees() -> None:
    """The classifier itself, on hand-made answers: it must be able to fail."""
    classify = census._classify_cli
    assert classify(2, "", "Usage: x\nTry 'x --help'.\nerror: --rows must be 1-64\n",
                    ("--rows",)).kind == "clear"
    assert classify(0, "done\n", "", ("--rows",)).kind == "silent"
    assert classify(1, "", "Traceback (most recent call last):\n  ...\nValueError\n",
                    ()).kind == "crash"
    assert classify(1, "", "error: unexpected KeyError: 'x' (this is a bug in convrec; ...)",
                    ()).kind == "crash"
    assert classify(2, "", "error: something is wrong\n", ("--rows",)).kind == "vague"
    http = census._classify_http
    assert http(500, "Internal Server Error", ()).kind == "crash"
    assert http(200, "{}", ()).kind == "silent"
    assert http(422, '{"detail": [{"loc": ["body", "rating"], "msg": "too big"}]}',
                ("rating",)).kind == "clear"
    assert http(422, '{"detail": [{"loc": ["body"], "msg": "bad"}]}', ("rating",)).kind \
        == "vague"
