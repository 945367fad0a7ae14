"""The GPU path without a GPU: the check script skips cleanly, asking for CUDA is one line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from convrec.vision.train import TrainConfig

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the script runs")
def test_gpu_check_skips_cleanly_without_cuda(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["gpu_check.py"])
    assert _load_script().main() == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("no CUDA GPU visible to torch")
    assert "every GPU check skipped" in out[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_asking_for_cuda_without_a_gpu_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"device='cuda' but torch sees no CUDA GPU; use "
                                         r"device='auto'"):
        TrainConfig(device="cuda").validate().torch_device()
    assert TrainConfig(device="auto").torch_device() == torch.device("cpu")
