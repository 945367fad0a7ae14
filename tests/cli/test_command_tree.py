"""Every ``convrec`` command, found by walking the live command tree, answers a usage mistake
with click's usage line and one ``error:`` line, exit code 2, and never a traceback.

Three mistakes per command: an unknown option; no arguments where some are required; a
badly typed value for each of its typed parameters (numbers, and folders that must exist).
Nothing here lists commands by hand: a new command is walked as soon as it is registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convrec.cli.common import walk_commands
from tests.cli.helpers import run_cli

COMMANDS = list(walk_commands())
#: click's names of its number types (``ParamType.name``; ranges for ``min=``/``max=``).
NUMBER_TYPES = {"integer", "float", "integer range", "float range"}


def _ids(path: tuple[str, ...]) -> str:
    return " ".join(path)


def _is_number(param: Any) -> bool:
    """Whether click parses the parameter as a number (``list[int]`` counts: its items)."""
    return param.type.name in NUMBER_TYPES


def _must_exist(param: Any) -> bool:
    return bool(getattr(param.type, "exists", False))


def _typed_params() -> list[tuple[tuple[str, ...], Any]]:
    """(command path, parameter) for every parameter that rejects a badly typed value."""
    cases = []
    for path, command in COMMANDS:
        for param in command.params:
            if _is_number(param) or _must_exist(param):
                cases.append((path, param))
    return cases


def _valid_filler(param: Any) -> str:
    """A well-typed value for a required parameter, so the bad one is what fails."""
    return "3" if _is_number(param) else "x"


def _assert_usage_error(code: int, out: str, err: str, path: tuple[str, ...], what: str) -> None:
    assert "Traceback" not in out + err
    assert code == 2, f"convrec {_ids(path)} ({what}) exited {code}: {err or out}"
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"Usage: convrec {_ids(path)}"), err
    assert lines[-1].startswith("error: "), err
    assert len(lines) == 3, f"one usage line, one hint, one error line; got {err!r}"


def test_the_walk_finds_every_group() -> None:
    groups = {path[0] for path, _ in COMMANDS}
    assert {"conv", "demo", "mnist", "movies", "shapes", "studio"} <= groups
    assert len(COMMANDS) > 20


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[_ids(p) for p, _ in COMMANDS])
def test_unknown_option(
    path: tuple[str, ...], command: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli([*path, "--no-such-option"], capsys)
    _assert_usage_error(code, out, err, path, "unknown option")
    assert "No such option: --no-such-option" in err


REQUIRING = [(p, c) for p, c in COMMANDS if any(param.required for param in c.params)]


@pytest.mark.parametrize(("path", "command"), REQUIRING, ids=[_ids(p) for p, _ in REQUIRING])
def test_missing_required_argument(
    path: tuple[str, ...], command: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(list(path), capsys)
    _assert_usage_error(code, out, err, path, "missing argument")
    assert "Missing" in err


TYPED = _typed_params()


def test_the_typed_parameters_are_found() -> None:
    # were click to rename its types, the walk would find none and the test below run on none
    found = {(_ids(path), param.name) for path, param in TYPED}
    assert {("conv shape", "n"), ("studio", "port"), ("studio", "data_dir")} <= found


@pytest.mark.parametrize(
    ("path", "param"), TYPED, ids=[f"{_ids(p)} {param.opts[0]}" for p, param in TYPED]
)
def test_badly_typed_value(
    path: tuple[str, ...], param: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = "not-a-number" if _is_number(param) else str(tmp_path / "no-such-folder")
    command = dict(COMMANDS)[path]
    args: list[str] = []
    for other in command.params:  # the required ones get good values, in declaration order
        value = bad if other is param else _valid_filler(other) if other.required else None
        if value is None:
            continue
        args += [value] if other.param_type_name == "argument" else [other.opts[0], value]
    code, out, err = run_cli([*path, *args], capsys)
    _assert_usage_error(code, out, err, path, f"{param.opts[0]} {bad}")
    assert "Invalid value for" in err and bad in err
