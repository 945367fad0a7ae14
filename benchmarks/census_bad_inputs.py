"""The bad-input census (issue 12): every face given the mistakes a careless user or an
attacker makes, each outcome classified automatically.

Faces:

- ``cli``: the real ``convrec`` entry point (:func:`convrec.cli.common.run_app`, the one error
  path) run in-process with ``sys.argv`` set, as typer's ``CliRunner`` does; a handful also as
  real subprocesses (``cli-process``);
- ``api``: the studio through FastAPI's ``TestClient`` on a temporary SQLite database, with
  small real models;
- ``library``: the public functions of ``convrec.conv``, ``convrec.shapes`` and
  ``convrec.recsys``.

Every case is an input that is *wrong*; the outcome is one of:

- ``clear``: exit code 2 (1 for a failure such as a path that cannot be written), or a 4xx,
  or a documented exception type, with one line that names the parameter or the value;
- ``vague``: refused, but the one line does not name what was wrong (or is several lines);
- ``crash``: a traceback, an exit through the "this is a bug" path, a 5xx, an undocumented
  exception type;
- ``silent``: exit code 0, a 2xx, or no exception: the bad input was accepted.

Run: ``CONVREC_DATA=../shared/data .venv/bin/python benchmarks/census_bad_inputs.py``
(``--face cli``, ``--quick`` for the subset that ``tests/test_bad_input_census.py`` runs,
``--show crash,silent,vague`` to list those cases).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = ("clear", "vague", "crash", "silent")
CASE_TIMEOUT_S = 90  # a CLI case still running then was accepted (the studio serving, say)


class CaseTimeoutError(BaseException):
    """Raised in a CLI worker by the alarm: not an ``Exception``, so nothing catches it."""


COOKIE = "convrec_session"  # convrec.web.security.COOKIE_NAME, without importing the web stack


@dataclass(frozen=True)
class Outcome:
    """How one bad input was answered: one of :data:`OUTCOMES`, and what was seen."""

    kind: str
    detail: str


@dataclass
class Case:
    """One bad input on one face.

    Attributes:
        face: ``cli``, ``cli-process``, ``api`` or ``library``.
        name: what is tried, e.g. ``conv shape -k 0``.
        run: does it and classifies the answer.
        quick: part of the lean subset the test suite runs.
    """

    face: str
    name: str
    run: Callable[[], Outcome]
    quick: bool = False


@dataclass
class Fixtures:
    """Files the cases point at, made once in a temporary folder."""

    root: Path
    png: Path
    png_b: Path
    torn_png: Path
    text_file: Path
    empty_file: Path
    bomb_png: Path
    folder: Path
    empty_dir: Path
    existing_out: Path
    digits_csv: Path
    torn_csv: Path
    ratings_csv: Path
    nan_ratings_csv: Path
    scale_ratings_csv: Path
    torn_model: Path
    foreign_model: Path
    classifier: Path
    recommender: Path | None
    data: Path | None
    extra: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------------------ fixtures
def _write_png(path: Path, pixels: Any) -> Path:
    from PIL import Image

    Image.fromarray(pixels).save(path)
    return path


def _bomb_png(path: Path, side: int = 20_000) -> Path:
    """A PNG whose header claims ``side``×``side`` pixels but whose file is tiny."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side + 1) * 16)  # a few rows; the reader must refuse first
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))
    return path


def make_fixtures(root: Path, data: Path | None) -> Fixtures:
    """Every file the cases need, in ``root`` (small models are trained here, seconds)."""
    import numpy as np

    rng = np.random.default_rng(0)
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    png = _write_png(root / "digit.png", digit)
    png_b = _write_png(root / "other.png", (rng.random((20, 30)) * 255).astype(np.uint8))
    torn_png = root / "torn.png"
    torn_png.write_bytes(png.read_bytes()[:40])
    text_file = root / "notes.txt"
    text_file.write_text("not an image, not a model\n")
    empty_file = root / "empty.png"
    empty_file.write_bytes(b"")
    bomb = _bomb_png(root / "bomb.png")
    folder = root / "a-folder"
    folder.mkdir(exist_ok=True)
    empty_dir = root / "empty-dir"
    empty_dir.mkdir(exist_ok=True)
    existing_out = root / "existing.txt"
    existing_out.write_text("keep me\n")
    # 300 "digits" as a CSV source (label + 784 pixels): training on it takes a second
    labels = np.arange(300) % 10
    pixels = (rng.random((300, 784)) * 255).astype(np.uint8)
    digits_csv = root / "digits.csv"
    digits_csv.write_text("\n".join(",".join(map(str, [lab, *row]))
                                    for lab, row in zip(labels, pixels, strict=True)) + "\n")
    torn_csv = root / "torn-digits.csv"
    torn_csv.write_text("3,0,0,0\n4,1\n")
    ratings_csv = root / "ratings.csv"
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{u},{m},{1 + (u * m) % 5},{1000 + u + m}" for u in range(1, 30)
              for m in range(1, 40) if (u + m) % 3]
    ratings_csv.write_text("\n".join(lines) + "\n")
    nan_ratings_csv = root / "nan-ratings.csv"
    nan_ratings_csv.write_text("userId,movieId,rating,timestamp\n1,1,nan,1\n1,2,4,2\n2,1,3,3\n")
    scale_ratings_csv = root / "scale-ratings.csv"
    scale_ratings_csv.write_text("userId,movieId,rating,timestamp\n1,1,99,1\n1,2,-4,2\n2,1,3,3\n")
    torn_model = root / "torn-model.npz"
    torn_model.write_bytes(b"PK\x03\x04" + b"\x00" * 30)
    foreign_model = root / "foreign.pt"
    foreign_model.write_bytes(b"\x80\x04\x95 not a convrec checkpoint")
    classifier = _tiny_classifier(root, digits_csv)
    recommender = _tiny_recommender(root, data) if data is not None else None
    return Fixtures(root, png, png_b, torn_png, text_file, empty_file, bomb, folder, empty_dir,
                    existing_out, digits_csv, torn_csv, ratings_csv, nan_ratings_csv,
                    scale_ratings_csv, torn_model, foreign_model, classifier, recommender, data)


def _tiny_classifier(root: Path, digits_csv: Path) -> Path:
    if (root / "classifier.pt").is_file():  # a worker process reuses the parent's
        return root / "classifier.pt"
    from convrec.vision.mnist import load_mnist
    from convrec.vision.train import TrainConfig, save_checkpoint, train

    data = load_mnist(source=digits_csv)
    result = train(data, TrainConfig(epochs=1, batch_size=64, lr=0.01, eval_every=0))
    return save_checkpoint(root / "classifier.pt", result, extra={"source": "census"})


def _tiny_recommender(root: Path, data: Path) -> Path | None:
    if not (data / "ml-100k").is_dir():
        return None
    if (root / "recommender.npz").is_file():
        return root / "recommender.npz"
    from convrec.data.movielens import load_movielens
    from convrec.recsys import ALS, Ratings
    from convrec.recsys.catalog import provenance_for
    from convrec.settings import Settings

    settings = Settings(cache_dir=root / "cache", offline=True, data_dir=data)
    movies = load_movielens("ml-100k", data_dir=data, settings=settings)
    ratings = Ratings.from_raw(movies.ratings, None, movies.movies.ids)
    model = ALS(factors=8, iterations=2).fit(ratings)  # seconds: the cases need any factors
    path = root / "recommender.npz"
    model.save(path, provenance_for("ml-100k", movies.movies, None))
    return path


# ------------------------------------------------------------------------------ the CLI
def _classify_cli(code: int, out: str, err: str, names: tuple[str, ...], escaped: str = ""
                  ) -> Outcome:
    text = out + err
    if escaped.startswith("still running"):
        return Outcome("silent", escaped)
    if escaped or "Traceback (most recent call last)" in text:
        return Outcome("crash", escaped or _tail(text))
    lines = [line for line in err.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if "this is a bug in convrec" in last:
        return Outcome("crash", last)
    if code == 0:
        return Outcome("silent", f"exit 0: {_tail(out or err)}")
    errors = [line for line in lines if line.startswith("error:")]
    if code not in (1, 2) or len(errors) != 1 or not last.startswith("error:"):
        return Outcome("vague", f"exit {code}: {_tail(err or out)}")
    if names and not any(n.lower() in last.lower() for n in names):
        return Outcome("vague", f"exit {code}, names none of {names}: {last}")
    return Outcome("clear", f"exit {code}: {last}")


def _tail(text: str, limit: int = 200) -> str:
    text = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
    return text if len(text) <= limit else text[:limit] + "..."


def run_cli_in_process(args: list[str], env: dict[str, str] | None = None
                       ) -> tuple[int, str, str, str]:
    """``convrec *args`` in this process: (exit code, stdout, stderr, escaped exception)."""
    from convrec.cli.common import run_app
    from convrec.cli.main import app

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_env = sys.argv, dict(os.environ)
    sys.argv = ["convrec", *args]
    os.environ.update(env or {})
    code, escaped = 0, ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run_app(app)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except CaseTimeoutError:
        code, escaped = 0, f"still running after {CASE_TIMEOUT_S} s (accepted, then stopped)"
    except BaseException as exc:  # anything escaping run_app is a crash
        code, escaped = 1, f"escaped {type(exc).__name__}: {exc}"
    finally:
        sys.argv = old_argv
        os.environ.clear()
        os.environ.update(old_env)
    return code, out.getvalue(), err.getvalue(), escaped


def _cli(args: list[str], names: tuple[str, ...] = (), env: dict[str, str] | None = None,
         ) -> Callable[[], Outcome]:
    def run() -> Outcome:
        code, out, err, escaped = run_cli_in_process(args, env)
        return _classify_cli(code, out, err, names, escaped)

    return run


def _cli_process(args: list[str], names: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> Callable[[], Outcome]:
    def run() -> Outcome:
        exe = Path(sys.executable).with_name("convrec")
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "convrec"]
        try:
            done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                                  env={**os.environ, **(env or {})}, check=False)
        except subprocess.TimeoutExpired:
            return Outcome("silent", "still running after 120 s")
        return _classify_cli(done.returncode, done.stdout, done.stderr, names)

    return run


def _param_kind(param: Any) -> str:
    """click's type of the parameter (of each item for ``list[int]``): int, float, path."""
    name = param.type.name  # typer's vendored click: "integer", "float", "path", "directory"
    kinds = {"integer": "int", "integer range": "int", "float": "float", "float range": "float",
             "path": "path", "directory": "path", "file": "path"}
    return kinds.get(name, "other")


def _filler(param: Any, fx: Fixtures) -> str:
    kind = _param_kind(param)
    if kind in ("int", "float"):
        return "3"
    if kind == "path":
        return str(fx.png)
    return "x"


def cli_walk_cases(fx: Fixtures) -> list[Case]:
    """Generated from the live command tree: an unknown option, a missing argument, and every
    number given a word, a fraction (ints), an empty string and an overflowing literal."""
    cases = []
    from convrec.cli.common import walk_commands

    for path, command in walk_commands():
        label = " ".join(path)
        cases.append(Case("cli", f"{label} --no-such-option",
                          _cli([*path, "--no-such-option"], ("--no-such-option",)), quick=True))
        cases.append(Case("cli", f"{label} extra1 extra2 extra3 extra4",
                          _cli([*path, *(["--"] if label == "studio" else []),
                                "extra1", "extra2", "extra3", "extra4"],
                               ("extra", "unexpected", "Got unexpected", "Missing"))))
        if any(p.required for p in command.params):
            cases.append(Case("cli", f"{label} (required missing)", _cli(list(path),
                                                                         ("Missing",)),
                              quick=True))
        for param in command.params:
            kind = _param_kind(param)
            if kind not in ("int", "float") or not param.opts:
                continue
            bads = ["abc", "", "1e999999"] + (["2.5"] if kind == "int" else ["nan-ish"])
            for bad in bads:
                args: list[str] = []
                for other in command.params:
                    value = bad if other is param else (_filler(other, fx) if other.required
                                                        else None)
                    if value is None:
                        continue
                    args += [value] if other.param_type_name == "argument" else [other.opts[0],
                                                                                  value]
                cases.append(Case("cli", f"{label} {param.opts[0]} {bad!r}",
                                  _cli([*path, *args], (param.opts[0].lstrip("-"), param.name)),
                                  quick=bad == "abc"))
    return cases


