"""Wall time of `avlab model --series concentration=0.02:0.20:10` (and over temperature) as a
user runs it.

Each run is a fresh process (interpreter start, imports, the forked matplotlib worker, ten
predictions with their t½ peaks, the table and the PNG), timed from outside. Prints every run
and the fastest and median (this machine's speed drifts between runs). Target (issue 10):
under a second per ten points. Also prints the figure without the t½ column (--no-rise-time).

    python benchmarks/model_series.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(png: Path, series: str, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "avlab.cli", "model", "--series", series,
                    "--png", str(png), *extra], check=True, capture_output=True)
    return time.perf_counter() - start


def _start_up() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy, matplotlib.figure"], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Anchor, same run: a fresh interpreter importing what the command cannot do without
        # (numpy here, matplotlib's figure in the plot worker), nothing computed.
        floor = min(_start_up() for _ in range(args.runs))
        print(f"anchor: python -c 'import numpy, matplotlib.figure' {floor:.2f} s (fastest of "
              f"{args.runs})")
        for series, label, extra in (
                ("concentration=0.02:0.20:10", "with t½ peaks", ()),
                ("concentration=0.02:0.20:10", "--no-rise-time", ("--no-rise-time",)),
                ("temperature=20:400:10", "with t½ peaks", ())):
            times = [one_run(Path(tmp) / f"m{i}.png", series, *extra) for i in range(args.runs)]
            print(f"{series} {label:14s}: " + ", ".join(f"{t:.2f}" for t in times)
                  + f" s; fastest {min(times):.2f} s, median {statistics.median(times):.2f} s"
                  + f" = {statistics.median(times) / floor:.1f}x the anchor  (target < 1 s)")


if __name__ == "__main__":
    main()
