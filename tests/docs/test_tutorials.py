"""The tutorials run top to bottom on the real datasets.

Each notebook is executed once, by a fresh kernel with ``CONVREC_DATA`` pointing at the shared
datasets (the only way a test reaches them), offline, in a temporary working folder. The
notebooks assert their own claims; here we also check a few printed results, so that a
notebook whose cells were emptied cannot pass. No wall-clock budget: how long they take is a
benchmark's business, and a busy machine must not fail the suite; the timeout only stops a
hung kernel.

The documentation site renders the notebooks as stored (``mkdocs.yml``: ``execute: false``),
so a notebook stored with outputs must hold one complete top-to-bottom run showing the same
results (``make notebooks`` writes them).
"""

from __future__ import annotations

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
        "epoch 4: train loss",  # chapter 8's DotProductBias, written out in the notebook
    ],
    "training-you-can-see": [
        "baseline",
        "bigger batch",
        "lr_find: suggestion",
        "batchnorm",
        "| experiment | valid accuracy | train s | last ReLU near zero |",
    ],
}
FIGURES = {"magic-of-convolutions": 5, "movie-recommender": 1,  # figures each one draws
           "training-you-can-see": 5}
# A hung kernel's stop, not a budget: about 5x a notebook's run on a quiet 2-core machine
# (see benchmarks/RESULTS.md, "Test suite"), so two busy cores cannot trip it.
CELL_TIMEOUT_S = 600
NOTEBOOK_TIMEOUT_S = 1200


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
def test_stored_outputs_are_one_complete_run(path: Path) -> None:
    """Stored without outputs, or with every cell of one clean run: never a half-run page."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not any(c.outputs or c.execution_count for c in code):
        return  # stripped: the site shows the code only
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts} are not one top-to-bottom run; "
        "re-run it with `make notebooks`"
    )
    errors = [i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"{path.name}: code cells {errors} store an error"
    missing = [line for line in EXPECTED[path.stem] if line not in _outputs_text(nb)]
    assert not missing, f"{path.name}: stored outputs lack {missing}; re-run `make notebooks`"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
# each notebook its own xdist work unit (tests/scheduling.py): run one after another they
# were the suite's longest chain
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xdist_group(f"tutorial-{n}")) for n in sorted(EXPECTED)],
)
def test_tutorial_runs_top_to_bottom(
    name: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVREC_DATA", str(shared_data))  # the kernel inherits the environment
    nb = nbformat.read(TUTORIALS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    text = _outputs_text(nb)
    missing = [line for line in EXPECTED[name] if line not in text]
    assert not missing, f"{name}: outputs lack {missing}"
    assert _images(nb) == FIGURES[name], "the figures were not all drawn"