def cli_cases(fx: Fixtures) -> list[Case]:
    """Hand-made: what each command's own rules refuse, paths, files, models, specs."""
    png, txt, out_file = str(fx.png), str(fx.text_file), str(fx.existing_out)
    under_file = str(fx.existing_out / "sub" / "x.png")
    clf = ["--model", str(fx.classifier)]
    src = ["--source", str(fx.digits_csv)]
    rec = ["--model", str(fx.recommender)] if fx.recommender else []
    missing = str(fx.root / "no-such-file.png")
    no_dir = str(fx.root / "no-such-dir")
    c: list[tuple[list[str], tuple[str, ...], bool]] = [
        # conv shape
        (["conv", "shape", "0"], ("n", "0"), True),
        (["conv", "shape", "--", "-5"], ("n", "-5"), False),
        (["conv", "shape", "28", "-k", "0"], ("kernel", "0"), True),
        (["conv", "shape", "28", "-k", "-3"], ("kernel", "-3"), False),
        (["conv", "shape", "28", "-s", "0"], ("stride", "0"), True),
        (["conv", "shape", "28", "-s", "-2"], ("stride", "-2"), False),
        (["conv", "shape", "28", "-d", "0"], ("dilation", "0"), False),
        (["conv", "shape", "28", "-p", "abc"], ("padding", "abc"), True),
        (["conv", "shape", "28", "-p", "-1"], ("padding", "-1"), False),
        (["conv", "shape", "28", "-p", "1,2,3"], ("padding", "1,2,3"), False),
        (["conv", "shape", "28", "-p", ""], ("padding",), False),
        (["conv", "shape", "28", "-p", "sideways"], ("padding", "sideways"), False),
        (["conv", "shape", "2", "-k", "5"], ("kernel", "fit"), True),
        (["conv", "shape", "28", "--transposed", "-s", "2", "--output-padding", "2"],
         ("output", "padding"), True),
        (["conv", "shape", "28", "--output-padding", "1"], ("output-padding", "output"), True),
        (["conv", "shape", "28", "--transposed", "-p", "same"], ("padding", "same"), False),
        (["conv", "shape", "28", "--pool", "-p", "1,2"], ("padding",), False),
        (["conv", "shape", "28", "--pool", "--transposed"], ("pool", "transposed"), True),
        (["conv", "shape", "28", "-k", "99999999999999999999999"], ("kernel",), False),
        # conv apply
        (["conv", "apply", missing], ("no-such-file",), True),
        (["conv", "apply", txt], ("notes.txt",), True),
        (["conv", "apply", str(fx.empty_file)], ("empty.png",), False),
        (["conv", "apply", str(fx.torn_png)], ("torn.png",), True),
        (["conv", "apply", str(fx.bomb_png)], ("bomb.png", "pixels"), True),
        (["conv", "apply", str(fx.folder)], ("a-folder",), False),
        (["conv", "apply", png, "-k", "gaussian:99999"], ("kernel", "99999"), True),
        (["conv", "apply", png, "-k", "gaussian:6001"], ("kernel", "6001"), True),
        (["conv", "apply", png, "-k", "gaussian:0"], ("kernel", "gaussian:0"), False),
        (["conv", "apply", png, "-k", "gaussian:-3"], ("kernel", "gaussian:-3"), False),
        (["conv", "apply", png, "-k", "gaussian:abc"], ("kernel", "gaussian:abc"), False),
        (["conv", "apply", png, "-k", "1,0;0"], ("kernel", "1,0;0"), True),
        (["conv", "apply", png, "-k", "a,b;c,d"], ("kernel", "a,b"), False),
        (["conv", "apply", png, "-k", ""], ("kernel",), False),
        (["conv", "apply", png, "-k", "no_such_kernel"], ("no_such_kernel",), True),
        (["conv", "apply", png, "-k", "nan,1;1,1"], ("kernel", "nan", "finite"), True),
        (["conv", "apply", png, "-k", "inf,1;1,1"], ("kernel", "inf", "finite"), False),
        (["conv", "apply", png, "-k", "1e400,0;0,1"], ("kernel", "finite"), False),
        (["conv", "apply", png, "-k", str(fx.text_file)], ("kernel", "notes.txt"), False),
        (["conv", "apply", png, "-k", "gaussian:31"], ("kernel", "fit", "31"), True),
        (["conv", "apply", png, "-p", "100000"], ("padding", "100000"), True),
        (["conv", "apply", png, "-p", "-1"], ("padding", "-1"), False),
        (["conv", "apply", png, "-p", "x"], ("padding", "'x'"), False),
        (["conv", "apply", png, "-s", "0"], ("stride", "0"), True),
        (["conv", "apply", png, "-s", "-1"], ("stride", "-1"), False),
        (["conv", "apply", png, "-d", "0"], ("dilation", "0"), False),
        (["conv", "apply", png, "-d", "100"], ("dilation", "fit"), False),
        (["conv", "apply", png, "--padding-mode", "bogus"], ("padding", "bogus"), True),
        (["conv", "apply", png, "--padding-mode", "reflect", "-p", "40"],
         ("reflect", "padding"), True),
        (["conv", "apply", png, "-o", out_file], ("existing.txt",), True),
        (["conv", "apply", png, "-o", under_file], ("existing.txt",), False),
        (["conv", "apply", png, "-o", "/proc/census-out"], ("/proc/census-out",), False),
        (["conv", "apply", png, missing, "-o", str(fx.root / "partial")], ("no-such-file",),
         False),
        # conv matmul
        (["conv", "matmul", "--input", "0x0"], ("--input", "0x0"), True),
        (["conv", "matmul", "--input", "13x13"], ("--input", "13x13"), False),
        (["conv", "matmul", "--input", "abc"], ("--input", "abc"), False),
        (["conv", "matmul", "--input", "4x"], ("--input", "4x"), False),
        (["conv", "matmul", "--input", "4x4x4"], ("--input", "4x4x4"), False),
        (["conv", "matmul", "--input", "-3x4"], ("--input", "-3x4"), False),
        (["conv", "matmul", "-k", "nope"], ("nope",), False),
        (["conv", "matmul", "-k", "gaussian:9"], ("kernel", "fit"), True),
        (["conv", "matmul", "-k", "gaussian:99999"], ("kernel", "99999"), True),
        (["conv", "matmul", "-s", "0"], ("stride", "0"), True),
        (["conv", "matmul", "-p", "-1"], ("padding", "-1"), False),
        (["conv", "matmul", "-p", "100000"], ("padding", "100000"), False),
        (["conv", "matmul", "-k", "nan;1"], ("kernel", "nan", "finite"), False),
        # conv animate
        (["conv", "animate", "--input", "0"], ("--input", "0"), True),
        (["conv", "animate", "--input", "abc"], ("--input", "abc"), False),
        (["conv", "animate", "--input", "5x"], ("--input", "5x"), False),
        (["conv", "animate", "--input", "100000"], ("--input", "100000"), False),
        (["conv", "animate", "-k", "0"], ("kernel", "0"), False),
        (["conv", "animate", "-k", "9"], ("kernel", "fit"), False),
        (["conv", "animate", "-s", "0"], ("stride", "0"), False),
        (["conv", "animate", "-p", "abc"], ("padding", "abc"), False),
        (["conv", "animate", "-p", "-2"], ("padding", "-2"), False),
        (["conv", "animate", "--cell", "2"], ("--cell", "2"), False),
        (["conv", "animate", "--cell", "1000"], ("--cell", "1000"), False),
        (["conv", "animate", "--ms", "1"], ("--ms", "1"), False),
        (["conv", "animate", "-o", str(fx.folder)], ("a-folder",), True),
        (["conv", "animate", "-o", str(fx.root / "nope" / "x.gif")], ("nope",), False),
        (["conv", "animate", "-o", under_file], ("existing.txt",), False),
        (["conv", "animate", "--transposed", "-s", "2", "--output-padding", "3"],
         ("output",), False),
        (["conv", "animate", "--output-padding", "1"], ("output-padding", "output"), False),
        # demo
        (["demo", "--data-dir", no_dir], ("no-such-dir",), True),
        (["demo", "--data-dir", txt], ("notes.txt",), False),
        (["demo", "--data-dir", str(fx.empty_dir)], ("empty-dir", "mnist"), True),
        # shapes
        (["shapes", "trace", "no_such_model"], ("no_such_model",), True),
        (["shapes", "trace", "no_such_module_x:Net"], ("no_such_module_x",), True),
        (["shapes", "trace", str(fx.root / "nope.py") + ":Net"], ("nope.py",), False),
        (["shapes", "trace", txt + ":Net"], ("notes.txt",), False),
        (["shapes", "trace", "os:path"], ("os:path", "path"), True),
        (["shapes", "trace", "os:no_such_attr"], ("no_such_attr",), False),
        (["shapes", "trace", "fast", "-i", "abc"], ("--input", "abc"), True),
        (["shapes", "trace", "fast", "-i", "0,1,28,28"], ("--input", "0,1,28,28"), False),
        (["shapes", "trace", "fast", "-i", ""], ("--input",), False),
        (["shapes", "trace", "fast", "-i", "-1,1,28,28"], ("--input",), False),
        (["shapes", "trace", "fast", "-i", "64,1,28,28:complex"], ("dtype", "complex"), False),
        (["shapes", "trace", "fast", "--dtype", "bogus"], ("--dtype", "bogus"), False),
        (["shapes", "trace", "fast", "-i", "a=1,2", "-i", "3,4"], ("--input",), False),
        (["shapes", "trace", "fast", "-i", "1 x=1,2"], ("--input",), False),
        (["shapes", "trace", "fast", "-i", "99999,99999,99999,99999"],
         ("--input", "99999", "memory", "large", "limit"), True),
        (["shapes", "no_such_model"], ("no_such_model",), False),
        (["shapes", "solve", "0", "14"], ("0", "n_in", "N_IN"), True),
        (["shapes", "solve", "28", "0"], ("0", "n_out", "N_OUT"), False),
        (["shapes", "solve", "28", "-3"], ("-3", "n_out", "N_OUT"), False),
        (["shapes", "solve", "28", "99999"], ("99999",), True),
        # movies (no network: CONVREC_OFFLINE=1 in the census)
        (["movies", "download", "ml-bogus"], ("ml-bogus",), True),
        (["movies", "download", ""], ("dataset", "''"), False),
        (["movies", "download", "ml-１００k"], ("ml-１００k",), False),
        (["movies", "download", "ml-1m"], ("CONVREC_OFFLINE", "offline", "ml-1m"), True),
        (["movies", "train", "--model-type", "bogus"], ("bogus",), True),
        (["movies", "train", "--engine", "bogus"], ("--engine", "bogus"), False),
        (["movies", "train", "--engine", "spark", "--model-type", "ease"], ("ease",), False),
        (["movies", "train", "--master", "local[2]", "--model-type", "ease"], ("--master",),
         True),
        (["movies", "train", "--dataset", "bogus"], ("--dataset", "bogus"), True),
        (["movies", "train", "--dataset", "ml-100k", "--ratings", str(fx.ratings_csv)],
         ("--dataset", "--ratings"), False),
        (["movies", "train", "--ratings", missing], ("no-such-file",), True),
        (["movies", "train", "--ratings", str(fx.text_file)], ("notes.txt", "rating"), False),
        (["movies", "train", "--ratings", str(fx.nan_ratings_csv)], ("nan",), True),
        (["movies", "train", "--ratings", str(fx.ratings_csv), "--model-type", "biases",
          "--out", str(fx.folder)], ("a-folder", "--out"), True),
        (["movies", "train", "--ratings", str(fx.ratings_csv), "--model-type", "biases",
          "--out", under_file], ("existing.txt", "--out"), False),
        (["movies", "train", "--data-dir", no_dir], ("no-such-dir",), False),
        (["movies", "train", "--data-dir", str(fx.empty_dir), "--model-type", "biases"],
         ("empty-dir", "ml-100k"), True),
        (["movies", "evaluate", "--protocol", "bogus"], ("--protocol", "bogus"), True),
        (["movies", "evaluate", "--dataset", "bogus"], ("--dataset", "bogus"), False),
        (["movies", "evaluate", "--csv", str(fx.root / "nope" / "x.csv")], ("--csv", "nope"),
         True),
        (["movies", "evaluate", "--csv", str(fx.folder)], ("--csv", "a-folder"), True),
        (["movies", "recommend", "--user", "99999", *rec], ("99999", "user"), True),
        (["movies", "recommend", "--user", "", *rec], ("--user", "user"), False),
        (["movies", "recommend", "--user", "abc", *rec], ("abc",), False),
        (["movies", "recommend", "--user", "1", "-n", "0", *rec], ("-n", "0"), False),
        (["movies", "recommend", "--user", "1", "--model", missing], ("no-such-file",), True),
        (["movies", "recommend", "--user", "1", "--model", str(fx.torn_model)],
         ("torn-model",), True),
        (["movies", "recommend", "--user", "1", "--model", str(fx.png)], ("digit.png",), False),
        (["movies", "recommend", "--user", "1", "--model", str(fx.folder)], ("a-folder",),
         False),
        (["movies", "recommend", "--user", "1", "--model", str(fx.classifier)],
         ("classifier.pt",), False),
        (["movies", "recommend", "--user", "1", "--dataset", "bogus", *rec],
         ("--dataset", "bogus"), False),
        (["movies", "similar", "zzzzqqq", *rec], ("zzzzqqq",), True),
        (["movies", "similar", "", *rec], ("title", "''", "empty"), False),
        (["movies", "similar", "   ", *rec], ("title", "empty", "query"), False),
        (["movies", "similar", "id:999999", *rec], ("999999",), True),
        (["movies", "similar", "id:abc", *rec], ("id:abc",), False),
        (["movies", "similar", "id:-1", *rec], ("id:-1", "-1"), False),
        (["movies", "similar", "toy story", "-n", "0", *rec], ("-n", "0"), False),
        (["movies", "search", ""], ("query", "''", "empty"), True),
        (["movies", "search", "   "], ("query", "empty"), False),
        (["movies", "search", "godfather", "-n", "0"], ("-n", "0"), False),
        (["movies", "search", "godfather", "-n", "101"], ("-n", "101"), False),
        (["movies", "search", "x" * 5000], ("no movie", "query", "long"), True),
        (["movies", "search", "godfather", "--dataset", "bogus"], ("--dataset", "bogus"), False),
        (["movies", "rate", "50=5", *rec], ("50=5", "id:50"), True),
        (["movies", "rate", "star wars=6", *rec], ("6", "rating"), True),
        (["movies", "rate", "star wars=0", *rec], ("0", "rating"), False),
        (["movies", "rate", "star wars=nan", *rec], ("nan",), True),
        (["movies", "rate", "star wars=inf", *rec], ("inf",), False),
        (["movies", "rate", "star wars=abc", *rec], ("abc",), False),
        (["movies", "rate", "star wars", *rec], ("star wars", "="), True),
        (["movies", "rate", "=5", *rec], ("=5", "title", "query"), False),
        (["movies", "rate", "star wars=5", "star wars (1977)=4", *rec], ("star wars",), True),
        (["movies", "rate", "id:999999=5", *rec], ("999999",), False),
        (["movies", "rate", "star wars=3.5", *rec], ("3.5",), True),
        (["movies", "rate", "star wars=-1", *rec], ("-1",), False),
        (["movies", "rate", "zzzzqqq=4", *rec], ("zzzzqqq",), False),
        (["movies", "rate", "star wars"], ("star wars", "="), True),  # no model: fails first
        (["movies", "biases", "-n", "0", *rec], ("-n", "0"), False),
        (["movies", "biases", "--model", str(fx.torn_model)], ("torn-model",), False),
        (["movies", "map", "--out", str(fx.folder), *rec], ("a-folder", "--out"), True),
        (["movies", "map", "--out", str(fx.root / "nope" / "m.png"), *rec],
         ("nope", "--out"), False),
        (["movies", "map", "--out", under_file, *rec], ("existing.txt", "--out"), False),
        (["movies", "map", "--out", str(fx.root / "map.txt"), *rec], ("map.txt", ".png"), True),
        (["movies", "map", "-n", "1", *rec], ("-n", "1"), False),
        # mnist
        (["mnist", "edges", "--rows", "0"], ("--rows", "0"), True),
        (["mnist", "edges", "--rows", "65"], ("--rows", "65"), False),
        (["mnist", "edges", "-o", str(fx.folder)], ("a-folder",), True),
        (["mnist", "edges", "-o", str(fx.root / "nope" / "e.png")], ("nope",), False),
        (["mnist", "edges", "-o", str(fx.root / "e.txt")], ("e.txt", ".png"), True),
        (["mnist", "edges", "-o", under_file], ("existing.txt",), False),
        (["mnist", "edges", "--data-dir", str(fx.empty_dir)], ("empty-dir", "mnist"), True),
        (["mnist", "features", "--n-train", "0", *src], ("--n-train", "0"), True),
        (["mnist", "features", "--n-train", "-5", "--compare", *src], ("--n-train", "-5"),
         False),
        (["mnist", "features", "--source", missing], ("no-such-file",), True),
        (["mnist", "features", "--source", str(fx.torn_csv)], ("torn-digits.csv",), True),
        (["mnist", "features", "--source", str(fx.empty_dir)], ("empty-dir",), False),
        (["mnist", "features", "--source", str(fx.text_file)], ("notes.txt",), False),
        (["mnist", "summary", "--model", "bogus"], ("bogus",), True),
        (["mnist", "summary", "--model", ""], ("--model", "''"), False),
        (["mnist", "train", "--preset", "bogus", *src], ("--preset", "bogus"), True),
        (["mnist", "train", "--epochs", "0", *src], ("epochs", "0"), True),
        (["mnist", "train", "--epochs", "-1", *src], ("epochs", "-1"), False),
        (["mnist", "train", "--epochs", "nan", *src], ("epochs", "nan"), True),
        (["mnist", "train", "--epochs", "inf", *src], ("epochs", "inf"), True),
        (["mnist", "train", "--lr", "0", *src], ("lr", "0"), False),
        (["mnist", "train", "--lr", "-1", *src], ("lr", "-1"), True),
        (["mnist", "train", "--lr", "nan", *src], ("lr", "nan"), False),
        (["mnist", "train", "--lr", "inf", *src], ("lr", "inf"), True),
        (["mnist", "train", "--batch-size", "0", *src], ("batch", "0"), True),
        (["mnist", "train", "--batch-size", "-4", *src], ("batch", "-4"), False),
        (["mnist", "train", "--batch-size", "100000000", *src], ("batch", "100000000"), True),
        (["mnist", "train", "--augment", "bogus", *src], ("--augment", "bogus"), False),
        (["mnist", "train", "--threads", "0", *src], ("--threads", "0"), False),
        (["mnist", "train", "--threads", "100000", *src], ("--threads", "100000"), True),
        (["mnist", "train", "--stats-figure", str(fx.root / "s.txt"), *src], ("s.txt",), False),
        (["mnist", "train", "--sched-figure", str(fx.folder), *src], ("a-folder",), False),
        (["mnist", "train", "-o", str(fx.folder), *src], ("a-folder",), True),
        (["mnist", "train", "-o", under_file, *src], ("existing.txt",), True),
        (["mnist", "train", "--nproc", "0", *src], ("--nproc", "0"), True),
        (["mnist", "train", "--nproc", "-1", *src], ("--nproc", "-1"), False),
        (["mnist", "train", "--nproc", "10000", *src], ("--nproc", "10000"), True),
        (["mnist", "train", "--stats-figure", str(fx.root / "s.png"), "--nproc", "2", *src],
         ("--stats-figure", "--nproc"), False),
        (["mnist", "train", "--source", missing], ("no-such-file",), False),
        (["mnist", "train", "--data-dir", str(fx.empty_dir)], ("empty-dir", "mnist"), False),
        (["mnist", "evaluate", "--model", missing, *src], ("no-such-file",), True),
        (["mnist", "evaluate", "--model", str(fx.torn_model), *src], ("torn-model",), True),
        (["mnist", "evaluate", "--model", str(fx.foreign_model), *src], ("foreign.pt",), False),
        (["mnist", "evaluate", "--model", str(fx.text_file), *src], ("notes.txt",), False),
        (["mnist", "evaluate", "--model", str(fx.folder), *src], ("a-folder",), False),
        (["mnist", "evaluate", *clf, "--top", "-1", *src], ("--top", "-1"), True),
        (["mnist", "evaluate", *clf, "--figure", str(fx.folder), *src], ("a-folder",), True),
        (["mnist", "evaluate", *clf, "--figure", str(fx.root / "c.txt"), *src], ("c.txt",),
         False),
        (["mnist", "evaluate", *clf, "--figure", under_file, *src], ("existing.txt",), False),
        (["mnist", "predict", missing, *clf], ("no-such-file",), True),
        (["mnist", "predict", str(fx.torn_png), *clf], ("torn.png",), True),
        (["mnist", "predict", txt, *clf], ("notes.txt",), False),
        (["mnist", "predict", str(fx.empty_file), *clf], ("empty.png",), False),
        (["mnist", "predict", str(fx.bomb_png), *clf], ("bomb.png", "pixels"), True),
        (["mnist", "predict", str(fx.folder), *clf], ("a-folder",), False),
        (["mnist", "predict", png, "--top", "0", *clf], ("--top", "0"), True),
        (["mnist", "predict", png, "--top", "11", *clf], ("--top", "11"), False),
        (["mnist", "predict", png, "--figure", str(fx.folder), *clf], ("a-folder",), True),
        (["mnist", "predict", png, "--figure", str(fx.root / "nope" / "p.png"), *clf],
         ("nope",), False),
        (["mnist", "predict", png, "--model", str(fx.torn_model)], ("torn-model",), True),
        (["mnist", "predict", png, "--model", str(fx.recommender or fx.torn_model)],
         ("recommender.npz", "torn-model"), False),
        (["mnist", "kernels", "--model", str(fx.torn_model)], ("torn-model",), False),
        (["mnist", "kernels", *clf, "-o", str(fx.folder)], ("a-folder",), True),
        (["mnist", "kernels", *clf, "-o", str(fx.root / "k.txt")], ("k.txt", ".png"), False),
        (["mnist", "kernels", *clf, "-o", str(fx.root / "nope" / "k.png")], ("nope",), False),
        (["mnist", "lr-find", "--steps", "0", *src], ("--steps", "0"), True),
        (["mnist", "lr-find", "--steps", "5000", *src], ("--steps", "5000"), False),
        (["mnist", "lr-find", "--preset", "bogus", *src], ("--preset", "bogus"), False),
        (["mnist", "lr-find", "--figure", str(fx.root / "l.txt"), *src], ("l.txt",), False),
        (["mnist", "progression", "--only", "bogus", *src], ("--only", "bogus"), True),
        # studio: every one must fail before it serves
        (["studio", "--port", "0"], ("--port", "0"), True),
        (["studio", "--port", "99999"], ("--port", "99999"), False),
        (["studio", "--workers", "0"], ("--workers", "0"), False),
        (["studio", "--workers", "1000"], ("--workers", "1000"), False),
        (["studio", "--database-url", "bogus://nowhere"], ("bogus", "database"), True),
        (["studio", "--database-url", "sqlite:////proc/census/x.db"], ("database", "/proc"),
         False),
        (["studio", "--database-url", ""], ("database",), True),
        (["studio", "--data-dir", no_dir], ("no-such-dir",), False),
        (["studio", "--host", "not a host name!"], ("--host", "not a host"), True),
    ]
    cases = [Case("cli", " ".join(args)[:120], _cli(args, names), quick=quick)
             for args, names, quick in c]
    # the environment: bad values of the variables the README documents
    for name, value, quick in [("CONVREC_THREADS", "abc", True), ("CONVREC_THREADS", "0", False),
                               ("CONVREC_PORT", "abc", False), ("CONVREC_PORT", "99999", False),
                               ("CONVREC_OFFLINE", "maybe", False),
                               ("CONVREC_DATA", str(fx.root / "no-such-dir"), False)]:
        args = (["mnist", "train", *src, "--epochs", "0.01"] if name == "CONVREC_THREADS"
                else ["studio", "--workers", "1", "--database-url", "bogus://x"]
                if name == "CONVREC_PORT"
                else ["mnist", "edges", "-o", str(fx.root / "env.png")])
        cases.append(Case("cli", f"{name}={value} convrec {' '.join(args[:2])}",
                          _cli(args, (name,), env={name: value}), quick=quick))
    return cases


