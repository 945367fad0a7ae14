"""A later start of the studio from its cache: seconds to the first page and to the recommender.

Starts ``convrec studio --workers N`` (the console script of this venv, SQLite in a cache of
its own that already holds the trained default models, a port of its own) again and again,
and measures from the moment the command is started:

- **first page**: ``GET /`` answers 200;
- **recommender**: ``GET /api/me/recommendations`` answers 200 for a user with 20 ratings
  (signed up in an unmeasured first start, so no password hash is in the measured path;
  the request waits for the worker's recommender if it is still loading);

as a later start on a user's machine: the first start wrote the bytecode of every module it
imported (``PYTHONDONTWRITEBYTECODE`` is cleared for the children, as ``make test`` does), so
the measured ones read it; ``--cold-bytecode`` measures the other case (nothing compiled, nothing
written: each process compiles every module it imports from source);

the median of ``--starts`` starts each, with ``python -c "import numpy"`` and
``python -c "import torch"`` timed in the same rounds as anchors. With several ``--tree
LABEL=SRC`` (e.g. a ``git archive`` of the commit before beside ``src``) the trees take turns
in every round, each with its own cache and database, so before and after see the same load.

``--breakdown``: one more start per tree with ``CONVREC_START_TRACE`` set
(:mod:`convrec.web.timeline`): when the command and each worker reached each step of the
start, in seconds after the command started; and ``-X importtime`` of the three import sets
in fresh processes (the CLI up to the studio command, a worker's app module, the models'
loaders), the largest packages by cumulative time.

Run under the bench gate: ``CONVREC_DATA=/work/shared/data /work/notes/bin/bench
.venv/bin/python benchmarks/bench_studio_start.py --models CACHE --tree before=/tmp/before/src
--tree after=src --breakdown``. Without ``--models`` the default models are trained first
(about a minute) by the studio's own trainer.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@dataclass
class Tree:
    """A source tree to start the studio from, with its own cache and account."""

    label: str
    src: Path
    cache: Path
    token: str = ""
    page_s: list[float] = field(default_factory=list)
    recommend_s: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: ``--cold-bytecode``: the children neither read nor write ``__pycache__`` (set in main)
COLD: dict[str, str] = {}


def environment(tree: Tree, **extra: str) -> dict[str, str]:
    """The children's environment: ``tree``'s sources first on the path, its cache, offline;
    bytecode written and read as on a user's machine (unless ``--cold-bytecode``), even where
    ``PYTHONDONTWRITEBYTECODE`` is set here."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CONVREC_START_TRACE", "PYTHONPROFILEIMPORTTIME",
                        "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env.update(CONVREC_CACHE=str(tree.cache), CONVREC_OFFLINE="1",
               PYTHONPATH=str(tree.src), **COLD, **extra)
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl+C to the command and its workers, as a user stops it; SIGKILL after 30 s."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def wait_for(url: str, process: subprocess.Popen[bytes], started: float, deadline_s: float,
             headers: dict[str, str] | None = None) -> float:
    """Seconds from ``started`` until ``url`` answers 200 (polled every 10 ms)."""
    while True:
        try:
            response = httpx.get(url, headers=headers, timeout=deadline_s)
            if response.status_code == 200:
                return time.perf_counter() - started
            if response.status_code not in (502, 503):
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the studio exited ({process.returncode}) before {url} answered")
        if time.perf_counter() - started > deadline_s:
            raise RuntimeError(f"{url} did not answer within {deadline_s} s")
        time.sleep(0.01)


