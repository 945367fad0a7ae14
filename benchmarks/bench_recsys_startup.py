"""``convrec movies rate`` in a fresh process, beside the interpreter's and numpy's own start.

Every command runs as a fresh process, ``--rounds`` times, the commands interleaved round by
round (so a burst of load hits all of them alike); the table gives the median and the minimum
wall time (``perf_counter`` around ``subprocess``; the peak RSS from ``os.wait4``, as
``/usr/bin/time`` reports it) and the ratio of the medians to ``python -c pass`` and to
``python -c "import numpy"``, measured in the same run. The floor row is what any answer
needs: numpy imported and the model file read. Then ``-X importtime`` of one ``movies rate``,
summed by top-level package (self times), says where the rest goes.

The default model is trained into a scratch ``CONVREC_CACHE`` first (the warm-up run, not
timed); ``--cache DIR`` uses an existing cache instead. The package's bytecode is compiled
first, and each command runs once untimed writing the bytecode of what it imports, as ``pip
install`` compiles a package and its dependencies (``make install`` passes ``--no-compile``;
with ``PYTHONDONTWRITEBYTECODE=1`` set, an uncompiled module is compiled again in every
process: rich's emoji table alone took 35 ms here). ``--before SRC`` adds the same
``movies rate`` with ``PYTHONPATH=SRC`` (e.g. ``git archive <commit> src | tar -x -C DIR``), so
a change is measured against the code before it in the same run.

Run: ``CONVREC_DATA=/work/shared/data /work/notes/bin/bench .venv/bin/python
benchmarks/bench_recsys_startup.py`` (prints a markdown section; nothing is written).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

RATE = ["movies", "rate", "star wars=5", "toy story=4", "titanic=1"]
# typer's own parsing: typer 0.29 builds a pydantic adapter per parameter (typer._adapters)
_ADAPTERS = ", typer._adapters" if importlib.util.find_spec("typer._adapters") else ""
FRAMEWORK = f"import numpy, typer{_ADAPTERS}, rich.console, rich.table"
LIBRARY = ("from convrec.recsys import load_recommender\n"
           "rec = load_recommender()\n"
           "pairs = rec.parse_ratings(['star wars=5', 'toy story=4', 'titanic=1'])\n"
           "print([r.title for r in rec.recommend_for_ratings(pairs, 10)])\n")
FLOOR = ("import sys, numpy as np\n"
         "with open(sys.argv[1], 'rb') as fh, np.load(fh) as d:\n"
         "    arrays = {k: d[k] for k in d.files}\n")


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """``(wall s, peak RSS MiB, exit code)`` of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        if proc.returncode not in (0, 2) or (err and proc.returncode):
            print(f"{' '.join(argv[:4])}...: exit {proc.returncode}: {err[-300:]}",
                  file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def writing_bytecode(env: dict[str, str]) -> dict[str, str]:
    """``env`` without ``PYTHONDONTWRITEBYTECODE``: a process run with it writes the bytecode
    of each module it imports."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_profile(argv: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Self import times (ms) summed by top-level package, largest first."""
    out = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env,
                         capture_output=True, text=True, check=False)
    totals: collections.defaultdict[str, float] = collections.defaultdict(float)
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            totals[m.group(2).split(".")[0]] += int(m.group(1)) / 1000
    return sorted(totals.items(), key=lambda kv: -kv[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=None,
                        help="an existing CONVREC_CACHE (default: a scratch one, trained first)")
    parser.add_argument("--before", type=Path, default=None,
                        help="a src/ folder of older code: its movies rate is timed too")
    args = parser.parse_args()
    py = sys.executable
    import convrec as package

    trees = [Path(package.__file__ or "").parent]
    trees += [args.before / "convrec"] if args.before else []
    for tree in trees:
        subprocess.run([py, "-m", "compileall", "-q", str(tree)], check=True)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="convrec-startup-"))
    env = dict(os.environ, CONVREC_CACHE=str(cache))
    # the warm-up runs write the bytecode of every module they import, as `pip install`
    # does for a package and its dependencies (`make install` skips it: --no-compile)
    warm_env = writing_bytecode(env)
    convrec = [py, "-m", "convrec.cli.main"]
    wall, _, code = run_once([*convrec, *RATE], warm_env)  # trains and saves the default model
    if code != 0:
        sys.exit(f"the warm-up `convrec {' '.join(RATE)}` failed (exit {code})")
    model = cache / "models" / "ml-100k-hybrid.npz"
    commands = {
        "`python -c pass`": [py, "-c", "pass"],
        '`python -c "import numpy"`': [py, "-c", "import numpy"],
        "floor: numpy + read the model file (np.load, every array)": [py, "-c", FLOOR,
                                                                      str(model)],
        f"numpy + typer {metadata.version('typer')} (+ its parsing) + rich":
            [py, "-c", FRAMEWORK],
        "the same answer through the library, no CLI (load_recommender, parse, recommend)":
            [py, "-c", LIBRARY],
        "`convrec --help`": [*convrec, "--help"],
        f"`convrec {' '.join(RATE[:2])} {' '.join(repr(a) for a in RATE[2:])}`"
        .replace("'", '"'): [*convrec, *RATE],
    }
    before_env = dict(env, PYTHONPATH=str(args.before))
    if args.before is not None:
        run_once([*convrec, *RATE], before_env)  # its own catalogue parse, not timed
        commands["the same `movies rate`, code before the change (`--before`)"] = [*convrec,
                                                                                   *RATE]
    for label, argv in commands.items():  # bytecode written, nothing timed
        run_once(argv, writing_bytecode(before_env if "before" in label else env))
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, float] = dict.fromkeys(commands, 0.0)
    for _ in range(args.rounds):
        for label, argv in commands.items():
            wall, peak, _ = run_once(argv, before_env if "before" in label else env)
            times[label].append(wall)
            rss[label] = max(rss[label], peak)
    load_after = os.getloadavg()
    anchor = float(np.median(times["`python -c pass`"]))
    numpy_s = float(np.median(times['`python -c "import numpy"`']))
    print("### `convrec movies rate` in a fresh process")
    print()
    print(f"ML-100K, the default model in a {'given' if args.cache else 'scratch'} cache "
          f"({model.stat().st_size / 2**20:.1f} MiB model file); {args.rounds} rounds, "
          f"commands interleaved; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after, {os.cpu_count()} cores.")
    print()
    print("| command | median ms | min ms | × `python -c pass` | × numpy import | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for label, ts in times.items():
        med = float(np.median(ts))
        print(f"| {label} | {med * 1e3:.0f} | {min(ts) * 1e3:.0f} | {med / anchor:.1f} | "
              f"{med / numpy_s:.2f} | {rss[label]:.0f} |")
    print()
    top = import_profile([*convrec, *RATE], env)
    total = sum(ms for _, ms in top)
    print(f"`-X importtime` of one `movies rate`: {total:.0f} ms of imports; by package: "
          + ", ".join(f"{name} {ms:.0f}" for name, ms in top[:10]) + ".")
    print()


if __name__ == "__main__":
    main()