def cli_process_cases(fx: Fixtures) -> list[Case]:
    """A handful through a real ``convrec`` process, as a shell runs it."""
    c = [
        ([], ()), (["foo"], ("foo",)), (["conv", "shape", "abc"], ("abc",)),
        (["conv", "apply", str(fx.png), "-k", "gaussian:99999"], ("99999",)),
        (["movies", "download", "ml-1m"], ("offline", "CONVREC_OFFLINE")),
        (["mnist", "predict", str(fx.torn_png), "--model", str(fx.classifier)], ("torn.png",)),
    ]
    cases = []
    for args, names in c:
        run = _cli_process(args, names)
        if not args:  # `convrec` alone prints its help (stdout) and exits 2: not an error line
            def run(run_: Callable[[], Outcome] = _cli_process(args, names)) -> Outcome:
                exe = Path(sys.executable).with_name("convrec")
                done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60,
                                      check=False)
                if "Traceback" in done.stdout + done.stderr:
                    return Outcome("crash", _tail(done.stderr))
                if done.returncode == 2 and "Usage:" in done.stdout:
                    return Outcome("clear", "exit 2, the help on stdout")
                return Outcome("silent" if done.returncode == 0 else "vague",
                               f"exit {done.returncode}")
        cases.append(Case("cli-process", "convrec " + " ".join(args)[:100], run, quick=False))
    return cases


# ------------------------------------------------------------------------------ the API
@dataclass
class Studio:
    """A studio on a temporary SQLite database, a signed-up user and a second one."""

    client: Any
    me: int
    other: int
    headers: dict[str, str]
    other_headers: dict[str, str]
    cookie: str