def start(tree: Tree, workers: int, deadline_s: float, trace: Path | None = None
          ) -> tuple[float, float, float]:
    """One start: (unix time it began, seconds to the first page, seconds to the recommender)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(tree, **({"CONVREC_START_TRACE": str(trace)} if trace else {}))
    log = (tree.cache / "bench-start.log").open("ab")
    began = time.time()
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(VENV_BIN / "convrec"), "studio", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    try:
        page = wait_for(base + "/", process, started, deadline_s)
        recommend = wait_for(base + "/api/me/recommendations", process, started, deadline_s,
                             headers={"Authorization": f"Bearer {tree.token}"})
    finally:
        stop(process)
    return began, page, recommend


def prime(tree: Tree, workers: int) -> None:
    """An unmeasured first start: the database migrated, the parsed movie list cached, an
    account with 20 ratings whose token the measured starts use."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tree.cache / "bench-start.log").open("ab")
    process = subprocess.Popen(
        [str(VENV_BIN / "convrec"), "studio", "--port", str(port), "--workers", str(workers)],
        env=environment(tree), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True)
    log.close()
    try:
        wait_for(base + "/", process, time.perf_counter(), 120)
        body = httpx.post(base + "/api/auth/signup", timeout=60, json={
            "username": "starter", "password": "start bench pass"}).json()
        tree.token, uid = body["token"], body["user"]["id"]
        headers = {"Authorization": f"Bearer {tree.token}"}
        for movie in range(1, 21):
            httpx.put(f"{base}/api/users/{uid}/ratings/{movie}", json={"rating": movie % 5 + 1},
                      headers=headers, timeout=60).raise_for_status()
        recs = httpx.get(base + "/api/me/recommendations", headers=headers, timeout=120)
        recs.raise_for_status()
        assert recs.json()["based_on"] == 20, recs.text
    finally:
        stop(process)


