"""The tutorials run top to bottom on the real datasets, in bounded time.

Each notebook is executed by a fresh kernel with ``CONVREC_DATA`` pointing at the shared
datasets (the only way a test reaches them), offline, in a temporary working folder. The
notebooks assert their own claims; here we also check a few printed results, so that a
notebook whose cells were emptied cannot pass.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.docs.conftest import TUTORIALS

# (notebook, text that its outputs must contain)
EXPECTED = {
    "magic-of-convolutions": [
        "image #7 is a 3",
        "(64, 1, 28, 28) -> (64, 4, 26, 26)",
        "(28 + 2*1 - 3)//2 + 1 = 14",
        "(5 + 2*2 - 3)//1 + 1 = 7",
        "im2col equals conv2d:   True",
        "Toeplitz equals conv2d: True",
        "(28 + 2*0 - 5)//2 + 1 = 12",  # the CNN's shape trace
        "accuracy on the 10,000 valid digits: 99.",  # >= 99% (the notebook asserts it too)
    ],
    "movie-recommender": [
        "100,000 ratings, 943 users, 1,682 movies",
        "u1.base 80,000 ratings, u1.test 20,000 ratings",
        "biases      : RMSE 0.96",
        "biased MF (fastai recipe): RMSE 0.9",
        "Bayesian MF (k=",
        "lowest biases:",
        "5 stars  Star Wars (1977)",
        " 1. ",
        "10. ",
    ],
}
FIGURES = {"magic-of-convolutions": 5, "movie-recommender": 1}  # figures each one draws
BUDGET_S = 180  # each notebook must run in under 3 minutes on a 2-core CPU


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            else:
                data = out.get("data", {})
                parts.extend(data[m] for m in ("text/plain", "text/markdown") if m in data)
    return "\n".join(parts)


def _images(nb: nbformat.NotebookNode) -> int:
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    return sum(1 for out in outputs if "image/png" in out.get("data", {}))


def test_every_tutorial_is_checked() -> None:
    assert sorted(p.stem for p in TUTORIALS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("path", sorted(TUTORIALS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_are_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    dirty = [i for i, c in code if c.outputs or c.execution_count]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them before committing"


@pytest.mark.data
@pytest.mark.timeout(BUDGET_S + 120)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tutorial_runs_top_to_bottom(
    name: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVREC_DATA", str(shared_data))  # the kernel inherits the environment
    nb = nbformat.read(TUTORIALS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=BUDGET_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    elapsed = time.perf_counter() - start
    text = _outputs_text(nb)
    missing = [line for line in EXPECTED[name] if line not in text]
    assert not missing, f"{name}: outputs lack {missing}"
    assert _images(nb) == FIGURES[name], "the figures were not all drawn"
    assert elapsed < BUDGET_S, f"{name} took {elapsed:.0f} s (budget {BUDGET_S} s)"