def make_studio(fx: Fixtures) -> Studio:
    """The studio with two users (their bearer tokens; the first one's value is also the
    session cookie, as the browser holds it)."""
    import numpy as np
    from fastapi.testclient import TestClient

    from convrec.settings import Limits, Settings
    from convrec.vision.predict import DigitClassifier
    from convrec.web import Services, create_app

    settings = Settings(cache_dir=fx.root / "studio-cache", offline=True, limits=Limits(
        max_upload_bytes=2_000_000))
    images = np.zeros((3, 28, 28), np.uint8)
    images[0, 4:24, 13:15] = 255
    recommender: Any = None
    if fx.recommender is not None and fx.data is not None:
        from convrec.recsys import load_recommender

        recommender = load_recommender(fx.recommender, "ml-100k", fx.data, Settings(
            cache_dir=fx.root / "cache", offline=True, data_dir=fx.data))
    services = Services(
        settings, mnist=(images, np.array([1, 0, 5], np.int64)),
        classifier=DigitClassifier.load(fx.classifier), recommender=recommender,
        **({} if recommender is not None else {"movie_titles": {1: "Toy Story (1995)",
                                                               50: "Star Wars (1977)"}.get}),
    )
    app = create_app(settings, services, database_url=f"sqlite:///{fx.root / 'studio.db'}")
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    tokens = []
    for name in ("census-alice", "census-bob"):
        body = client.post("/api/auth/signup", json={"username": name,
                                                     "password": "a census passphrase"}).json()
        tokens.append(body)
    client.cookies.clear()
    return Studio(client, tokens[0]["user"]["id"], tokens[1]["user"]["id"],
                  {"Authorization": f"Bearer {tokens[0]['token']}"},
                  {"Authorization": f"Bearer {tokens[1]['token']}"}, tokens[0]["token"])


def _classify_http(status: int, text: str, names: tuple[str, ...]) -> Outcome:
    if status >= 500:
        if status == 503 and "database" not in text and "not configured" not in text:
            return Outcome("vague", f"{status}: {text[:160]}")
        return Outcome("crash", f"{status}: {text[:160]}")
    if status < 400:
        return Outcome("silent", f"{status}: {text[:120]}")
    try:
        detail = json.loads(text)["detail"]
        first = detail[0] if isinstance(detail, list) else {"msg": str(detail), "loc": []}
        said = f"{first.get('loc')} {first.get('msg')}"
    except (ValueError, KeyError, IndexError, TypeError):
        return Outcome("vague", f"{status}, not the error format: {text[:120]}")
    if not first.get("msg"):
        return Outcome("vague", f"{status}, no message: {said}")
    if names and not any(n.lower() in said.lower() for n in names):
        return Outcome("vague", f"{status}, names none of {names}: {said[:160]}")
    return Outcome("clear", f"{status}: {said[:160]}")


def _http(studio: Studio, method: str, url: str, names: tuple[str, ...] = (),
          auth: str = "me", **kwargs: Any) -> Callable[[], Outcome]:
    def run() -> Outcome:
        headers = {"me": studio.headers, "other": studio.other_headers, "none": {},
                   "cookie": {}}[auth]
        headers = {**headers, **kwargs.pop("headers", {})}
        target = url.format(me=studio.me, other=studio.other)
        studio.client.cookies.clear()
        if auth == "cookie":  # a browser session: the cross-site check applies to these
            studio.client.cookies.set(COOKIE, studio.cookie)
        try:
            response = studio.client.request(method, target, headers=headers, **kwargs)
        except Exception as exc:  # the client itself failing is a crash
            return Outcome("crash", f"{type(exc).__name__}: {exc}")
        return _classify_http(response.status_code, response.text, names)

    return run


