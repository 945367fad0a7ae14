"""The CLI's one error path (``cli/common.run_app``): what a user sees when something fails.

A tiny app with one command per kind of failure pins each branch; the command-tree walk in
``test_command_tree.py`` checks the real ``convrec`` commands.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import requests
import typer

from convrec.cli.common import CommandFailedError, UserError
from convrec.data.registry import DatasetNotFoundError
from tests.cli.helpers import run_app_for_test, run_cli

failing = typer.Typer(no_args_is_help=True, add_completion=False)
group = typer.Typer(no_args_is_help=True)
failing.add_typer(group, name="group")


@group.command("ok")
def _ok() -> None:
    print("fine")


@group.command("raise")
def _raise(kind: str) -> None:
    errors: dict[str, BaseException] = {
        "user": UserError("--size must be between 1 and 9, got 12"),
        "value": ValueError("padding 'sideways' is not one of valid, same, full"),
        "failed": CommandFailedError("the model file could not be written"),
        "dataset": DatasetNotFoundError("dataset 'ml-100k' not found in /data"),
        "missing": FileNotFoundError("image file not found: cat.png"),
        "key-message": KeyError("unknown kernel 'blurr'; known: blur, sharpen"),
        "key-bare": KeyError("blurr"),
        "bug": ZeroDivisionError("division by zero"),
        "memory": MemoryError(),
        "permission": PermissionError(13, "Permission denied", "/root/out.png"),
        "markup": UserError("expected [a, b] or [bold]x[/bold]"),
    }
    raise errors[kind]


@group.command("offline")
def _offline(kind: str) -> None:
    url = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    if kind == "requests":
        request = requests.Request("GET", url).prepare()
        raise requests.exceptions.ConnectionError("Max retries exceeded", request=request)
    try:
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    except urllib.error.URLError as exc:
        raise RuntimeError("download failed") from exc  # the network error as the cause


@group.command("warn")
def _warn() -> None:
    import warnings

    warnings.warn("ml-1m: no md5 from GroupLens; only record counts are checked", stacklevel=1)
    print("done")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_app_for_test(failing, args, capsys)


@pytest.mark.parametrize(
    ("kind", "code", "text"),
    [
        ("user", 2, "error: --size must be between 1 and 9, got 12"),
        ("value", 2, "error: padding 'sideways' is not one of valid, same, full"),
        ("dataset", 2, "error: dataset 'ml-100k' not found in /data"),
        ("missing", 2, "error: image file not found: cat.png"),
        ("key-message", 2, "error: unknown kernel 'blurr'; known: blur, sharpen"),
        ("failed", 1, "error: the model file could not be written"),
        ("memory", 1, "error: not enough memory"),
        ("permission", 1, "error: cannot use /root/out.png: Permission denied"),
        ("markup", 2, "error: expected [a, b] or [bold]x[/bold]"),  # rich markup not eaten
    ],
)
def test_domain_errors_are_one_line(
    kind: str, code: int, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, out, err = _run(["group", "raise", kind], capsys)
    assert (got, out) == (code, "")
    assert err.strip() == text or err.startswith(text)
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["bug", "key-bare"])
def test_unexpected_exception_is_one_line_pointing_at_debug(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["group", "raise", kind], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: unexpected ") and "--debug" in err and "CONVREC_DEBUG=1" in err


def test_debug_flag_anywhere_or_env_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ZeroDivisionError):
        _run(["group", "raise", "bug", "--debug"], capsys)
    with pytest.raises(ZeroDivisionError):
        _run(["--debug", "group", "raise", "bug"], capsys)
    monkeypatch.setenv("CONVREC_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        _run(["group", "raise", "bug"], capsys)


def test_debug_after_double_dash_is_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    # `--` ends the options: what follows is data, even if it reads --debug
    code, _, err = _run(["group", "raise", "--", "--debug"], capsys)
    assert code == 1 and "unexpected KeyError" in err


@pytest.mark.parametrize("kind", ["requests", "urllib"])
def test_network_failure_is_one_line_with_the_offline_fix(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["group", "offline", kind], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "network is unreachable" in err
    for fix in ("--data-dir", "CONVREC_DATA", "CONVREC_OFFLINE=1"):
        assert fix in err
    if kind == "requests":
        assert "files.grouplens.org/datasets/movielens/ml-100k.zip" in err


def test_warnings_are_one_line_without_source(capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite turns warnings into errors
        code, out, err = _run(["group", "warn"], capsys)
    assert (code, out) == (0, "done\n")
    assert err == "warning: ml-1m: no md5 from GroupLens; only record counts are checked\n"


@pytest.mark.parametrize("args", [[], ["group"]])
def test_no_arguments_print_the_help_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(args, capsys)
    assert code == 2
    assert "Usage:" in out and "Traceback" not in out + err


def test_the_real_convrec_alone_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([], capsys)
    assert code == 2 and err == ""
    for group_name in ("conv", "movies", "mnist", "shapes", "studio"):
        assert group_name in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-command"], "error: No such command 'no-such-command'."),
        (["conv", "shape", "not-a-number"], "error: Invalid value for 'N': "),
        (["conv", "shape", "28", "--no-such-option"], "error: No such option: --no-such-option"),
        (["movies", "recommend"], "error: Missing option '--user'."),
        (["studio", "--port", "99999"], "error: Invalid value for '--port': "),
        (["mnist", "train", "--epochs", "x"], "error: Invalid value for '--epochs': "),
    ],
)
def test_usage_errors_from_the_issue(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(args, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("Usage: convrec") and lines[1].startswith("Try 'convrec")
    assert len(lines) == 3 and lines[2].startswith(message)


def test_a_bad_value_is_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run_cli(["conv", "shape", "not-a-number"], capsys)
    assert "valid integer" in err and "'not-a-number'" in err
    _, _, err = run_cli(["studio", "--port", "99999"], capsys)
    assert "65535" in err and "99999" in err


def test_data_dir_that_does_not_exist_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-folder"
    code, _, err = run_cli(["movies", "similar", "toy story", "--data-dir", str(missing)], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]  # "dir '...'" or "path '...'" (a folder or a zip)
    assert last.startswith("error: Invalid value for '--data-dir': ")
    assert last.endswith(f" '{missing}' does not exist.")


def test_python_dash_m_convrec_works() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "convrec", "conv", "shape", "28", "-k", "3", "-s", "2", "-p", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "(28 + 2*1 - 3)//2 + 1 = 14" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "convrec", "conv", "shape", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[-1].startswith("error: Invalid value for 'N'")
