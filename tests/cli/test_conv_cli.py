"""``convrec conv ...`` and ``convrec demo`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.helpers import run_cli


def test_shape_prints_the_formula_with_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["conv", "shape", "28", "-k", "3", "-s", "2", "-p", "1"], capsys)
    assert code == 0
    assert "(28 + 2*1 - 3)//2 + 1 = 14" in out
    assert "never visited" in out


def test_shape_json_and_transposed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["conv", "shape", "5", "-k", "3", "-p", "full", "--json"], capsys)
    assert code == 0 and json.loads(out)["result"] == 7
    code, out, _ = run_cli(
        [
            "conv",
            "shape",
            "14",
            "-k",
            "3",
            "-s",
            "2",
            "-p",
            "1",
            "--transposed",
            "--output-padding",
            "1",
        ],
        capsys,
    )
    assert code == 0 and "= 28" in out


def test_impossible_shape_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["conv", "shape", "2", "-k", "5"], capsys)
    assert code == 2
    assert "impossible convolution" in err and "Traceback" not in err + out
    code, _, err = run_cli(["conv", "shape", "28", "-s", "0"], capsys)
    assert code == 2 and "stride" in err


def test_kernels_lists_fastai_kernels(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["conv", "kernels", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["top_edge"] == [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
    assert "sobel_x" in data and "gaussian" in data


def test_matmul_prints_both_matrices_and_checks_them(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["conv", "matmul", "--input", "4x4", "--kernel", "top_edge"], capsys)
    assert code == 0
    assert "im2col(x)" in out and "(9, 4)" in out
    assert "Toeplitz matrix M" in out and "(4, 16)" in out
    assert "equal" in out


def _digit_png(path: Path) -> Path:
    img = np.zeros((28, 28), np.uint8)
    img[6:22, 12:16] = 255
    Image.fromarray(img).save(path)
    return path


def test_apply_writes_feature_maps_and_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _digit_png(tmp_path / "one.png")
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        [
            "conv",
            "apply",
            str(src),
            "--kernel",
            "top_edge",
            "--kernel",
            "left_edge",
            "-p",
            "same",
            "-o",
            str(out_dir),
        ],
        capsys,
    )
    assert code == 0, err
    assert (out_dir / "one_top_edge.png").is_file() and (out_dir / "grid.png").is_file()
    with Image.open(out_dir / "one_left_edge.png") as im:
        assert im.size == (28, 28)  # "same" keeps 28
    assert "(28, 28) → (28, 28)" in out


@pytest.mark.parametrize("kind", ["not_image", "truncated", "huge", "empty"])
def test_apply_bad_files_give_one_line_and_exit_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"{kind}.png"
    if kind == "not_image":
        path.write_text("hello, I am text")
    elif kind == "truncated":
        good = _digit_png(tmp_path / "good.png").read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        Image.new("L", (6000, 5000)).save(path)  # 30 Mpx > the 25 Mpx limit
    code, out, err = run_cli(["conv", "apply", str(path), "-o", str(tmp_path / "o")], capsys)
    assert code == 2
    assert path.name in err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) <= 2  # one message (rich may wrap once)


def test_apply_unknown_kernel_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _digit_png(tmp_path / "d.png")
    code, _, err = run_cli(["conv", "apply", str(src), "--kernel", "nope"], capsys)
    assert code == 2 and "unknown kernel 'nope'" in err


def test_demo_prints_the_seed_walkthrough(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["demo", "--data-dir", str(shared_data)], capsys)
    assert code == 0
    for expected in (
        "(4, 3, 3)",
        "(4, 1, 3, 3)",
        "(64, 1, 28, 28)",
        "(64, 4, 26, 26)",
        "(5 + 2*2 - 3)//1 + 1 = 7",
        "MNIST (IDX files)",
    ):
        assert expected in out


def test_typer_exit_codes_reach_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from convrec.cli.common import fail
    from tests.cli.helpers import run_app_for_test

    app = typer.Typer()

    @app.command()
    def boom() -> None:
        fail("the reason")

    code, _, err = run_app_for_test(app, [], capsys)
    assert code == 2 and "the reason" in err


@pytest.mark.parametrize(
    "args",
    [["conv", "apply", "{png}", "-s", "99999999999999999999", "-o", "{out}"],
     ["conv", "apply", "{png}", "-d", "99999999999999999999", "-o", "{out}"],
     ["conv", "matmul", "-s", "99999999999999999999"]],
    ids=lambda args: " ".join(args[:2] + args[-4:-2]),
)
def test_a_stride_beyond_64_bits_is_one_line_not_a_crash(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """numba and torch take int64: a larger stride crashed them ("this is a bug")."""
    png = tmp_path / "digit.png"
    Image.new("L", (28, 28), 100).save(png)
    line = [a.format(png=png, out=tmp_path / "out") for a in args]
    code, _, err = run_cli(line, capsys)
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith("error:") and "bug" not in err
    assert "must be at most 9,223,372,036,854,775,807" in err or "must fit" in err
    assert not (tmp_path / "out").exists()
