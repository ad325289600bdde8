"""Wall time of a 4-temperature series of S-curves against the same four S-curves run alone.

Both on the simulated cryostat bench (its lab file sets a 100 W heater, so the stage reaches
400 K). The S-curves alone run after the cryostat role's own wait_stable at each temperature
(timed separately: simulating a stage that settles costs wall time either way); the series
includes its stability waits, the temperature trace, the step entries and its own analysis.
The series machinery's overhead is series / (S-curves + waits) - 1 (target under 10 %); the
ratio against the S-curves alone is printed too.

    PYTHONPATH=$PWD python benchmarks/series_overhead.py
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import experiments
from avlab.bench import Bench
from avlab.config import parse_config
from avlab.runner import Runner
from experiments.scurve import SCurve
from experiments.series.procedure import Series

TEMPERATURES = (10.0, 150.0, 295.0, 400.0)
INNER = dict(power_min_W=0.2, power_max_W=5.0, sweep_down=False)


def bench() -> Bench:
    path = Path(experiments.__file__).parent / "labs" / "cryostat_sim.toml"
    config = parse_config(path.read_text(), str(path))
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=3))
    return Bench(config)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Warm the physics tables of all four temperatures first, so neither side pays them.
        from sim_devices.physics import emission_table
        with bench() as b:
            for t in TEMPERATURES:
                emission_table(b.world.preset, temperature_K=t)
            # ... and one untimed S-curve, so imports and first-call costs are paid.
            Runner(SCurve(**INNER), b, Path(tmp) / "warm_up.h5").run()
        alone = waits = 0.0
        with bench() as b:
            for t in TEMPERATURES:
                t0 = time.perf_counter()
                b.cryostat().set_setpoint_K(t)
                b.cryostat().wait_stable(tolerance_K=0.2, stable_s=60.0, timeout_s=20000.0)
                waits += time.perf_counter() - t0
                t0 = time.perf_counter()
                Runner(SCurve(**INNER), b, Path(tmp) / f"alone_{t:.0f}.h5").run()
                alone += time.perf_counter() - t0
        inner = ";".join(f"{k}={v}" for k, v in INNER.items())
        with bench() as b:
            t0 = time.perf_counter()
            result = Runner(Series(over="temperature_K=" + ",".join(f"{t:g}" for t in TEMPERATURES),
                                   inner=inner), b, Path(tmp) / "series.h5").run()
            series = time.perf_counter() - t0
        print(f"series status     : {result.status}")
        print(f"4 S-curves alone  : {alone:.3f} s wall")
        print(f"4 stage waits     : {waits:.3f} s wall (the cryostat role's own wait_stable, the "
              "simulated stage's thermal integration)")
        print(f"series of the four: {series:.3f} s wall (stability waits, trace, entries, analysis)")
        print(f"overhead          : {100 * (series / (alone + waits) - 1):+.1f} % against "
              "S-curves + the same stage waits: the series machinery (target < 10 %)")
        print(f"                    {100 * (series / alone - 1):+.1f} % against the S-curves "
              "alone (includes simulating the stage's settling, which the waits above cost too)")


if __name__ == "__main__":
    main()
