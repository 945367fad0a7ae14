"""``convrec mnist ...`` run as a user would: outputs, files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.helpers import run_cli
from tests.vision.conftest import draw_digit


@pytest.fixture(scope="module")
def digits_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from convrec.data.mnist_sources import read_embedded_digits

    images, labels = read_embedded_digits()
    take = np.random.default_rng(0).permutation(len(labels))[:600]
    path = tmp_path_factory.mktemp("csv") / "digits.csv"
    rows = np.column_stack([labels[take], images[take].reshape(len(take), -1)])
    path.write_text("\n".join(",".join(map(str, r)) for r in rows))
    return path


def test_edges_prints_the_seed_shapes_and_writes_a_figure(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "edges.png"
    code, stdout, _ = run_cli(["mnist", "edges", "--data-dir", str(shared_data), "-o", str(out),
                               "--rows", "3"], capsys)
    assert code == 0
    assert "(64, 1, 28, 28)" in stdout and "(64, 4, 26, 26)" in stdout
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_train_evaluate_predict_kernels_on_a_csv(
    digits_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "m.pt"
    code, out, _ = run_cli(["mnist", "train", "--source", str(digits_csv), "--epochs", "2",
                            "--bs", "64", "-o", str(ckpt)], capsys)
    assert code == 0, out
    assert "(64, 32, 12, 12)" in out and "valid accuracy" in out and ckpt.is_file()
    code, out, _ = run_cli(["mnist", "evaluate", "--model", str(ckpt), "--source", str(digits_csv),
                            "--figure", str(tmp_path / "c.png")], capsys)
    assert code == 0 and "accuracy" in out and "most confused" in out
    assert (tmp_path / "c.png").is_file()
    img = tmp_path / "seven.png"
    Image.fromarray(draw_digit(7)).save(img)
    code, out, _ = run_cli(["mnist", "predict", str(img), "--model", str(ckpt), "--top", "3",
                            "--figure", str(tmp_path / "p.png")], capsys)
    assert code == 0 and out.startswith("seven.png: ") and out.count("%") >= 3
    code, out, _ = run_cli(["mnist", "kernels", "--model", str(ckpt), "-o",
                            str(tmp_path / "k.png")], capsys)
    assert code == 0 and (tmp_path / "k.png").is_file()


def test_features_compare_prints_both_accuracies(
    digits_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["mnist", "features", "--compare", "--n-train", "400", "--source",
                            str(digits_csv)], capsys)
    assert code == 0 and "raw pixels" in out and "pooled edges" in out


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    code, _, err = run_cli(["mnist", "predict", str(bad)], capsys)
    assert code == 2 and "not an image" in err and "Traceback" not in err
    blank = tmp_path / "blank.png"
    Image.new("L", (60, 60), 255).save(blank)
    ckpt = tmp_path / "bad.pt"
    ckpt.write_bytes(b"xx")
    code, _, err = run_cli(["mnist", "predict", str(blank), "--model", str(ckpt)], capsys)
    assert code == 2 and "not a convrec MNIST checkpoint" in err and "Fix:" in err
    code, _, err = run_cli(["mnist", "train", "--preset", "huge"], capsys)
    assert code == 2 and "--preset must be one of" in err
    code, _, err = run_cli(["mnist", "evaluate", "--source", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and "not found" in err


def test_summary_prints_the_shape_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["mnist", "summary", "--model", "simple"], capsys)
    assert code == 0 and "30,282" in out and "(64, 8, 14, 14)" in out


def test_lr_find_and_progression_commands(
    digits_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figure = tmp_path / "lr.png"
    code, out, _ = run_cli(["mnist", "lr-find", "--source", str(digits_csv), "--steps", "12",
                            "--preset", "book", "--figure", str(figure)], capsys)
    assert code == 0 and "suggestion" in out and figure.is_file(), out
    code, out, _ = run_cli(["mnist", "progression", "--source", str(digits_csv), "--only",
                            "baseline"], capsys)
    assert code == 0 and "baseline" in out and "near zero" in out, out
    code, _, err = run_cli(["mnist", "progression", "--only", "resnet"], capsys)
    assert code == 2 and "--only must be one of baseline" in err
    code, _, err = run_cli(["mnist", "train", "--stats-figure", str(tmp_path)], capsys)
    assert code == 2 and "is a folder" in err


def test_a_movies_model_given_as_a_checkpoint_is_named_and_not_to_be_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both are zips: the fix used to be `convrec mnist train -o` over the movies model."""
    model = tmp_path / "ml-100k-hybrid.npz"
    np.savez(model, __header__=np.frombuffer(b'{"format": 1}', dtype=np.uint8),
             item_factors=np.zeros((3, 2)))
    png = tmp_path / "digit.png"
    Image.new("L", (28, 28), 0).save(png)
    code, _, err = run_cli(["mnist", "predict", str(png), "--model", str(model)], capsys)
    assert code == 2
    assert f"{model} is a movie recommender's model" in err and "mnist train -o" not in err
