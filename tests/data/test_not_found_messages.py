"""A dataset that is not found: the one line says which folders were searched and where each
came from (``--data-dir``, ``CONVREC_DATA``, the cache), for MovieLens and MNIST alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.data import DatasetNotFoundError, locate
from convrec.data.mnist import find_mnist_folder
from convrec.data.movielens import load_movielens
from convrec.settings import get_settings
from convrec.vision.mnist import load_mnist


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CONVREC_CACHE", str(folder))
    return folder


def _message(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(DatasetNotFoundError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "Fix: " in message
    return message


def test_with_neither_the_flag_nor_the_variable(cache: Path) -> None:
    message = _message(load_movielens, "ml-1m")
    assert "neither --data-dir nor CONVREC_DATA is set" in message
    assert "Fix: pass --data-dir DIR or set CONVREC_DATA=DIR" in message
    assert f"the cache has none ({cache / 'data' / 'ml-1m'})" in message
    assert "CONVREC_OFFLINE is set" in message  # why nothing was downloaded
    assert "`convrec movies download ml-1m`" in message


def test_with_convrec_data_set(cache: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "datasets"
    (data / "ml-100k").mkdir(parents=True)  # there, but without its files
    monkeypatch.setenv("CONVREC_DATA", str(data))
    message = _message(load_movielens, "ml-100k")
    assert (f"CONVREC_DATA={data} has no complete ml-100k/ folder (looked in "
            f"{data / 'ml-100k'})") in message
    assert f"the cache has none ({cache / 'data' / 'ml-100k'})" in message
    assert f"Fix: put ml-100k/ into {data}, pass --data-dir DIR" in message
    assert "set CONVREC_DATA" not in message  # it is set: not the advice
    # ML-10M unzips to ml-10M100K/: both names are searched, and said
    assert f"(looked in {data / 'ml-10m'}, {data / 'ml-10M100K'})" in _message(
        locate, "ml-10m")
    # MNIST through the same search: its folder under CONVREC_DATA, then the cache
    message = _message(find_mnist_folder, download=False)
    assert f"CONVREC_DATA={data} has no complete mnist/ folder" in message
    assert f"the cache has none ({cache / 'data' / 'mnist'})" in message


def test_with_data_dir(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given = tmp_path / "mine"
    (given / "ml-100k").mkdir(parents=True)
    (given / "ml-100k" / "u.data").write_text("1\t1\t5\t0\n")
    monkeypatch.setenv("CONVREC_DATA", str(tmp_path / "elsewhere"))  # the flag wins
    for message in (_message(load_movielens, "ml-100k", data_dir=given),
                    _message(locate, "ml-100k", settings=get_settings(data_dir=given))):
        assert message.startswith(f"--data-dir {given} has no complete ml-100k/ folder "
                                  f"(looked in {given / 'ml-100k'}, {given}; missing: README, "
                                  "u.item, u.user, u.genre, u.occupation, u.info and 14 more)")
        assert "u.data" not in message.split("missing: ")[1]  # it is there
        assert "elsewhere" not in message and "cache" not in message  # never searched
    message = _message(load_mnist, data_dir=given)
    assert message.startswith(f"--data-dir {given} has no MNIST: expected {given / 'mnist'}/")
    assert f"looked in {given / 'mnist'} and {given}" in message


def test_a_missing_data_dir_is_named(tmp_path: Path) -> None:
    message = _message(load_movielens, "ml-latest-small", data_dir=tmp_path / "typo")
    assert message.startswith(f"--data-dir {tmp_path / 'typo'} does not exist")