def seconds_of(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def show_trace(trace: Path, began: float) -> None:
    """The steps of one start, in seconds after the command began, per process."""
    rows = []
    for line in trace.read_text(encoding="utf-8").splitlines():
        stamp, pid, role, step = line.split(" ", 3)
        rows.append((float(stamp) - began, int(pid), role, step))
    names: dict[int, str] = {}
    for _, pid, role, _step in sorted(rows):
        if pid not in names:
            workers = sum(name != "cli" for name in names.values())
            names[pid] = role if role == "cli" else f"worker {workers + 1}"
    for at, pid, _role, step in sorted(rows):
        print(f"  {at:6.2f} s  {names[pid]:<9} {step}")


IMPORT_SETS = {
    "CLI up to the studio command": "import convrec.cli.main as m; m.__getattr__('app')",
    "the CLI's studio command body (uvicorn, settings, db, training)":
        "import uvicorn, convrec.settings, convrec.web.db, convrec.web.training",
    "a worker's app module": "import convrec.web.app",
    "the recommender's loader": "import convrec.recsys",
    "the classifier's loader (torch)": "import convrec.vision.predict, torch",
}


def show_imports(tree: Tree) -> None:
    """``-X importtime`` of each import set in a fresh process: its total, and the largest
    top-level packages by cumulative time (each counted once, at its outermost import)."""
    for label, code in IMPORT_SETS.items():
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                             env=environment(tree), capture_output=True, text=True, check=True)
        tops: dict[str, float] = {}
        total = 0.0
        for line in out.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
            if not match:
                continue
            cumulative, depth, name = int(match.group(2)), len(match.group(3)), match.group(4)
            if depth == 0:  # an import made by the -c code itself (or at the top of one)
                top = name.split(".")[0]
                tops[top] = tops.get(top, 0.0) + cumulative / 1e6
                total += cumulative / 1e6
        biggest = sorted(tops.items(), key=lambda kv: -kv[1])[:6]
        print(f"  {label}: {total:.2f} s; " + ", ".join(f"{n} {s:.2f}" for n, s in biggest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="measured starts per tree")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", type=Path, default=None,
                        help="a cache folder whose models/ to reuse instead of training them")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=SRC",
                        help="a source tree (its src/ folder) to start from; repeatable "
                        "(default: current=src)")
    parser.add_argument("--breakdown", action="store_true",
                        help="one traced start per tree, and -X importtime of its imports")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds per start")
    parser.add_argument("--cold-bytecode", action="store_true",
                        help="every process compiles every module from source (no "
                        "__pycache__ read or written): a --no-compile install run with "
                        "PYTHONDONTWRITEBYTECODE=1")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.starts < 1:
        sys.exit(f"--starts {args.starts}: must be at least 1")
    if not (VENV_BIN / "convrec").is_file():
        sys.exit(f"no convrec console script beside {sys.executable}: run it with the venv's "
                 "python (.venv/bin/python)")
    if "CONVREC_DATA" not in os.environ:
        sys.exit("set CONVREC_DATA to a folder holding ml-100k/ (the recommender's data)")
    work = Path(tempfile.mkdtemp(prefix="convrec-bench-start-"))
    if args.cold_bytecode:
        (work / "no-pycache").mkdir()  # an empty prefix: nothing to read, nothing written
        COLD.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(work / "no-pycache"))
    trees: list[Tree] = []
    for spec in args.tree or [f"current={ROOT / 'src'}"]:
        label, sep, src = spec.partition("=")
        if not sep or not (Path(src) / "convrec" / "__init__.py").is_file():
            sys.exit(f"--tree {spec!r}: give LABEL=SRC, SRC a folder holding convrec/")
        trees.append(Tree(label, Path(src).resolve(), work / label / "cache"))
    try:
        models = args.models
        if models is None:
            models = work / "trained"
            subprocess.run([sys.executable, "-m", "convrec.web.training"], check=True,
                           env=environment(Tree("train", ROOT / "src", models)))
        for tree in trees:
            tree.cache.mkdir(parents=True)
            shutil.copytree(models / "models", tree.cache / "models")
            for kept in ("catalogues",):
                if (models / kept).is_dir():
                    shutil.copytree(models / kept, tree.cache / kept)
            prime(tree, args.workers)
        anchors: dict[str, list[float]] = {"numpy": [], "torch": []}
        plain = environment(trees[0])
        for name in anchors:  # unmeasured: their bytecode written, as the primes wrote the app's
            seconds_of([sys.executable, "-c", f"import {name}"], plain)
        bytecode = ("none (every module compiled from source by every process)"
                    if args.cold_bytecode else "written by the unmeasured first start, read")
        print(f"{os.cpu_count()} cores, {args.workers} workers, SQLite, bytecode: {bytecode}; "
              f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        for round_ in range(args.starts):
            for name, times in anchors.items():
                times.append(seconds_of([sys.executable, "-c", f"import {name}"], plain))
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                _, page, recommend = start(tree, args.workers, args.deadline)
                tree.page_s.append(page)
                tree.recommend_s.append(recommend)
                print(f"  round {round_ + 1} {tree.label}: first page {page:.2f} s, "
                      f"recommender {recommend:.2f} s", flush=True)
        print(f"\nmedians of {args.starts} starts (load average after: "
              f"{os.getloadavg()[0]:.2f}):")
        print("| tree | first page s | recommender answering s | min-max page | min-max "
              "recommender |")
        print("|---|---:|---:|---:|---:|")
        for tree in trees:
            print(f"| {tree.label} | {statistics.median(tree.page_s):.2f} | "
                  f"{statistics.median(tree.recommend_s):.2f} | "
                  f"{min(tree.page_s):.2f}-{max(tree.page_s):.2f} | "
                  f"{min(tree.recommend_s):.2f}-{max(tree.recommend_s):.2f} |")
        for name, times in anchors.items():
            print(f"| anchor: python -c \"import {name}\" | {statistics.median(times):.2f} | "
                  f"| {min(times):.2f}-{max(times):.2f} | |")
        if args.breakdown:
            for tree in trees:
                trace = work / f"{tree.label}.trace"
                began, page, recommend = start(tree, args.workers, args.deadline, trace)
                print(f"\n{tree.label}: a traced start (first page {page:.2f} s, recommender "
                      f"{recommend:.2f} s), seconds after the command began:")
                if trace.is_file():
                    show_trace(trace, began)
                else:
                    print("  (this tree writes no start trace)")
                print(f"{tree.label}: -X importtime, fresh processes:")
                show_imports(tree)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
