"""``solve`` and the ``convrec shapes`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from convrec.conv.shapes import explain
from convrec.shapes import load_model, solve

MODELS = Path(__file__).with_name("models.py")


def test_solve_28_to_14_includes_same_with_stride() -> None:
    found = solve(28, 14, kernels=(3,), strides=(2,))
    assert [str(s.explanation) for s in found] == [
        "(28 + 2*1 - 3)//2 + 1 = 14", "(28 + 0 + 1 - 3)//2 + 1 = 14"]
    assert [s.same for s in found] == [False, True]
    assert found[1].padding == (0, 1)


@pytest.mark.parametrize(("n_in", "n_out"), [(28, 14), (7, 4), (32, 8), (5, 5), (13, 3)])
def test_every_solution_gives_n_out_in_pytorch(n_in: int, n_out: int) -> None:
    found = solve(n_in, n_out, limit=100)
    assert found
    for s in found:
        assert explain(n_in, s.kernel, s.stride, s.padding, s.dilation).result == n_out
        x = torch.nn.functional.pad(torch.zeros(1, 1, n_in, n_in), (*s.padding, *s.padding))
        out = torch.nn.functional.conv2d(x, torch.zeros(1, 1, s.kernel, s.kernel),
                                         stride=s.stride, dilation=s.dilation)
        assert out.shape[-1] == n_out


def test_solve_pool_and_transposed() -> None:
    pools = solve(28, 14, kind="pool", kernels=(2, 3), strides=(2,))
    assert [(s.kernel, s.padding) for s in pools] == [(2, (0, 0)), (3, (1, 1))]
    assert all(nn.MaxPool2d(s.kernel, s.stride, s.padding[0])(torch.zeros(1, 1, 28, 28))
               .shape[-1] == 14 for s in pools)
    ups = solve(7, 14, kind="transposed", kernels=(3,), strides=(2,))
    assert [(s.padding[0], s.output_padding) for s in ups] == [(1, 1)]
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1)
    assert layer(torch.zeros(1, 1, 7, 7)).shape[-1] == 14


def test_solve_bad_inputs() -> None:
    with pytest.raises(ValueError, match="n_out must be a positive int, got n_out=0"):
        solve(28, 0)
    with pytest.raises(ValueError, match="kind must be"):
        solve(28, 14, kind="dense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"kernels must list at least one value"):
        solve(28, 14, kernels=())
    assert solve(3, 10, kernels=(3,), strides=(1,)) == []


def test_load_model_paths_and_errors() -> None:
    assert isinstance(load_model(f"{MODELS}:simple_cnn"), nn.Sequential)
    assert isinstance(load_model("tests.shapes.models:LeNet"), nn.Module)
    with pytest.raises(ValueError, match="'module:attribute'"):
        load_model("simple_cnn")
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        load_model("tests.shapes.models:nope")
    with pytest.raises(ValueError, match=r"not a torch\.nn\.Module"):
        load_model("tests.shapes.models:MODELS_NOT_A_MODULE")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("/nonexistent/m.py:x")


class _Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.returncode, self.stdout, self.stderr = code, out, err


def _cli(capsys: pytest.CaptureFixture[str], *args: str, width: int = 160) -> _Result:
    """``convrec *args`` in-process (the real entry point) on a terminal ``width`` wide."""
    from convrec.cli.common import console
    from tests.cli.helpers import run_cli

    old = console.width
    console.width = width
    try:
        return _Result(*run_cli(list(args), capsys))
    finally:
        console.width = old


def test_cli_trace_markdown_json_and_failure_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    ok = _cli(capsys, "shapes", f"{MODELS}:simple_cnn", "--input", "64,1,28,28", "-f", "json")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["output_shape"] == [64, 10] and data["ok"]
    bad = _cli(capsys, "shapes", "trace", f"{MODELS}:linear_mismatch", "--input",
               "64,1,28,28", "--format", "markdown")
    assert bad.returncode == 1
    assert "**FAILS at 9 (Linear)**" in bad.stdout
    assert "nn.Linear(576, 10) instead of nn.Linear(1024, 10)" in bad.stdout
    table = _cli(capsys, "shapes", f"{MODELS}:linear_mismatch", "--static")
    assert table.returncode == 1 and "why it fails" in table.stdout


def test_cli_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    res = _cli(capsys, "shapes", f"{MODELS}:simple_cnn", "--input", "64,one,28")
    assert res.returncode == 2
    assert "--input must be comma-separated positive ints" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_solve(capsys: pytest.CaptureFixture[str]) -> None:
    res = _cli(capsys, "shapes", "solve", "28", "14", "-k", "3", "-s", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert [s["explanation"]["text"] for s in json.loads(res.stdout)] == [
        "(28 + 2*1 - 3)//2 + 1 = 14", "(28 + 0 + 1 - 3)//2 + 1 = 14"]


def test_cli_bundled_model_names_are_the_mnist_vocabulary(
        capsys: pytest.CaptureFixture[str]) -> None:
    from convrec.vision.models import model_names

    ok = _cli(capsys, "shapes", "simple", "--input", "8,1,28,28", "-f", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["output_shape"] == [8, 10]
    bad = _cli(capsys, "shapes", "nope")
    assert bad.returncode == 2
    assert f"bundled models are {', '.join(model_names())}" in bad.stderr
    assert "build_model" not in bad.stderr and "Traceback" not in bad.stderr


def test_cli_integer_and_named_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    zoo = Path(__file__).with_name("zoo.py")
    tagger = _cli(capsys, "shapes", f"{zoo}:LSTMTagger", "--input", "4,20", "--dtype", "long",
                  "-f", "json")
    assert tagger.returncode == 0, tagger.stderr
    data = json.loads(tagger.stdout)
    assert data["inputs"] == [{"name": "ids", "shape": [4, 20], "dtype": "int64"}]
    assert data["output_shape"] == [4, 20, 5]
    named = _cli(capsys, "shapes", f"{zoo}:LSTMTagger", "--input", "ids=4,20:long", "-f",
                 "json")
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)["output_shape"] == [4, 20, 5]
    wrong = _cli(capsys, "shapes", f"{zoo}:LSTMTagger", "--input", "ids=4,20:text")
    assert wrong.returncode == 2 and "--input dtype must be one of" in wrong.stderr


def test_cli_table_fits_80_columns_and_depth_folds(capsys: pytest.CaptureFixture[str]) -> None:
    res = _cli(capsys, "shapes", f"{MODELS}:ResNetish", "--input", "2,3,16,16", width=80)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "layer" in line and "params" in line)
    assert header.split() == ["#", "layer", "output", "params", "RF", "j=jump"]
    assert any("block.add() Tensor.add" in line and "7 j2" in line for line in lines)
    folded = _cli(capsys, "shapes", f"{MODELS}:ResNetish", "--input", "2,3,16,16", "--depth",
                  "0", "-f", "markdown")
    assert "block.body.0" not in folded.stdout and "| block | Residual |" in folded.stdout


def test_trace_repr_is_short_and_notebooks_get_markdown_and_html() -> None:
    from convrec.shapes import trace

    t = trace(load_model(f"{MODELS}:simple_cnn"), (64, 1, 28, 28))
    assert repr(t) == ("<Trace Sequential on input (64, 1, 28, 28): 10 rows, 9,034 params, "
                       "3,998,848 mult-adds, output (64, 10)>")
    assert t._repr_markdown_() == t.to_markdown()
    assert "<table>" in t._repr_html_() and "(28 + 2*1 - 3)//2 + 1 = 14" in t._repr_html_()
    assert len(repr(t.rows[0])) < 80
