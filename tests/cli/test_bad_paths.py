"""Paths a user gets wrong: a folder or an empty value where a file is read, and outputs the
user did not name. Each answer is one ``error:`` line, exit 2, before any work is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import run_cli


def _one_error_line(err: str) -> str:
    """The single ``error:`` line of ``err`` (fails the test if there are several or none)."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["movies", "train", "--ratings", "{folder}"],
         "'--ratings': {folder} is a folder; give the ratings file in it, e.g. --ratings "
         "{folder}/ratings.csv"),
        (["movies", "recommend", "--user", "1", "--model", "{folder}"],
         "'--model': {folder} is a folder; give the model file in it, e.g. --model "
         "{folder}/model.npz"),
        (["mnist", "evaluate", "--model", "{folder}"],
         "{folder} is a folder; give the checkpoint file in it, e.g. --model {folder}/model.pt"),
        (["mnist", "predict", "{folder}"],
         "{folder} is a folder; give the image files in it, e.g. {folder}/digit.png"),
        (["conv", "apply", "{folder}"],
         "{folder} is a folder; give the image files in it, e.g. {folder}/digit.png"),
    ],
    ids=lambda v: " ".join(v[:3]) if isinstance(v, list) else "",
)
def test_a_folder_given_as_a_file_is_named_a_folder(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loaders would say "not found" of a folder that exists; the parser says what it is."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, _, err = run_cli([a.format(folder=folder) for a in args], capsys)
    assert code == 2
    assert expected.format(folder=folder) in _one_error_line(err)


def test_a_release_folder_given_as_ratings_suggests_its_ratings_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ML-100K's folder holds ``u.data``: the message suggests that file, which trains."""
    release = tmp_path / "ml-100k"
    release.mkdir()
    (release / "u.data").write_text("1\t2\t3\t881250949\n")
    (release / "u.item").write_text("2|Toy Story (1995)|\n")
    code, _, err = run_cli(["movies", "train", "--ratings", str(release)], capsys)
    assert code == 2
    assert f"e.g. --ratings {release / 'u.data'}" in _one_error_line(err)


@pytest.mark.parametrize(
    "args",
    [["movies", "train", "--ratings", ""], ["movies", "similar", "x", "--model", ""],
     ["mnist", "predict", ""], ["mnist", "kernels", "--model", " "], ["conv", "apply", ""]],
    ids=" ".join,
)
def test_an_empty_input_path_is_refused_not_read_as_the_current_folder(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert "is empty; give the" in _one_error_line(err)


@pytest.mark.parametrize(
    ("args", "default", "flag"),
    [
        (["conv", "animate"], "convolution.gif", "-o"),
        (["mnist", "edges"], "mnist-edges.png", "-o"),
        (["mnist", "evaluate"], "mnist-confusion.png", "--figure"),
        (["mnist", "kernels"], "mnist-kernels.png", "-o"),
        (["movies", "map"], "movie-map.png", "--out"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_default_output_never_replaces_a_file_the_user_did_not_name(
    args: list[str], default: str, flag: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The check comes before any data or model is loaded, and names the way out."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / default).write_text("the user's own file")
    code, _, err = run_cli(args, capsys)
    assert code == 2
    stem, suffix = default.rsplit(".", 1)
    assert (f"{default} already exists and {flag} was not given; name a new output, e.g. "
            f"{flag} {stem}-2.{suffix}, or replace it with {flag} {default}"
            ) in _one_error_line(err)
    assert (tmp_path / default).read_text() == "the user's own file"


def test_conv_apply_keeps_maps_already_in_its_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second run without -o would rewrite conv-out/; a run named -o conv-out may."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    stripes = Image.new("L", (9, 9), 0)
    stripes.paste(255, (0, 3, 9, 6))  # rows the top edge kernel answers
    stripes.save(tmp_path / "digit.png")
    assert run_cli(["conv", "apply", "digit.png", "-k", "top_edge"], capsys)[0] == 0
    first = (tmp_path / "conv-out" / "digit_top_edge.png").read_bytes()
    Image.new("L", (9, 9), 0).save(tmp_path / "digit.png")
    code, _, err = run_cli(["conv", "apply", "digit.png", "-k", "top_edge"], capsys)
    assert code == 2 and "-o conv-out-2" in _one_error_line(err)
    assert (tmp_path / "conv-out" / "digit_top_edge.png").read_bytes() == first
    named = run_cli(["conv", "apply", "digit.png", "-k", "top_edge", "-o", "conv-out"], capsys)
    assert named[0] == 0
    assert (tmp_path / "conv-out" / "digit_top_edge.png").read_bytes() != first


@pytest.mark.parametrize(
    "args",
    [["conv", "apply", "digit.png", "-o", ""], ["conv", "animate", "-o", ""],
     ["mnist", "edges", "-o", ""], ["movies", "map", "--out", " "]],
    ids=" ".join,
)
def test_an_empty_output_path_is_refused_not_read_as_the_current_folder(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert "is empty; name the" in _one_error_line(err)
    assert list(tmp_path.iterdir()) == []
