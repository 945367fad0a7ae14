"""Named kernels: fastai's exact values, the classics' conventions, user kernel parsing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convrec.conv import kernels as K


def test_fastai_edge_kernels_have_the_books_exact_values() -> None:
    assert K.top_edge.tolist() == [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
    assert K.left_edge.tolist() == [[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]]
    assert K.diag1_edge.tolist() == [[0, -1, 1], [-1, 1, 0], [1, 0, 0]]
    assert K.diag2_edge.tolist() == [[1, -1, 0], [0, 1, -1], [0, 0, 1]]
    for k in (K.top_edge, K.left_edge, K.diag1_edge, K.diag2_edge):
        assert k.dtype == np.float32


def test_edge_kernels_stack_in_fastai_order_left_top_diag1_diag2() -> None:
    assert K.edge_kernels.shape == (4, 3, 3)
    assert np.array_equal(K.edge_kernels[0], K.left_edge)
    assert np.array_equal(K.edge_kernels[1], K.top_edge)
    assert np.array_equal(K.edge_kernels[2], K.diag1_edge)
    assert np.array_equal(K.edge_kernels[3], K.diag2_edge)
    w = K.edge_weights()
    assert w.shape == (4, 1, 3, 3)
    assert w.dtype == np.float32


def test_module_kernels_cannot_be_modified_by_accident() -> None:
    with pytest.raises(ValueError):
        K.top_edge[0, 0] = 5


def test_sobel_x_responds_positively_to_intensity_growing_rightwards() -> None:
    from convrec.conv import conv2d

    ramp = np.tile(np.arange(5, dtype=np.float32), (5, 1))  # grows to the right
    assert (conv2d(ramp, K.get_kernel("sobel_x")) > 0).all()
    assert np.allclose(conv2d(ramp, K.get_kernel("sobel_y")), 0)


@pytest.mark.parametrize("name", K.kernel_names())
def test_every_named_kernel_is_finite_float32_2d(name: str) -> None:
    k = K.get_kernel(name)
    assert k.ndim == 2 and k.dtype == np.float32 and np.isfinite(k).all()


def test_gaussian_and_box_are_normalised_and_parametrisable() -> None:
    g = K.get_kernel("gaussian:7:1.5")
    assert g.shape == (7, 7)
    assert g.sum() == pytest.approx(1.0, abs=1e-6)
    assert g[3, 3] == g.max()
    assert K.get_kernel("box:5").sum() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="size must be an odd integer"):
        K.gaussian(4, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        K.gaussian(3, 0.0)


def test_unknown_kernel_name_lists_known_names() -> None:
    with pytest.raises(KeyError, match="top_edge"):
        K.get_kernel("top_egde")


def test_parse_kernel_from_text() -> None:
    k = K.parse_kernel("-1,-1,-1;0,0,0;1,1,1")
    assert np.array_equal(k, K.top_edge)
    assert K.load_kernel("1 0; 0 -1").tolist() == [[1, 0], [0, -1]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2;3", "same number of values"),
        ("1,a;3,4", "row 1"),
        ("1,nan;3,4", "finite"),
        (";", "2-D"),
    ],
)
def test_parse_kernel_rejects_bad_text_with_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        K.parse_kernel(text)


def test_load_kernel_from_json_csv_and_npy(tmp_path: Path) -> None:
    (tmp_path / "k.json").write_text(json.dumps({"kernel": [[0, 1], [1, 0]]}))
    (tmp_path / "k.csv").write_text("0,1\n1,0\n")
    np.save(tmp_path / "k.npy", np.array([[0, 1], [1, 0]], dtype=np.float64))
    for name in ("k.json", "k.csv", "k.npy"):
        k = K.load_kernel(tmp_path / name)
        assert k.tolist() == [[0, 1], [1, 0]] and k.dtype == np.float32


def test_load_kernel_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "empty.json").write_text("[]")
    np.save(tmp_path / "three_d.npy", np.zeros((2, 2, 2)))
    (tmp_path / "obj.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="invalid JSON"):
        K.load_kernel(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="2-D"):
        K.load_kernel(tmp_path / "empty.json")
    with pytest.raises(ValueError, match="2-D"):
        K.load_kernel(tmp_path / "three_d.npy")
    with pytest.raises(ValueError, match=r"\.npy"):
        K.load_kernel(tmp_path / "obj.npy")
    with pytest.raises(FileNotFoundError):
        K.load_kernel(tmp_path / "missing.csv")