def api_cases(studio: Studio, fx: Fixtures) -> list[Case]:
    """Every route: wrong types, missing fields, non-finite numbers, huge bodies, encodings,
    unknown ids, other users' ids, bad tokens, wrong methods."""
    torn64 = base64.b64encode(fx.torn_png.read_bytes()).decode()
    bomb64 = base64.b64encode(fx.bomb_png.read_bytes()).decode()
    text64 = base64.b64encode(b"hello, not an image").decode()
    mnist0 = {"mnist_index": 0}
    edge = [{"name": "top_edge"}]

    def apply(body: dict[str, Any]) -> dict[str, Any]:
        return {"image": mnist0, "kernels": edge, **body}

    j = "application/json"
    c: list[tuple[str, str, dict[str, Any], tuple[str, ...], str, bool]] = [
        # auth: sign-up
        ("POST", "/api/auth/signup", {"json": {}}, ("username",), "none", True),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-u1"}}, ("password",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "", "password": "long passphrase"}},
         ("username",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "x" * 10_000,
                                               "password": "long passphrase"}},
         ("username",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "bad\x00name",
                                               "password": "long passphrase"}},
         ("username",), "none", True),
        ("POST", "/api/auth/signup", {"json": {"username": "\u202eevil",
                                               "password": "long passphrase"}},
         ("username",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "   ",
                                               "password": "long passphrase"}},
         ("username",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-new1", "password": "short"}},
         ("password",), "none", True),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-new2", "password": "12345678"}},
         ("password",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-new3", "password": "password"}},
         ("password",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-new4", "password": "1234567890"}},
         ("password",), "none", True),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-new5", "password": " " * 12}},
         ("password",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-new6", "password": "p" * 100_000}},
         ("password",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "CENSUS-ALICE",
                                               "password": "long passphrase"}},
         ("username", "taken"), "none", True),
        ("POST", "/api/auth/signup", {"json": {"username": "ｃｅｎｓｕｓ-ａｌｉｃｅ",
                                               "password": "long passphrase"}},
         ("username", "taken"), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": 5, "password": "long passphrase"}},
         ("username",), "none", False),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-n7", "password": None}},
         ("password",), "none", False),
        ("POST", "/api/auth/signup", {"json": ["username", "password"]}, ("body",), "none",
         False),
        ("POST", "/api/auth/signup", {"json": {"username": "cs-n8", "password": "long passphrase",
                                               "is_admin": True}}, ("is_admin",), "none", True),
        ("POST", "/api/auth/signup", {"content": b"\xff\xfe\x80", "headers": {
            "content-type": j}}, ("body",), "none", False),
        ("POST", "/api/auth/signup", {"content": b"username=a&password=b", "headers": {
            "content-type": "application/x-www-form-urlencoded"}}, ("body",), "none", False),
        ("GET", "/api/auth/signup", {}, ("method",), "none", False),
        # auth: log-in, tokens
        ("POST", "/api/auth/login", {"json": {"username": "census-alice", "password": "wrong!"}},
         ("password", "username"), "none", True),
        ("POST", "/api/auth/login", {"json": {"username": "nobody-here",
                                              "password": "whatever it is"}},
         ("password", "username"), "none", False),
        ("POST", "/api/auth/login", {"json": {}}, ("username",), "none", False),
        ("POST", "/api/auth/login", {"json": {"username": "census-alice", "password": 123}},
         ("password",), "none", False),
        ("POST", "/api/auth/login", {"content": b"{", "headers": {"content-type": j}},
         ("body", "JSON"), "none", False),
        ("GET", "/api/auth/me", {}, ("token", "log in", "authorization"), "none", True),
        ("GET", "/api/auth/me", {"headers": {"Authorization": "Bearer not-a-token"}},
         ("token",), "none", True),
        ("GET", "/api/auth/me", {"headers": {"Authorization": "Bearer "}}, ("token",), "none",
         False),
        ("GET", "/api/auth/me", {"headers": {"Authorization": "Basic YWxpY2U6cHc="}},
         ("token", "bearer", "authorization"), "none", False),
        ("GET", "/api/auth/me", {"headers": {"Authorization": "Bearer " + "x" * 20_000}},
         ("token",), "none", False),
        ("GET", "/api/auth/me", {"headers": {"Cookie": "convrec_session=forged"}},
         ("token", "session"), "none", False),
        ("DELETE", "/api/auth/me", {}, ("method",), "me", False),
        # conv shape
        ("GET", "/api/conv/shape", {}, ("n",), "none", True),
        ("GET", "/api/conv/shape?n=0", {}, ("n",), "none", True),
        ("GET", "/api/conv/shape?n=-3", {}, ("n",), "none", False),
        ("GET", "/api/conv/shape?n=abc", {}, ("n",), "none", False),
        ("GET", "/api/conv/shape?n=2.5", {}, ("n",), "none", False),
        ("GET", "/api/conv/shape?n=NaN", {}, ("n",), "none", False),
        ("GET", "/api/conv/shape?n=1e309", {}, ("n",), "none", False),
        ("GET", "/api/conv/shape?n=" + "9" * 40, {}, ("n",), "none", False),
        ("GET", "/api/conv/shape?n=28&kernel=0", {}, ("kernel",), "none", False),
        ("GET", "/api/conv/shape?n=28&stride=0", {}, ("stride",), "none", False),
        ("GET", "/api/conv/shape?n=28&dilation=0", {}, ("dilation",), "none", False),
        ("GET", "/api/conv/shape?n=28&padding=abc", {}, ("padding",), "none", True),
        ("GET", "/api/conv/shape?n=28&padding=-1", {}, ("padding",), "none", False),
        ("GET", "/api/conv/shape?n=28&padding=1,2,3", {}, ("padding",), "none", False),
        ("GET", "/api/conv/shape?n=28&padding=" + "1" * 100, {}, ("padding",), "none", False),
        ("GET", "/api/conv/shape?n=28&padding=%FF%FE", {}, ("padding",), "none", False),
        ("POST", "/api/conv/shape?n=28", {}, ("method",), "none", False),
        # conv apply
        ("POST", "/api/conv/apply", {"json": {}}, ("image",), "none", True),
        ("POST", "/api/conv/apply", {"json": {"image": mnist0}}, ("kernels",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": []})}, ("kernels",), "none",
         True),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"name": "top_edge"}] * 300})},
         ("kernels",), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"name": "no_such"}]})},
         ("kernels", "no_such"), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{}]})}, ("kernels",), "none",
         False),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"name": "top_edge",
                                                                 "values": [[1]]}]})},
         ("kernels",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"values": [[1, 0], [0]]}]})},
         ("kernels", "values"), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"values": [[]]}]})},
         ("kernels", "values"), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"values": [[[1]]]}]})},
         ("kernels", "values"), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"values": [["a"]]}]})},
         ("kernels", "values"), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"name": "gaussian:99999"}]})},
         ("kernel", "99999"), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"name": "gaussian:31"}]})},
         ("kernel", "31", "fit"), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"kernels": [{"values": [[1.0] * 200] * 200
                                                                 }]})},
         ("kernel", "values", "200"), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"padding": 100000})}, ("padding",), "none",
         True),
        ("POST", "/api/conv/apply", {"json": apply({"padding": -1})}, ("padding",), "none",
         False),
        ("POST", "/api/conv/apply", {"json": apply({"padding": "sideways"})}, ("padding",),
         "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"padding": [1, 2, 3]})}, ("padding",),
         "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"padding": 1.5})}, ("padding",), "none",
         False),
        ("POST", "/api/conv/apply", {"json": apply({"stride": 0})}, ("stride",), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"stride": "2"})}, ("stride",), "none",
         False),
        ("POST", "/api/conv/apply", {"json": apply({"stride": 10**30})}, ("stride",), "none",
         False),
        ("POST", "/api/conv/apply", {"json": apply({"dilation": 0})}, ("dilation",), "none",
         False),
        ("POST", "/api/conv/apply", {"json": apply({"dilation": 50})}, ("dilation", "fit"),
         "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"padding_mode": "bogus"})},
         ("padding_mode",), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"padding_mode": "reflect",
                                                    "padding": 40})},
         ("padding", "reflect"), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"extra_field": 1})}, ("extra_field",),
         "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {}})}, ("image",), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"mnist_index": 0,
                                                              "pixels": [[1]]}})},
         ("image",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"mnist_index": -1}})},
         ("mnist_index",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"mnist_index": 99999}})},
         ("mnist_index", "99999"), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"mnist_index": 10**30}})},
         ("mnist_index",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"pixels": []}})},
         ("pixels",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"pixels": [[]]}})},
         ("pixels",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"pixels": [[1, 2], [3]]}})},
         ("pixels",), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"pixels": [[300, 0]]}})},
         ("pixels",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"pixels": [[-1, 0]]}})},
         ("pixels",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"pixels": [[[1, 2]]]}})},
         ("pixels",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"pixels": [[0] * 3000] * 3000}})},
         ("body", "limit", "pixels"), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"png_base64": "!!!not base64"}})},
         ("png_base64",), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"png_base64": text64}})},
         ("png_base64",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"png_base64": torn64}})},
         ("png_base64",), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"png_base64": bomb64}})},
         ("png_base64", "pixels"), "none", True),
        ("POST", "/api/conv/apply", {"json": apply({"image": {"png_base64": ""}})},
         ("png_base64",), "none", False),
        ("POST", "/api/conv/apply", {"json": apply({"image": {
            "png_base64": "data:image/png;base64," + torn64}})}, ("png_base64",), "none", False),
        ("POST", "/api/conv/apply", {"content": b"x" * 3_000_000, "headers": {
            "content-type": j}}, ("body", "limit"), "none", True),
        ("POST", "/api/conv/apply", {"content": json.dumps(apply({})).encode("latin-1")
                                     .replace(b"top_edge", b"top_\xe9dge"),
                                     "headers": {"content-type": j}}, ("body",), "none", False),
        ("POST", "/api/conv/apply", {"content": json.dumps(apply({})).encode(),
                                     "headers": {"content-type": "text/plain"}},
         ("body", "content-type", "json"), "none", False),
        ("POST", "/api/conv/apply", {"content": b"null", "headers": {"content-type": j}},
         ("body",), "none", False),
        ("POST", "/api/conv/apply", {"content": b'{"image": ' * 5000, "headers": {
            "content-type": j}}, ("body",), "none", False),
        ("GET", "/api/conv/apply", {}, ("method",), "none", False),
        # conv matmul
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0}}, ("kernel",), "none", True),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "crop_size": 0}}, ("crop_size",), "none", False),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "crop_size": 9}}, ("crop_size",), "none", False),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "crop_top": 27}}, ("crop",), "none", False),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "crop_left": -1}}, ("crop_left",), "none", False),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "out_row": 99}}, ("out_row",), "none", True),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "out_col": 99}}, ("out_col",), "none", False),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "gaussian:7"},
                                               "crop_size": 3}}, ("kernel", "fit"), "none",
         False),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "stride": 0}}, ("stride",), "none", False),
        ("POST", "/api/conv/matmul", {"json": {"image": mnist0, "kernel": {"name": "top_edge"},
                                               "padding": 10**6}}, ("padding",), "none", False),
        # conv playground
        ("POST", "/api/conv/playground", {"json": {}}, ("kernel",), "none", True),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "stride": 9}},
         ("stride",), "none", False),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1] * 9] * 9]}}, ("kernel",),
         "none", True),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1, 2], [3]]]}}, ("kernel",),
         "none", False),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "channels": 2}},
         ("channels",), "none", False),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "channels": 3}},
         ("kernel", "channel"), "none", True),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "padding_mode": "x"}},
         ("padding_mode",), "none", False),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "sample": "bogus"}},
         ("sample",), "none", False),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "output_padding": 2,
                                                   "transposed": True}},
         ("output_padding",), "none", True),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "output_padding": 1}},
         ("output_padding", "transposed"), "none", True),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1, 1, 1]] * 3],
                                                   "padding_mode": "reflect", "padding": 7}},
         ("padding", "reflect"), "none", True),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1] * 7] * 7], "dilation": 3}},
         ("dilation", "kernel", "fit"), "none", False),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "image": {
            "pixels": [[0] * 40] * 40}}}, ("pixels", "image", "32"), "none", False),
        ("POST", "/api/conv/playground", {"json": {"kernel": [[[1]]], "kernel_name": ""}},
         ("kernel_name",), "none", False),
        # mnist
        ("GET", "/api/mnist/samples/-1", {}, ("index",), "none", True),
        ("GET", "/api/mnist/samples/99999", {}, ("index", "99999"), "none", True),
        ("GET", "/api/mnist/samples/abc", {}, ("index",), "none", False),
        ("GET", "/api/mnist/samples/1.5", {}, ("index",), "none", False),
        ("GET", "/api/mnist/samples/" + "9" * 30, {}, ("index",), "none", False),
        ("POST", "/api/mnist/predict", {"json": {"images": []}}, ("images",), "none", True),
        ("POST", "/api/mnist/predict", {"json": {"images": [mnist0] * 500}}, ("images",), "none",
         True),
        ("POST", "/api/mnist/predict", {"json": {"images": [{"png_base64": torn64}]}},
         ("png_base64",), "none", False),
        ("POST", "/api/mnist/predict", {"json": {"images": [{"png_base64": bomb64}]}},
         ("png_base64", "pixels"), "none", False),
        ("POST", "/api/mnist/predict", {"json": {"images": [{"pixels": [[1, 2], [3]]}]}},
         ("pixels",), "none", False),
        ("POST", "/api/mnist/predict", {"json": {"images": mnist0}}, ("images",), "none", False),
        ("POST", "/api/mnist/predict/upload", {}, ("file", "body"), "none", True),
        ("POST", "/api/mnist/predict/upload", {"files": {"file": ("x.png", b"")}}, ("file",),
         "none", True),
        ("POST", "/api/mnist/predict/upload", {"files": {"file": ("x.png", b"not a png")}},
         ("file",), "none", False),
        ("POST", "/api/mnist/predict/upload", {"files": {"file": (
            "t.png", fx.torn_png.read_bytes())}}, ("file",), "none", False),
        ("POST", "/api/mnist/predict/upload", {"files": {"file": (
            "b.png", fx.bomb_png.read_bytes())}}, ("file", "pixels"), "none", True),
        ("POST", "/api/mnist/predict/upload", {"files": {"other": ("x.png", b"x")}}, ("file",),
         "none", False),
        ("POST", "/api/mnist/predict/upload", {"files": {"file": (
            "big.png", b"\x89" * 3_000_000)}}, ("body", "limit"), "none", False),
        ("POST", "/api/mnist/predict/upload", {"content": b"--xyz\r\nbroken", "headers": {
            "content-type": "multipart/form-data; boundary=xyz"}}, ("body",), "none", False),
        # movies
        ("GET", "/api/movies/search", {}, ("q",), "none", True),
        ("GET", "/api/movies/search?q=", {}, ("q",), "none", False),
        ("GET", "/api/movies/search?q=" + "x" * 500, {}, ("q",), "none", False),
        ("GET", "/api/movies/search?q=star&n=0", {}, ("n",), "none", False),
        ("GET", "/api/movies/search?q=star&n=abc", {}, ("n",), "none", False),
        ("GET", "/api/movies/0", {}, ("movie_id",), "none", True),
        ("GET", "/api/movies/-1", {}, ("movie_id",), "none", False),
        ("GET", "/api/movies/999999", {}, ("movie_id", "999999"), "none", True),
        ("GET", "/api/movies/abc", {}, ("movie_id",), "none", False),
        ("GET", "/api/movies/1e309", {}, ("movie_id",), "none", False),
        ("GET", "/api/movies/" + "9" * 40, {}, ("movie_id",), "none", False),
        ("GET", "/api/movies/999999/similar", {}, ("movie_id", "999999"), "none", True),
        ("GET", "/api/movies/1/similar?n=0", {}, ("n",), "none", False),
        ("GET", "/api/movies/1/similar?n=100000", {}, ("n",), "none", False),
        ("GET", "/api/me/recommendations", {}, ("token", "log in", "authorization"), "none",
         True),
        ("GET", "/api/me/recommendations?n=0", {}, ("n",), "me", False),
        ("GET", "/api/me/recommendations?n=101", {}, ("n",), "me", False),
        ("GET", "/api/movies/biases?n=0", {}, ("n",), "none", False),
        ("GET", "/api/movies/biases?min_ratings=0", {}, ("min_ratings",), "none", False),
        ("GET", "/api/movies/biases?min_ratings=abc", {}, ("min_ratings",), "none", False),
        ("GET", "/api/movies/map.png?n=1", {}, ("n",), "none", True),
        ("GET", "/api/movies/map.png?n=99999", {}, ("n",), "none", False),
        ("POST", "/api/movies/1", {}, ("method",), "none", False),
        # ratings: other users, bad values, unknown movies, bad tokens
        ("GET", "/api/users/{other}/ratings", {}, ("user_id",), "me", True),
        ("PUT", "/api/users/{other}/ratings/50", {"json": {"rating": 4}}, ("user_id",), "me",
         True),
        ("DELETE", "/api/users/{other}/ratings/50", {}, ("user_id",), "me", False),
        ("GET", "/api/users/{other}/ratings/50", {}, ("user_id",), "me", False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 4}}, ("token", "log in",
                                                                       "authorization"),
         "none", True),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 4}, "headers": {
            "Authorization": "Bearer forged"}}, ("token",), "none", False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 0}}, ("rating",), "me", True),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 6}}, ("rating",), "me", False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": -3}}, ("rating",), "me",
         False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 3.5}}, ("rating",), "me",
         True),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": "3"}}, ("rating",), "me",
         True),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": True}}, ("rating",), "me",
         False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": None}}, ("rating",), "me",
         False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {}}, ("rating",), "me", False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 4, "user_id": 1}},
         ("user_id",), "me", True),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 10**40}}, ("rating",), "me",
         False),
        ("PUT", "/api/users/{me}/ratings/50", {"content": b'{"rating": NaN}', "headers": {
            "content-type": j}}, ("rating",), "me", True),
        ("PUT", "/api/users/{me}/ratings/50", {"content": b'{"rating": 1e309}', "headers": {
            "content-type": j}}, ("rating",), "me", False),
        ("PUT", "/api/users/{me}/ratings/50", {"content": b"\xff\xfe\x00", "headers": {
            "content-type": j}}, ("body",), "me", False),
        ("PUT", "/api/users/{me}/ratings/999999", {"json": {"rating": 4}}, ("movie_id",), "me",
         True),
        ("PUT", "/api/users/{me}/ratings/0", {"json": {"rating": 4}}, ("movie_id",), "me",
         False),
        ("PUT", "/api/users/{me}/ratings/abc", {"json": {"rating": 4}}, ("movie_id",), "me",
         False),
        ("PUT", "/api/users/{me}/ratings/" + "9" * 30, {"json": {"rating": 4}}, ("movie_id",),
         "me", False),
        ("GET", "/api/users/{me}/ratings/999999", {}, ("movie_id", "999999"), "me", False),
        ("DELETE", "/api/users/{me}/ratings/1234", {}, ("movie_id", "1234"), "me", False),
        ("GET", "/api/users/0/ratings", {}, ("user_id",), "me", False),
        ("GET", "/api/users/abc/ratings", {}, ("user_id",), "me", False),
        ("GET", "/api/users/999999/ratings", {}, ("user_id",), "me", False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 4}, "headers": {
            "Origin": "https://evil.example"}}, ("origin",), "cookie", True),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 4}, "headers": {
            "Origin": "https://testserver"}}, ("origin",), "cookie", False),
        ("PUT", "/api/users/{me}/ratings/50", {"json": {"rating": 4}, "headers": {
            "Origin": "http://testserver:8080"}}, ("origin",), "cookie", False),
        ("DELETE", "/api/users/{me}/ratings/50", {"headers": {"Origin": "null"}}, ("origin",),
         "cookie", False),
        ("POST", "/api/users/{me}/ratings", {"json": {"rating": 4}}, ("method",), "me", False),
        # training runs
        ("POST", "/api/training/runs", {"json": {"model": "bogus"}}, ("model",), "me", True),
        ("POST", "/api/training/runs", {"json": {"epochs": 0}}, ("epochs",), "me", False),
        ("POST", "/api/training/runs", {"json": {"epochs": 100}}, ("epochs",), "me", False),
        ("POST", "/api/training/runs", {"content": b'{"epochs": NaN}', "headers": {
            "content-type": j}}, ("epochs",), "me", False),
        ("POST", "/api/training/runs", {"json": {"batch_size": 4}}, ("batch_size",), "me",
         False),
        ("POST", "/api/training/runs", {"json": {"batch_size": "128"}}, ("batch_size",), "me",
         False),
        ("POST", "/api/training/runs", {"json": {"lr": -1}}, ("lr",), "me", False),
        ("POST", "/api/training/runs", {"content": b'{"lr": 1e309}', "headers": {
            "content-type": j}}, ("lr",), "me", False),
        ("POST", "/api/training/runs", {"json": {"schedule": "bogus"}}, ("schedule",), "me",
         False),
        ("POST", "/api/training/runs", {"json": {"n_train": 1}}, ("n_train",), "me", False),
        ("POST", "/api/training/runs", {"json": {"extra": 1}}, ("extra",), "me", False),
        ("POST", "/api/training/runs/no-such-run/cancel", {}, ("run_id", "no-such-run"), "me",
         True),
        ("GET", "/api/training/runs/no-such-run/events", {}, ("run_id", "no-such-run"), "me",
         False),
        ("GET", "/api/training/runs/../../etc/passwd/events", {}, ("route", "page", "run_id"),
         "me", False),
        # pages and methods
        ("GET", "/no-such-page", {}, ("page", "route"), "none", True),
        ("GET", "/api/no-such-route", {}, ("page", "route"), "none", False),
        ("POST", "/api/status", {}, ("method",), "none", False),
        ("PUT", "/", {}, ("method",), "none", False),
        ("GET", "/static/../../../../etc/passwd", {}, ("page", "route", "not found"), "none",
         False),
        ("GET", "/static/no-such-file.js", {}, ("page", "route", "not found", "file"), "none",
         False),
    ]
    return [Case("api", f"{m} {u[:70]} {_short(kw)}", _http(studio, m, u, names, auth, **kw),
                 quick=q) for m, u, kw, names, auth, q in c]


def _short(kwargs: dict[str, Any]) -> str:
    if "json" in kwargs:
        text = json.dumps(kwargs["json"])
    elif "content" in kwargs:
        text = repr(kwargs["content"][:40])
    elif "files" in kwargs:
        text = "files=" + ",".join(kwargs["files"])
    else:
        text = ""
    headers = kwargs.get("headers")
    if headers and "content" not in kwargs:
        text += " " + ",".join(f"{k}: {v[:20]}" for k, v in headers.items())
    return text[:60] + ("..." if len(text) > 60 else "")


