"""Spread of the default S-curve's figures over random seeds of the simulated bench.

Prints (never asserts) S_max, the S-peak and tangent thresholds, the low-power exponent and
G2 for each seed, next to the model's own values, so a change to the sweep or the analysis
can be judged on more than one lucky run.

    python benchmarks/scurve_seeds.py [--seeds 10] [--set name=value ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)

from avlab.bench import Bench  # noqa: E402
from avlab.config import load_config  # noqa: E402
from avlab.runner import Runner  # noqa: E402
from experiments.scurve import SCurve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    args = parser.parse_args()
    config = load_config()
    print("seed  points  S_max         I_th(S peak)  I_th(tangent)  k            G2")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            seeded = dataclasses.replace(config, simulation=dataclasses.replace(
                config.simulation, seed=seed))
            procedure = SCurve()
            procedure.set_from_strings(args.assignments)
            with Bench(seeded) as bench:
                result = Runner(procedure, bench, Path(tmp) / f"s{seed}.h5").run()
                model = bench.world.sample.describe()
            up = result.analysis.detail.up
            print(f"{seed:4d}  {result.n_points:6d}  {up.s_max:5.1f} ± {up.s_max_sigma:3.1f}"
                  f"    {up.threshold_s_peak_kW_cm2:6.2f}        {up.threshold_tangent_kW_cm2:6.2f}"
                  f"       {up.low_power_slope:4.2f} ± {up.low_power_slope_sigma:4.2f}"
                  f"  {up.gain_2x:5.0f}")
    print(f"model: S_max {model['model_s_max']:.1f} at "
          f"{model['model_threshold_s_peak_kW_cm2'][0]:.2f} kW/cm² (S peak); "
          "tangent threshold 4.54, k = 2, G2 172 (docs/physics.md §7)")


if __name__ == "__main__":
    main()
