"""``solve`` and the ``convrec shapes`` command."""

from __future__ import annotations

import json
import subprocess
import sys
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


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "convrec.cli.main", *args],
                          capture_output=True, text=True, env={"COLUMNS": "160", "PATH": ""},
                          timeout=120)


def test_cli_trace_markdown_json_and_failure_exit_code() -> None:
    ok = _cli("shapes", f"{MODELS}:simple_cnn", "--input", "64,1,28,28", "-f", "json")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["output_shape"] == [64, 10] and data["ok"]
    bad = _cli("shapes", "trace", f"{MODELS}:linear_mismatch", "--input", "64,1,28,28",
               "--format", "markdown")
    assert bad.returncode == 1
    assert "**FAILS at 9 (Linear)**" in bad.stdout
    assert "nn.Linear(576, 10) instead of nn.Linear(1024, 10)" in bad.stdout
    table = _cli("shapes", f"{MODELS}:linear_mismatch", "--static")
    assert table.returncode == 1 and "why it fails" in table.stdout


def test_cli_bad_input_is_one_line_exit_2() -> None:
    res = _cli("shapes", f"{MODELS}:simple_cnn", "--input", "64,one,28")
    assert res.returncode == 2
    assert "--input must be comma-separated positive ints" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_solve() -> None:
    res = _cli("shapes", "solve", "28", "14", "-k", "3", "-s", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert [s["explanation"]["text"] for s in json.loads(res.stdout)] == [
        "(28 + 2*1 - 3)//2 + 1 = 14", "(28 + 0 + 1 - 3)//2 + 1 = 14"]