def api_throttle_case(studio: Studio) -> Case:
    """Five wrong passwords, then the sixth attempt must be 429 with Retry-After."""

    def run() -> Outcome:
        client = studio.client
        client.post("/api/auth/signup", json={"username": "census-throttle",
                                              "password": "the right passphrase"})
        for _ in range(6):
            client.cookies.clear()
            last = client.post("/api/auth/login", json={"username": "census-throttle",
                                                        "password": "a wrong passphrase"})
        if last.status_code == 429 and "retry-after" in last.headers:
            return Outcome("clear", f"429, Retry-After {last.headers['retry-after']}")
        return _classify_http(last.status_code, last.text, ("retry",)) if last.status_code >= 500 \
            else Outcome("silent", f"6th wrong password: {last.status_code}")

    return Case("api", "6 wrong passwords in a row", run, quick=False)


# ------------------------------------------------------------------------------ the library
#: What the library documents raising for bad input.
def _documented() -> tuple[type[BaseException], ...]:
    from convrec.conv import LimitError, ShapeError
    from convrec.recsys import ModelFileError, NotFittedError
    from convrec.shapes import LayerShapeError

    return (ValueError, TypeError, KeyError, FileNotFoundError, LimitError, ShapeError,
            ModelFileError, NotFittedError, LayerShapeError)


def _lib(call: Callable[[], Any], names: tuple[str, ...] = ()) -> Callable[[], Outcome]:
    def run() -> Outcome:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = call()
        except _documented() as exc:
            text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            said = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
            if type(exc).__module__.startswith(("numpy", "torch", "scipy")):
                return Outcome("vague", f"{said[:160]} (raised by a dependency)")
            if not text or (names and not any(n.lower() in text.lower() for n in names)):
                return Outcome("vague", f"names none of {names}: {said[:160]}")
            return Outcome("clear", said[:200])
        except Exception as exc:  # an undocumented type is the library's crash
            return Outcome("crash", f"{type(exc).__name__}: {str(exc)[:160]}")
        failure = getattr(result, "failure", None)  # the tracer answers a failing model so
        if failure is not None:
            said = " ".join(str(failure).split())
            if names and not any(n.lower() in said.lower() for n in names):
                return Outcome("vague", f"Trace.failure names none of {names}: {said[:160]}")
            return Outcome("clear", f"Trace.failure: {said[:160]}")
        return Outcome("silent", "no exception")

    return run


