"""Re-execute the tutorial notebooks and store them with their outputs (``make notebooks``).

Seeds are fixed (every training call is seeded; ``PYTHONHASHSEED=0`` and one torch thread so
that oneDNN's reductions run in the same order), so a rerun on the same machine gives the same
numbers. Data: ``$CONVREC_DATA`` (``../shared/data`` by default when present).

Run: ``python scripts/run_notebooks.py [NAME.ipynb ...] [--timeout 1800] [--cells]``
(``--cells``: print each code cell's seconds, where a tutorial's test spends its time, and
leave the file as it is).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "docs" / "tutorials"  # the notebooks


def execute(path: Path, timeout: int, cells: bool = False) -> float:
    """Run every cell of ``path`` in a fresh kernel and write the outputs back; seconds taken.

    With ``cells``: print each code cell's time and write nothing.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    if not cells:
        client.execute()
    else:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    began = time.perf_counter()
                    client.execute_cell(cell, index)
                    first = cell.source.splitlines()[0][:80] if cell.source else ""
                    print(f"{time.perf_counter() - began:7.2f} s  [{index}] {first}", flush=True)
        return time.perf_counter() - start
    for cell in nb.cells:  # no wall-clock noise in the stored file
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--cells", action="store_true",
                        help="print each code cell's time; do not write the notebook")
    args = parser.parse_args()
    default_data = HERE.parents[2] / "shared" / "data"
    if not os.environ.get("CONVREC_DATA") and default_data.is_dir():
        os.environ["CONVREC_DATA"] = str(default_data)
    os.environ.update(PYTHONHASHSEED="0", CONVREC_THREADS="1")
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend stores the figures
    paths = [HERE / n for n in args.names] if args.names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            sys.exit(f"error: no notebook {path}")
        print(f"{path.name}: {execute(path, args.timeout, args.cells):.0f} s", flush=True)


if __name__ == "__main__":
    main()
