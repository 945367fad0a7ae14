"""``convrec movies`` as a user runs it (real ML-100K through --data-dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convrec.cli.main import app

runner = CliRunner()


def test_similar_rate_recommend(shared_data: Path, tmp_path: Path) -> None:
    dd = ["--data-dir", str(shared_data)]
    out = runner.invoke(app, ["movies", "similar", "star wars", "-n", "3", *dd])
    assert out.exit_code == 0, out.output
    assert "similar to Star Wars (1977)" in out.output
    out = runner.invoke(app, ["movies", "rate", "star wars=5", "toy story=4", "-n", "3", *dd])
    assert out.exit_code == 0, out.output
    assert "fold-in took" in out.output and "because you rated" in out.output
    out = runner.invoke(app, ["movies", "recommend", "--user", "42", "-n", "3", *dd])
    assert out.exit_code == 0, out.output
    png = tmp_path / "map.png"
    out = runner.invoke(app, ["movies", "map", "--out", str(png), *dd])
    assert out.exit_code == 0, out.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    out = runner.invoke(app, ["movies", "biases", "-n", "2", *dd])
    assert out.exit_code == 0 and "highest movie biases" in out.output


def test_evaluate_leave_last_out_writes_csv(shared_data: Path, tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    out = runner.invoke(app, ["movies", "evaluate", "--protocol", "leave-last-out",
                              "--data-dir", str(shared_data), "--csv", str(csv)])
    assert out.exit_code == 0, out.output
    assert "| EASE (λ=100) |" in out.output and "hr@10" in out.output
    assert csv.read_text().splitlines()[0].startswith("model,hr@10")


@pytest.mark.parametrize("args,message", [
    (["movies", "rate", "star wars=9"], "must be one of integers 1-5, got 9"),
    (["movies", "evaluate", "--protocol", "u7"], "protocol must be one of"),
    (["movies", "download", "ml-99k"],
     "'ml-99k' is not a MovieLens release; use one of ml-100k, ml-1m, ml-10m, "),
    (["movies", "similar", "toy story", "--dataset", "ml-2m"],
     "--dataset ml-2m is not a MovieLens release; use one of ml-100k, "),
])
def test_user_errors_are_one_line_exit_2(shared_data: Path, args: list[str], message: str) -> None:
    env = {**os.environ, "CONVREC_DATA": str(shared_data)}
    proc = subprocess.run([sys.executable, "-m", "convrec.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_download_of_a_local_release_checks_and_summarises_it(shared_data: Path) -> None:
    env = {**os.environ, "CONVREC_DATA": str(shared_data)}
    proc = subprocess.run([sys.executable, "-m", "convrec.cli.main", "movies", "download",
                           "ml-100k"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ml-100k: 100,000 ratings, 1,682 movies in" in proc.stdout
    assert "checksum:" in proc.stdout