def library_cases(fx: Fixtures) -> list[Case]:
    """Public functions of convrec.conv, convrec.shapes and convrec.recsys."""
    import numpy as np

    from convrec import conv, recsys, shapes

    x = np.random.default_rng(0).random((1, 1, 8, 8)).astype(np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    cases: list[tuple[str, Callable[[], Any], tuple[str, ...], bool]] = []

    def add(name: str, call: Callable[[], Any], names: tuple[str, ...] = (),
            quick: bool = False) -> None:
        cases.append((name, call, names, quick))

    # conv2d: shapes, dtypes, numbers, engines
    add("conv2d(x, w, stride=0)", lambda: conv.conv2d(x, w, stride=0), ("stride",), True)
    add("conv2d(x, w, stride=-1)", lambda: conv.conv2d(x, w, stride=-1), ("stride",))
    add("conv2d(x, w, stride=1.5)", lambda: conv.conv2d(x, w, stride=1.5), ("stride",))
    add("conv2d(x, w, stride='2')", lambda: conv.conv2d(x, w, stride="2"), ("stride",))
    add("conv2d(x, w, stride=(1, 2, 3))", lambda: conv.conv2d(x, w, stride=(1, 2, 3)),
        ("stride",))
    add("conv2d(x, w, dilation=0)", lambda: conv.conv2d(x, w, dilation=0), ("dilation",), True)
    add("conv2d(x, w, dilation=-2)", lambda: conv.conv2d(x, w, dilation=-2), ("dilation",))
    add("conv2d(x, w, padding=-1)", lambda: conv.conv2d(x, w, padding=-1), ("padding",), True)
    add("conv2d(x, w, padding='sideways')", lambda: conv.conv2d(x, w, padding="sideways"),
        ("padding",))
    add("conv2d(x, w, padding=(1, 2, 3))", lambda: conv.conv2d(x, w, padding=(1, 2, 3)),
        ("padding",))
    add("conv2d(x, w, padding=1.5)", lambda: conv.conv2d(x, w, padding=1.5), ("padding",))
    add("conv2d(x, w, padding=None)", lambda: conv.conv2d(x, w, padding=None), ("padding",))
    add("conv2d(x, w, padding=10**9)", lambda: conv.conv2d(x, w, padding=10**9),
        ("padding", "memory", "limit"), True)
    add("conv2d(x, w, padding_mode='bogus')", lambda: conv.conv2d(x, w, padding=1,
                                                                  padding_mode="bogus"),
        ("padding_mode", "bogus"), True)
    add("conv2d(x, w, padding_mode='reflect', padding=8)",
        lambda: conv.conv2d(x, w, padding=8, padding_mode="reflect"), ("reflect", "padding"),
        True)
    add("conv2d(x, w, padding_mode='circular', padding=20)",
        lambda: conv.conv2d(x, w, padding=20, padding_mode="circular"), ("circular", "padding"))
    add("conv2d(x, w, engine='bogus')", lambda: conv.conv2d(x, w, engine="bogus"),
        ("engine", "bogus"), True)
    add("conv2d(x, w, groups=0)", lambda: conv.conv2d(x, w, groups=0), ("groups",), True)
    add("conv2d(x, w, groups=2) with 1 channel", lambda: conv.conv2d(x, w, groups=2),
        ("groups",))
    add("conv2d(x, w, groups=-1)", lambda: conv.conv2d(x, w, groups=-1), ("groups",))
    add("conv2d(x, w (2 in-channels))",
        lambda: conv.conv2d(x, np.ones((1, 2, 3, 3), np.float32)), ("channel",), True)
    add("conv2d(x, w bigger than x)", lambda: conv.conv2d(x, np.ones((1, 1, 9, 9), np.float32)),
        ("kernel", "fit"), True)
    add("conv2d(5-D x, w)", lambda: conv.conv2d(np.ones((1, 1, 1, 8, 8)), w), ("input", "dim"))
    add("conv2d(1-D x, w)", lambda: conv.conv2d(np.ones(8), w), ("input", "dim"), True)
    add("conv2d(0-D x, w)", lambda: conv.conv2d(np.float32(1.0), w), ("input", "dim"))
    add("conv2d(x, 1-D w)", lambda: conv.conv2d(x, np.ones(3)), ("weight", "kernel", "dim"))
    add("conv2d(x, 5-D w)", lambda: conv.conv2d(x, np.ones((1, 1, 1, 3, 3))),
        ("weight", "kernel", "dim"))
    add("conv2d(x, w with a 0 side)", lambda: conv.conv2d(x, np.ones((1, 1, 0, 3))),
        ("kernel", "weight", "0"))
    add("conv2d(empty x)", lambda: conv.conv2d(np.ones((1, 1, 0, 8)), w), ("input", "0"), True)
    add("conv2d(string array)", lambda: conv.conv2d(np.array([["a", "b"], ["c", "d"]]),
                                                    np.ones((1, 1))), ("dtype", "input"), True)
    add("conv2d(object array)", lambda: conv.conv2d(np.array([[None, 1], [2, 3]]),
                                                    np.ones((1, 1))), ("dtype", "input"))
    add("conv2d(complex x)", lambda: conv.conv2d(x.astype(np.complex64), w),
        ("dtype", "complex"))
    add("conv2d(None, w)", lambda: conv.conv2d(None, w), ("input",), True)
    add("conv2d(x, None)", lambda: conv.conv2d(x, None), ("weight", "kernel"))
    add("conv2d(x, 'no_such_kernel')", lambda: conv.conv2d(x, "no_such_kernel"),
        ("no_such_kernel", "weight"))
    add("conv2d(x, w, bias wrong size)", lambda: conv.conv2d(x, w, bias=np.ones(3)), ("bias",),
        True)
    add("conv2d(x, w, bias=2-D)", lambda: conv.conv2d(x, w, bias=np.ones((1, 1))), ("bias",))
    add("conv2d(x, w, out=wrong shape)", lambda: conv.conv2d(x, w, out=np.empty((1, 1, 2, 2),
                                                                                np.float32)),
        ("out",), True)
    add("conv2d(x, w, out=wrong dtype)",
        lambda: conv.conv2d(x, w, out=np.empty((1, 1, 6, 6), np.int32)), ("out", "dtype"))
    add("conv2d(x, w, out=non-contiguous)",
        lambda: conv.conv2d(x, w, out=np.empty((1, 1, 6, 12), np.float32)[..., ::2]),
        ("out", "contiguous"))
    add("conv2d(x, w, limits=tiny)", lambda: conv.conv2d(x, w, limits=conv.ConvLimits(
        max_multiply_adds=10)), ("multiply", "limit"), True)
    for engine in ("direct", "im2col", "stencil", "torch"):
        add(f"conv2d(engine={engine}, stride=0)",
            lambda e=engine: conv.conv2d(x, w, stride=0, engine=e), ("stride",))
        add(f"conv2d(engine={engine}, kernel too big)",
            lambda e=engine: conv.conv2d(x, np.ones((1, 1, 9, 9), np.float32), engine=e),
            ("kernel", "fit"))
        add(f"conv2d(engine={engine}, reflect p=8)",
            lambda e=engine: conv.conv2d(x, w, padding=8, padding_mode="reflect", engine=e),
            ("reflect", "padding"))
        add(f"conv2d(engine={engine}, 1-D x)",
            lambda e=engine: conv.conv2d(np.ones(8), w, engine=e), ("input", "dim"))
    # conv2d_plan
    add("conv2d_plan((8,8), (3,3), stride=0)", lambda: conv.conv2d_plan((8, 8), (3, 3), 0),
        ("stride",), True)
    add("conv2d_plan((-8, 8), (3, 3))", lambda: conv.conv2d_plan((-8, 8), (3, 3)),
        ("input", "-8"))
    add("conv2d_plan((8, 8), (0, 3))", lambda: conv.conv2d_plan((8, 8), (0, 3)),
        ("kernel", "0"))
    add("conv2d_plan('88', (3,3))", lambda: conv.conv2d_plan("88", (3, 3)),
        ("input", "shape", "integer"))
    # shapes arithmetic
    add("output_size(0, 3)", lambda: conv.output_size(0, 3), ("n", "0", "input"), True)
    add("output_size(-5, 3)", lambda: conv.output_size(-5, 3), ("n", "-5", "input"))
    add("output_size(28, 0)", lambda: conv.output_size(28, 0), ("kernel", "0"), True)
    add("output_size(28, 3, stride=0)", lambda: conv.output_size(28, 3, stride=0), ("stride",))
    add("output_size(28, 3, padding=-1)", lambda: conv.output_size(28, 3, padding=-1),
        ("padding",))
    add("output_size(28, 3, dilation=0)", lambda: conv.output_size(28, 3, dilation=0),
        ("dilation",))
    add("output_size(2, 5)", lambda: conv.output_size(2, 5), ("kernel", "fit"), True)
    add("output_size(28.5, 3)", lambda: conv.output_size(28.5, 3), ("n", "28.5", "int"))
    add("output_size('28', 3)", lambda: conv.output_size("28", 3), ("n", "'28'", "int"), True)
    add("output_size(True, 3)", lambda: conv.output_size(True, 3), ("n", "True", "int", "bool"))
    add("output_size(nan, 3)", lambda: conv.output_size(math.nan, 3), ("n", "nan"))
    add("output_size(28, 3, padding='bogus')", lambda: conv.output_size(28, 3, padding="bogus"),
        ("padding", "bogus"))
    add("explain(0, 3)", lambda: conv.explain(0, 3), ("n", "0", "input"), True)
    add("explain(28, -1)", lambda: conv.explain(28, -1), ("kernel", "-1"))
    add("explain(28, 3, stride=0)", lambda: conv.explain(28, 3, stride=0), ("stride",))
    add("explain(28, 3, padding=(1, 2, 3))", lambda: conv.explain(28, 3, padding=(1, 2, 3)),
        ("padding",))
    add("explain('a', 3)", lambda: conv.explain("a", 3), ("n", "'a'"))
    add("explain_pool(28, 0)", lambda: conv.explain_pool(28, 0), ("kernel", "0"))
    add("explain_pool(28, 2, padding=2)", lambda: conv.explain_pool(28, 2, padding=2),
        ("padding", "half"))
    add("explain_transposed(28, 3, stride=2, output_padding=2)",
        lambda: conv.explain_transposed(28, 3, stride=2, output_padding=2),
        ("output_padding",), True)
    add("explain_transposed(0, 3)", lambda: conv.explain_transposed(0, 3), ("n", "0", "input"))
    add("transposed_output_size(28, 3, stride=0)",
        lambda: conv.transposed_output_size(28, 3, stride=0), ("stride",))
    add("pool_output_size(28, 0)", lambda: conv.pool_output_size(28, 0), ("kernel", "0"))
    add("pool_output_size(28, 2, stride=-1)", lambda: conv.pool_output_size(28, 2, stride=-1),
        ("stride",))
    add("same_padding(28, 3, stride=0)", lambda: conv.same_padding(28, 3, stride=0),
        ("stride",))
    add("same_padding(28, 0)", lambda: conv.same_padding(28, 0), ("kernel", "0"))
    add("same_padding(0, 3)", lambda: conv.same_padding(0, 3), ("n", "0"))
    add("receptive_field([(0, 1, 0)])", lambda: conv.receptive_field([(0, 1, 0)]),
        ("kernel", "0"))
    add("receptive_field([(3, 0, 0)])", lambda: conv.receptive_field([(3, 0, 0)]),
        ("stride", "0"))
    add("receptive_field([(3, 1)])", lambda: conv.receptive_field([(3, 1)]),
        ("layer", "(kernel, stride, padding)", "3"))
    add("receptive_field('abc')", lambda: conv.receptive_field("abc"), ("layer",), True)
    # padding and kernels
    add("parse_padding('sideways')", lambda: conv.parse_padding("sideways"),
        ("padding", "sideways"), True)
    add("parse_padding('-1')", lambda: conv.parse_padding("-1"), ("padding", "-1"))
    add("parse_padding('1,2,3')", lambda: conv.parse_padding("1,2,3"), ("padding", "1,2,3"))
    add("parse_padding('')", lambda: conv.parse_padding(""), ("padding",))
    add("parse_padding(1.5)", lambda: conv.parse_padding(1.5), ("padding", "1.5"))
    add("parse_padding(None)", lambda: conv.parse_padding(None), ("padding", "None"))
    add("parse_padding([1, 'a'])", lambda: conv.parse_padding([1, "a"]), ("padding",))
    add("parse_padding(True)", lambda: conv.parse_padding(True), ("padding", "True", "bool"))
    add("get_kernel('no_such')", lambda: conv.get_kernel("no_such"), ("no_such",), True)
    add("get_kernel('')", lambda: conv.get_kernel(""), ("kernel", "''"))
    add("get_kernel(None)", lambda: conv.get_kernel(None), ("kernel", "None"), True)
    add("load_kernel('gaussian:0')", lambda: conv.load_kernel("gaussian:0"),
        ("gaussian:0", "size"), True)
    add("load_kernel('gaussian:-1')", lambda: conv.load_kernel("gaussian:-1"),
        ("gaussian:-1", "size"))
    add("load_kernel('gaussian:abc')", lambda: conv.load_kernel("gaussian:abc"),
        ("gaussian:abc",))
    add("load_kernel('gaussian:99999', limits=31)",
        lambda: conv.load_kernel("gaussian:99999", limits=conv.ConvLimits(max_kernel_size=31)),
        ("99999", "31"), True)
    add("load_kernel('gaussian:4')", lambda: conv.load_kernel("gaussian:4"), ("odd", "4"))
    add("load_kernel('1,0;0')", lambda: conv.load_kernel("1,0;0"), ("1,0;0", "row"), True)
    add("load_kernel('a,b;c,d')", lambda: conv.load_kernel("a,b;c,d"), ("a,b", "number"))
    add("load_kernel('nan,1;1,1')", lambda: conv.load_kernel("nan,1;1,1"),
        ("nan", "finite"), True)
    add("load_kernel('inf')", lambda: conv.load_kernel("inf"), ("inf", "finite"))
    add("load_kernel('')", lambda: conv.load_kernel(""), ("kernel", "''", "empty"))
    add("load_kernel(notes.txt)", lambda: conv.load_kernel(str(fx.text_file)), ("notes.txt",))
    add("load_kernel(missing.npy)", lambda: conv.load_kernel(str(fx.root / "missing.npy")),
        ("missing.npy",))
    add("parse_kernel('1,2;3')", lambda: conv.parse_kernel("1,2;3"), ("1,2;3", "row"))
    add("parse_kernel(';;')", lambda: conv.parse_kernel(";;"), ("kernel", ";;"))
    # matmul
    add("im2col(x, (0, 3))", lambda: conv.im2col(x[0, 0], (0, 3)), ("kernel", "0"), True)
    add("im2col(x, (9, 9))", lambda: conv.im2col(x[0, 0], (9, 9)), ("kernel", "fit"))
    add("im2col(x, (3, 3), stride=0)", lambda: conv.im2col(x[0, 0], (3, 3), stride=0),
        ("stride",))
    add("im2col(x, (3, 3), padding=-1)", lambda: conv.im2col(x[0, 0], (3, 3), padding=-1),
        ("padding",))
    add("im2col(3-D x, (3, 3))", lambda: conv.im2col(np.ones((2, 2, 2, 2, 2)), (3, 3)),
        ("input", "dim", "x must"))
    add("conv_matrix(w, (2, 2))", lambda: conv.conv_matrix(np.ones((3, 3)), (2, 2)),
        ("kernel", "fit"), True)
    add("conv_matrix(w, (0, 5))", lambda: conv.conv_matrix(np.ones((3, 3)), (0, 5)),
        ("input", "0"))
    add("conv_matrix(w, (10**5, 10**5))", lambda: conv.conv_matrix(np.ones((3, 3)),
                                                                   (10**5, 10**5)),
        ("input_hw", "memory"), True)
    add("conv_matrix(w, (5, 5), stride=0)",
        lambda: conv.conv_matrix(np.ones((3, 3)), (5, 5), stride=0), ("stride",))
    add("conv_transpose_via_matrix(x, w, stride=0)",
        lambda: conv.conv_transpose_via_matrix(np.ones((3, 3)), np.ones((3, 3)), (5, 5),
                                               stride=0),
        ("stride",))
    add("choose_engine(3-D input shape)", lambda: conv.choose_engine((1, 1, 8), (1, 1, 3, 3)),
        ("shape", "input", "dim"), True)
    add("ConvLimits(max_kernel_size=-1)", lambda: conv.ConvLimits(max_kernel_size=-1),
        ("max_kernel_size",), True)
    add("ConvLimits(max_bytes='a lot')", lambda: conv.ConvLimits(max_bytes="a lot"),
        ("max_bytes",))
    # shapes (the tracer)
    shapes_cases(add, fx, shapes)
    # recsys
    recsys_cases(add, fx, recsys)
    return [Case("library", name, _lib(call, names), quick=quick)
            for name, call, names, quick in cases]


def shapes_cases(add: Callable[..., None], fx: Fixtures, shapes: Any) -> None:
    import torch
    from torch import nn

    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    add("trace(net, (1, 3, 28, 28)) wrong channels", lambda: shapes.trace(
        net, (1, 3, 28, 28)), ("channel", "3", "Conv2d"), True)
    add("trace(net, (1, 1, 2, 2)) too small", lambda: shapes.trace(net, (1, 1, 2, 2)),
        ("kernel", "fit", "Conv2d"))
    add("trace(net, (0, 1, 28, 28))", lambda: shapes.trace(net, (0, 1, 28, 28)),
        ("input", "0"))
    add("trace(net, (-1, 1, 28, 28))", lambda: shapes.trace(net, (-1, 1, 28, 28)),
        ("input", "-1"), True)
    add("trace(net, ())", lambda: shapes.trace(net, ()), ("input",))
    add("trace(net, 'abc')", lambda: shapes.trace(net, "abc"), ("input",))
    add("trace(net, None)", lambda: shapes.trace(net, None), ("input",))
    add("trace('not a model', (1, 1, 28, 28))", lambda: shapes.trace("not a model",
                                                                     (1, 1, 28, 28)),
        ("model", "Module"), True)
    add("trace(None, (1, 1, 28, 28))", lambda: shapes.trace(None, (1, 1, 28, 28)),
        ("model", "Module", "None"))
    add("trace(net, (1,1,28,28), dtypes='complex')",
        lambda: shapes.trace(net, (1, 1, 28, 28), dtypes="complex"), ("dtype", "complex"))
    add("trace(net, (10**6, 10**6, 10**6, 10**6))",
        lambda: shapes.trace(net, (10**6, 10**6, 10**6, 10**6)),
        ("input", "memory", "large", "limit"), True)
    add("trace(net, (1.5, 1, 28, 28))", lambda: shapes.trace(net, (1.5, 1, 28, 28)),
        ("input", "1.5"))
    add("trace(net, {'nope': (1, 1, 28, 28)})",
        lambda: shapes.trace(net, {"nope": (1, 1, 28, 28)}), ("nope",))
    add("load_model('no_such_module_q:Net')", lambda: shapes.load_model("no_such_module_q:Net"),
        ("no_such_module_q",), True)
    add("load_model('os:no_such_attr')", lambda: shapes.load_model("os:no_such_attr"),
        ("no_such_attr",))
    add("load_model('no colon')", lambda: shapes.load_model("no colon"), ("module", ":"))
    add("load_model(missing.py:Net)", lambda: shapes.load_model(str(fx.root / "nope.py") +
                                                                ":Net"), ("nope.py",))
    add("load_model('os:path')", lambda: shapes.load_model("os:path"), ("os:path", "Module"))
    add("solve(0, 14)", lambda: shapes.solve(0, 14), ("n_in", "0"), True)
    add("solve(28, 0)", lambda: shapes.solve(28, 0), ("n_out", "0"))
    add("solve(28, -1)", lambda: shapes.solve(28, -1), ("n_out", "-1"))
    add("solve('28', 14)", lambda: shapes.solve("28", 14), ("n_in", "'28'"))
    del torch


def recsys_cases(add: Callable[..., None], fx: Fixtures, recsys: Any) -> None:
    import numpy as np

    users = np.array([1, 1, 2, 2, 3, 3])
    items = np.array([10, 20, 10, 30, 20, 30])
    stars = np.array([4.0, 5.0, 3.0, 2.0, 4.0, 1.0])

    def ratings(u: Any = users, i: Any = items, r: Any = stars) -> Any:
        return recsys.Ratings.from_arrays(u, i, r)

    add("Ratings with NaN rating", lambda: ratings(r=np.array([4, np.nan, 3, 2, 4, 1.0])),
        ("rating", "nan", "finite"), True)
    add("Ratings with inf rating", lambda: ratings(r=np.array([4, np.inf, 3, 2, 4, 1.0])),
        ("rating", "inf", "finite"))
    add("Ratings with mismatched lengths", lambda: ratings(r=np.array([4.0, 5.0])),
        ("length", "rating", "same"))
    add("Biases().fit(zero ratings)", lambda: recsys.Biases().fit(
        ratings(np.array([], int), np.array([], int), np.array([]))),
        ("zero ratings", "rating"), True)
    add("Ratings with string ratings", lambda: ratings(r=np.array(["a"] * 6)), ("rating",), True)
    add("Ratings.from_arrays(items=None)", lambda: recsys.Ratings.from_arrays(users, None, stars),
        ("items", "None"))
    for model_name in ("Biases", "ALS", "EASE", "BayesianMF", "ItemKNNBaseline", "Popularity"):
        cls = getattr(recsys, model_name)
        add(f"{model_name}().predict before fit", lambda c=cls: c().predict([1], [10]),
            ("fit",), model_name == "Biases")
        add(f"{model_name}().recommend before fit", lambda c=cls: c().recommend(1, 5),
            ("fit",))
        add(f"{model_name}().fit(None)", lambda c=cls: c().fit(None), ("ratings", "None"),
            model_name == "ALS")
        add(f"{model_name}().fit('ratings.csv')", lambda c=cls: c().fit("ratings.csv"),
            ("ratings",))
    fitted = recsys.Biases().fit(ratings())
    add("Biases.recommend(unknown user)", lambda: fitted.recommend(999, 5), ("999", "user"),
        True)
    add("Biases.recommend(1, n=0)", lambda: fitted.recommend(1, 0), ("n", "0"))
    add("Biases.recommend(1, n=-3)", lambda: fitted.recommend(1, -3), ("n", "-3"))
    add("Biases.predict(lengths differ)", lambda: fitted.predict([1, 2], [10]),
        ("length", "same"))
    add("Biases.fold_in({10: nan})", lambda: fitted.fold_in({10: math.nan}),
        ("nan", "rating", "finite"), True)
    add("Biases.fold_in({10: inf})", lambda: fitted.fold_in({10: math.inf}),
        ("inf", "rating", "finite"))
    add("Biases.fold_in({10: 'high'})", lambda: fitted.fold_in({10: "high"}),
        ("high", "rating", "number"))
    add("Biases.fold_in('10=4')", lambda: fitted.fold_in("10=4"), ("rating", "mapping"), True)
    add("Biases.similar_items(999)", lambda: fitted.similar_items(999, 5), ("999", "item"))
    add("Biases.similar_items(10, n=0)", lambda: fitted.similar_items(10, 0), ("n", "0"))
    fit_on = ratings()
    for label, make, names in [
        ("ALS(factors=0)", lambda: recsys.ALS(factors=0), ("factors", "0")),
        ("ALS(factors=-5)", lambda: recsys.ALS(factors=-5), ("factors", "-5")),
        ("ALS(reg=-1)", lambda: recsys.ALS(reg=-1.0), ("reg", "-1")),
        ("ALS(reg=nan)", lambda: recsys.ALS(reg=math.nan), ("reg", "nan")),
        ("ALS(iterations=0)", lambda: recsys.ALS(iterations=0), ("iterations", "0")),
        ("EASE(lam=-1)", lambda: recsys.EASE(lam=-1.0), ("lam", "-1")),
        ("EASE(lam=nan)", lambda: recsys.EASE(lam=math.nan), ("lam", "nan")),  # quick below
        ("EASE(lam=inf)", lambda: recsys.EASE(lam=math.inf), ("lam", "inf")),
        ("EASE(recency_half_life=-1)", lambda: recsys.EASE(recency_half_life=-1.0),
         ("recency_half_life", "-1")),
        ("BayesianMF(n_samples=0)", lambda: recsys.BayesianMF(n_samples=0), ("n_samples", "0")),
        ("BayesianMF(burn_in=-1)", lambda: recsys.BayesianMF(burn_in=-1), ("burn_in", "-1")),
        ("BayesianMF(n_factors=0)", lambda: recsys.BayesianMF(n_factors=0), ("n_factors", "0")),
        ("ItemKNNBaseline(k=0)", lambda: _first_param(recsys.ItemKNNBaseline, ("k",
                                                       "n_neighbours", "neighbours"), 0),
         ("k", "0", "neighbours")),
    ]:
        add(f"{label}.fit(r)", lambda m=make: m().fit(fit_on), names,
            label in ("EASE(lam=-1)", "EASE(lam=nan)"))
    add("load_model(torn.npz)", lambda: recsys.load_model(fx.torn_model), ("torn-model",), True)
    add("load_model(text file)", lambda: recsys.load_model(fx.text_file), ("notes.txt",))
    add("load_model(missing)", lambda: recsys.load_model(fx.root / "missing.npz"),
        ("missing.npz",))
    add("load_model(a folder)", lambda: recsys.load_model(fx.folder), ("a-folder",))
    add("load_model(a torch checkpoint)", lambda: recsys.load_model(fx.classifier),
        ("classifier.pt",))
    add("random_split(r, test=1.5)", lambda: _split(recsys.random_split, ratings(), 1.5),
        ("1.5", "fraction", "test"), True)
    add("random_split(r, test=-0.1)", lambda: _split(recsys.random_split, ratings(), -0.1),
        ("-0.1", "fraction", "test"))
    add("temporal_split(r, test=0)", lambda: _split(recsys.temporal_split, ratings(), 0.0),
        ("0", "fraction", "test"))
    add("leave_last_out_split(None)", lambda: recsys.leave_last_out_split(None),
        ("ratings", "None"), True)
    if fx.recommender is not None and fx.data is not None:
        from convrec.settings import Settings

        settings = Settings(cache_dir=fx.root / "cache", offline=True, data_dir=fx.data)
        rec = recsys.load_recommender(fx.recommender, "ml-100k", fx.data, settings)
        add("MovieRecommender.parse_ratings(['50=5'])", lambda: rec.parse_ratings(["50=5"]),
            ("50=5", "id:50"), True)
        add("MovieRecommender.parse_ratings(['star wars=6'])",
            lambda: rec.parse_ratings(["star wars=6"]), ("6",))
        add("MovieRecommender.parse_ratings(['star wars=nan'])",
            lambda: rec.parse_ratings(["star wars=nan"]), ("nan",))
        add("MovieRecommender.parse_ratings(['star wars=4.5']) on ML-100K",
            lambda: rec.parse_ratings(["star wars=4.5"]), ("4.5",))
        add("MovieRecommender.parse_ratings(duplicated)",
            lambda: rec.parse_ratings(["star wars=5", "id:50=4"]), ("star wars", "twice", "50"))
        add("MovieRecommender.recommend('no-such-user')", lambda: rec.recommend("no-such-user"),
            ("no-such-user",), True)
        add("MovieRecommender.recommend('1', n=0)", lambda: rec.recommend("1", 0), ("n", "0"))
        add("MovieRecommender.similar_items(999999)", lambda: rec.similar_items(999999, 5),
            ("999999",))
        add("MovieRecommender.recommend_for_ratings({999999: 4})",
            lambda: rec.recommend_for_ratings({999999: 4.0}, 5), ("999999",))
        add("MovieRecommender.recommend_for_ratings({50: 9})",
            lambda: rec.recommend_for_ratings({50: 9.0}, 5), ("9", "rating"))
        add("MovieCatalog.find('zzzzqqq')", lambda: rec.catalog.find("zzzzqqq"), ("zzzzqqq",))
        add("MovieCatalog.find('')", lambda: rec.catalog.find(""), ("title", "empty", "''"))
        add("MovieCatalog.get(-1)", lambda: rec.catalog.get(-1), ("-1",))
        add("MovieCatalog.search('star', n=0)", lambda: rec.catalog.search("star", n=0),
            ("n", "0"))
        add("load_recommender(dataset='bogus')", lambda: recsys.load_recommender(
            None, "bogus", fx.data, settings), ("bogus",))
        add("load_recommender(model=torn)", lambda: recsys.load_recommender(
            fx.torn_model, "ml-100k", fx.data, settings), ("torn-model",))


def _first_param(cls: type, names: tuple[str, ...], value: Any) -> Any:
    import inspect

    params = inspect.signature(cls).parameters
    for name in names:
        if name in params:
            return cls(**{name: value})
    raise AssertionError(f"{cls.__name__} has none of {names}")


def _split(split: Callable[..., Any], ratings: Any, fraction: float) -> Any:
    import inspect

    params = list(inspect.signature(split).parameters)
    name = next((p for p in params if "test" in p or "frac" in p), params[1])
    return split(ratings, **{name: fraction})


# ------------------------------------------------------------------------------ the census
@contextlib.contextmanager
def census_environment(root: Path) -> Iterator[None]:
    """Offline, a throwaway cache, one thread: nothing downloads, nothing touches the user."""
    old = dict(os.environ)
    os.environ.update({"CONVREC_OFFLINE": "1", "CONVREC_CACHE": str(root / "cache"),
                       "CONVREC_THREADS": "1", "COLUMNS": "200",
                       # a studio that starts by mistake must not take anyone's port 8000
                       "CONVREC_PORT": str(_free_port())})
    os.environ.pop("CONVREC_DEBUG", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def build_cases(root: Path, faces: set[str], data: Path | None) -> tuple[list[Case], Any]:
    """The fixtures in ``root``, then every case of ``faces`` (and the studio, to close)."""
    fx = make_fixtures(root, data)
    cases: list[Case] = []
    studio = None
    if "cli" in faces:
        cases += cli_walk_cases(fx) + cli_cases(fx)
    if "cli-process" in faces:
        cases += cli_process_cases(fx)
    if "api" in faces:
        studio = make_studio(fx)
        cases += [*api_cases(studio, fx), api_throttle_case(studio)]
    if "library" in faces:
        cases += library_cases(fx)
    return cases, studio


def run_cases(cases: list[Case], echo: bool = False) -> list[tuple[Case, Outcome, float]]:
    results = []
    for case in cases:
        start = time.perf_counter()
        try:
            outcome = case.run()
        except Exception as exc:  # a case's own set-up failing is a crash too
            outcome = Outcome("crash", f"census harness: {type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - start
        results.append((case, outcome, seconds))
        if echo:
            print(f"  {outcome.kind:6s} {seconds:6.2f}s {case.face:8s} {case.name}",
                  file=sys.__stderr__, flush=True)
    return results


def run_cli_isolated(root: Path, quick: bool, echo: bool) -> list[tuple[Case, Outcome, float]]:
    """The CLI cases in worker processes that run them in-process one after another: a case
    that kills its process (a segfault, the OOM killer) is a crash, and the next worker goes
    on from the case after it."""
    fx = make_fixtures(root, _data_dir())
    cases = [*cli_walk_cases(fx), *cli_cases(fx)]
    if quick:
        cases = [c for c in cases if c.quick]
    results: list[tuple[Case, Outcome, float]] = []
    start = 0
    while start < len(cases):
        out = root / f"worker-{start}.jsonl"
        command = [sys.executable, __file__, "--worker", str(root), "--start", str(start)]
        try:
            done = subprocess.run([*command, *(["--quick"] if quick else [])], check=False,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=CASE_TIMEOUT_S * len(cases))
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError("a census worker hung past every case's alarm") from exc
        rows = [json.loads(line) for line in out.read_text().splitlines()] \
            if out.exists() else []
        for row in rows:
            case = cases[row["index"]]
            outcome = Outcome(row["kind"], row["detail"])
            results.append((case, outcome, row["seconds"]))
            if echo:
                print(f"  {outcome.kind:6s} {row['seconds']:6.2f}s cli      {case.name}",
                      file=sys.__stderr__, flush=True)
        start += len(rows)
        if start < len(cases) and done.returncode != 0:  # that case took its process down
            results.append((cases[start], Outcome(
                "crash", f"the process died (exit code {done.returncode})"), 0.0))
            if echo:
                print(f"  crash  (died) cli      {cases[start].name}", file=sys.__stderr__)
            start += 1
        elif start < len(cases) and not rows:
            raise RuntimeError("a census worker made no progress")
    return results


def _worker(root: Path, start: int, quick: bool) -> None:
    fx = make_fixtures(root, _data_dir())
    cases = [*cli_walk_cases(fx), *cli_cases(fx)]
    if quick:
        cases = [c for c in cases if c.quick]
    import signal

    def too_long(_signum: int, _frame: Any) -> None:
        raise CaseTimeoutError

    signal.signal(signal.SIGALRM, too_long)
    with (root / f"worker-{start}.jsonl").open("w") as out:
        for index in range(start, len(cases)):
            signal.alarm(CASE_TIMEOUT_S)  # a bad input that is served or trained on for ever
            (_, outcome, seconds), = run_cases([cases[index]])
            signal.alarm(0)
            _end_children()  # a studio accepted by mistake leaves its worker processes
            out.write(json.dumps({"index": index, "kind": outcome.kind,
                                  "detail": outcome.detail, "seconds": seconds}) + "\n")
            out.flush()


def _end_children() -> None:
    """Terminate the processes a case left behind (uvicorn's workers, a training process)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
        child.join(timeout=10)


def _data_dir() -> Path | None:
    return Path(os.environ["CONVREC_DATA"]) if os.environ.get("CONVREC_DATA") else None


def table(results: list[tuple[Case, Outcome, float]]) -> str:
    """The per-face table, markdown."""
    faces = sorted({c.face for c, _, _ in results}, key=["cli", "cli-process", "api",
                                                         "library"].index)
    lines = ["| face | inputs tried | clear | vague | traceback / 5xx | silently accepted |",
             "|---|---:|---:|---:|---:|---:|"]
    total: Counter[str] = Counter()
    for face in faces:
        counts = Counter(o.kind for c, o, _ in results if c.face == face)
        total.update(counts)
        n = sum(counts.values())
        lines.append(f"| {face} | {n} | " + " | ".join(str(counts[k]) for k in OUTCOMES) + " |")
    lines.append(f"| **all** | **{sum(total.values())}** | "
                 + " | ".join(f"**{total[k]}**" for k in OUTCOMES) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--face", action="append", choices=["cli", "cli-process", "api",
                                                             "library"])
    parser.add_argument("--quick", action="store_true", help="only the test suite's subset")
    parser.add_argument("--show", default="crash,silent,vague",
                        help="outcomes to list case by case (comma-separated)")
    parser.add_argument("--echo", action="store_true", help="print each case as it runs")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:  # one CLI worker (see run_cli_isolated): environment inherited
        _worker(args.worker, args.start, args.quick)
        return 0
    faces = set(args.face or ["cli", "cli-process", "api", "library"])
    data = _data_dir()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="convrec-census-") as tmp:
        root = Path(tmp)
        with census_environment(root):
            if data is not None:
                os.environ["CONVREC_DATA"] = str(data)
            results = run_cli_isolated(root, args.quick, args.echo) if "cli" in faces else []
            cases, studio = build_cases(root, faces - {"cli"}, data)
            if args.quick:
                cases = [c for c in cases if c.quick]
            results += run_cases(cases, echo=args.echo)
            if studio is not None:
                studio.client.__exit__(None, None, None)
    shown = set(args.show.split(",")) if args.show else set()
    for kind in OUTCOMES:
        if kind not in shown:
            continue
        listed = [(c, o) for c, o, _ in results if o.kind == kind]
        if listed:
            print(f"\n## {kind} ({len(listed)})")
            for c, o in listed:
                print(f"- [{c.face}] {c.name}\n    → {o.detail}")
    slowest = sorted(results, key=lambda r: -r[2])[:5]
    print("\nslowest cases: " + "; ".join(f"{c.name[:50]} {s:.1f}s" for c, _, s in slowest))
    print(f"\n{table(results)}\n\n{len(results)} bad inputs in "
          f"{time.perf_counter() - start:.0f} s")
    bad = sum(1 for _, o, _ in results if o.kind in ("crash", "silent"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
