"""Start-up cost of the command line, measured in one run (prints, never asserts).

* `avlab --help`: whole process wall time (target < 0.15 s).
* `avlab run scurve`: whole process wall time against the measurement's own wall time that
  the command reports ("wall time" of the run), so the difference is everything around the
  measurement: interpreter, imports, bench set-up, analysis and the PNG (target: well under
  a second).
* `avlab run scurve --no-plot`: the same without the PNG, to show the plot's share.

    python benchmarks/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "avlab.cli", *args], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, done.stdout


def measurement_s(stdout: str) -> float:
    match = re.search(r"wall time ([0-9.]+) s", stdout)
    if match is None:
        raise RuntimeError(f"no wall time in the output:\n{stdout}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    help_s, run_s, run_meas, noplot_s, noplot_meas = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        timed(["run", "scurve", "--out", "warm.h5"], cwd)  # first run fills OS caches
        for i in range(args.repeats):
            help_s.append(timed(["--help"], cwd)[0])
            total, out = timed(["run", "scurve", "--out", f"r{i}.h5"], cwd)
            run_s.append(total)
            run_meas.append(measurement_s(out))
            total, out = timed(["run", "scurve", "--no-plot", "--out", f"n{i}.h5"], cwd)
            noplot_s.append(total)
            noplot_meas.append(measurement_s(out))
    med = statistics.median
    print(f"avlab --help                : {med(help_s):6.3f} s  (target < 0.15 s)")
    print(f"avlab run scurve            : {med(run_s):6.3f} s, of which the measurement "
          f"{med(run_meas):.3f} s -> {med(run_s) - med(run_meas):.3f} s around it "
          "(target: well under 1 s)")
    print(f"avlab run scurve --no-plot  : {med(noplot_s):6.3f} s, of which the measurement "
          f"{med(noplot_meas):.3f} s -> {med(noplot_s) - med(noplot_meas):.3f} s around it")
    print(f"the PNG's share             : {med(run_s) - med(noplot_s):6.3f} s")


if __name__ == "__main__":
    main()
