"""``convrec conv animate``: the GIF's geometry checked cell by cell against hand-worked
positions (conv_arithmetic's 5×5 input, 3×3 kernel, padding 1, stride 2), bad numbers refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convrec.vision.animate import (
    INPUT_BLUE,
    OUTPUT_CYAN,
    OUTPUT_DARK,
    WINDOW_BLUE,
    AnimationSpec,
    animation_caption,
)
from tests.cli.helpers import run_cli

CELL = 20


def frames_of(path: Path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        out = []
        for n in range(getattr(gif, "n_frames", 1)):
            gif.seek(n)
            out.append(np.asarray(gif.convert("RGB")))
    return out


def at(frame: np.ndarray, row: int, col: int, left: int = CELL) -> tuple[int, ...]:
    """The colour at the centre of grid cell (row, col); the grid starts one cell in."""
    y, x = CELL + row * CELL + CELL // 2, left + col * CELL + CELL // 2
    return tuple(int(v) for v in frame[y, x])


def test_the_window_steps_by_the_stride_and_the_output_fills(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "anim.gif"
    code, stdout, _ = run_cli(["conv", "animate", "--input", "5", "-k", "3", "-p", "1", "-s", "2",
                               "--cell", str(CELL), "-o", str(out)], capsys)
    assert code == 0, stdout
    frames = frames_of(out)
    assert len(frames) == 3 * 3 + 1 and "10 frames" in stdout  # (5 + 2 - 3)//2 + 1 = 3
    first, second = frames[0], frames[1]
    assert at(first, 0, 0) == WINDOW_BLUE and at(first, 2, 2) == WINDOW_BLUE  # a padding corner
    assert at(first, 1, 3) == INPUT_BLUE  # outside the window: input
    assert at(first, 0, 3) == (255, 255, 255)  # padding, not in the window
    assert at(second, 1, 1) == INPUT_BLUE and at(second, 1, 2) == WINDOW_BLUE  # moved by 2
    assert at(second, 2, 4) == WINDOW_BLUE and at(second, 2, 5) == INPUT_BLUE
    output_left = CELL + 7 * CELL + 2 * CELL  # margin, the 7-cell grid, the gap
    assert at(second, 0, 0, output_left) == OUTPUT_CYAN  # done
    assert at(second, 0, 1, output_left) == OUTPUT_DARK  # being computed
    assert at(second, 0, 2, output_left) == (255, 255, 255)  # still to come
    assert at(frames[-1], 2, 2, output_left) == OUTPUT_CYAN


def test_dilation_spreads_the_taps_and_the_caption_has_the_formula(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dilated.gif"
    code, _, _ = run_cli(["conv", "animate", "-i", "7", "-k", "3", "-d", "2", "--cell",
                          str(CELL), "-o", str(out)], capsys)
    assert code == 0
    first = frames_of(out)[0]
    assert at(first, 0, 0) == WINDOW_BLUE and at(first, 0, 2) == WINDOW_BLUE
    assert at(first, 0, 1) == INPUT_BLUE  # the gap between dilated taps
    caption = animation_caption(AnimationSpec(5, 3, stride=2, padding=1))
    assert caption[1] == "rows: (5 + 2*1 - 3)//2 + 1 = 3"
    same = animation_caption(AnimationSpec(6, 3, stride=2, padding="same"))
    assert any("1 is odd, so 0 goes before and 1 after" in line for line in same)


def test_transposed_inserts_zeros_and_says_what_output_padding_chooses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.gif"
    code, stdout, _ = run_cli(["conv", "animate", "-i", "3", "-k", "3", "-s", "2", "-p", "1",
                               "--transposed", "--output-padding", "1", "--cell", str(CELL),
                               "-o", str(out)], capsys)
    assert code == 0
    assert "37 frames" in stdout  # (3 - 1)*2 - 2*1 + (3 - 1) + 1 + 1 = 6: 36 pixels + 1
    last = frames_of(out)[-1]
    # grid: 1 zero around (k - 1 - p), input pixels at 1, 3, 5: one zero inserted between
    assert at(last, 1, 1) == INPUT_BLUE and at(last, 1, 3) == INPUT_BLUE
    assert at(last, 1, 2) == (255, 255, 255) and at(last, 0, 0) == (255, 255, 255)
    caption = animation_caption(AnimationSpec(3, 3, 2, 1, transposed=True, output_padding=1))
    assert caption[1] == "rows: (3 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 6"
    assert "output_padding (0 to 1) chooses" in caption[2]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-i", "2", "-k", "5"], "must fit in the padded input"),
        (["-p", "100000"], "at most 40 per side"),
        (["-k", "99999"], "kernel size 99999 is too big to draw"),
        (["-s", "0"], "stride must be >= 1"),
        (["-p", "sideways"], "--padding must be an int"),
        (["-p", "1,2"], "one amount for every side"),
        (["-i", "5x"], "--input must be a size such as 5 or 5x7"),
        (["--transposed", "-p", "same"], "takes a number of padding rows"),
        (["--transposed", "-s", "2", "--output-padding", "2"], "output_padding must be smaller"),
        (["--output-padding", "1"], "add --transposed"),
        (["-o", "anim.png"], "name the file with .gif"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(
    args: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "x.gif")]
    code, _, err = run_cli(["conv", "animate", *args], capsys)
    assert code == 2
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
