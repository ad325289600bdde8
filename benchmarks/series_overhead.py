"""Wall time of a 4-temperature series of S-curves against the same four S-curves run alone.

Both on the simulated cryostat bench (its lab file sets a 100 W heater, so the stage reaches
400 K). Simulating a stage that settles costs wall time (the twin integrates its heat flow), so
both sides simulate the same stage time: the series runs first, and the S-curves alone then
start at the same bench times as the series' inner runs did (setpoint, then a plain wait of the
bench clock until then). What is left is the series machinery: its stability polls (each a
stored, health-checked point), the temperature trace, one file entry per step, its analysis.
Overhead = series / (S-curves + waits) - 1 (target under 10 %). The sides alternate for a few
rounds and the fastest of each is compared: this machine's speed drifts between runs.

    PYTHONPATH=$PWD python benchmarks/series_overhead.py
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

import experiments
from avlab.bench import Bench
from avlab.config import parse_config
from avlab.runner import Runner
from experiments.scurve import SCurve
from experiments.series.procedure import MEASURE, Series

TEMPERATURES = (10.0, 150.0, 295.0, 400.0)
INNER = {"power_min_W": 0.2, "power_max_W": 5.0}  # the S-curve's own sweep (up and down)
ROUNDS = 7


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
        rounds = []
        for k in range(ROUNDS):
            series, starts = _series(tmp, k)
            rounds.append((*_alone(tmp, k, starts), series))
        alone, waits, series = (min(r[i] for r in rounds) for i in range(3))
        print(f"rounds            : {ROUNDS}, alternating; the fastest of each side is compared")
        print(f"4 S-curves alone  : {alone:.3f} s wall")
        print(f"4 stage waits     : {waits:.3f} s wall (setpoint, then the bench clock to where "
              "the series started that step's S-curve)")
        print(f"series of the four: {series:.3f} s wall (stability polls, trace, entries, "
              "analysis)")
        print(f"overhead          : {100 * (series / (alone + waits) - 1):+.1f} % against "
              "S-curves + the same stage time: the series machinery (target < 10 %)")
        per_round = ", ".join(f"{100 * (r[2] / (r[0] + r[1]) - 1):+.0f} %" for r in rounds)
        print(f"each round        : {per_round}")


def _series(tmp: str, k: int) -> tuple[float, list[float]]:
    """Wall time (s) of the series, and the bench times (s from the bench's start) at which
    its inner S-curves started."""
    inner = ";".join(f"{key}={v}" for key, v in INNER.items())
    with bench() as b:
        t0_bench = b.now()
        t0 = time.perf_counter()
        result = Runner(Series(over="temperature_K=" + ",".join(f"{t:g}" for t in TEMPERATURES),
                               inner=inner), b, Path(tmp) / f"series_{k}.h5").run()
        elapsed = time.perf_counter() - t0
    if result.status != "completed":
        raise SystemExit(f"series {result.status}: {result.message}")
    columns = result.data.columns
    starts = [float(np.min(columns["bench_time_s"][(columns["step"] == j)
                                                   & (columns["phase"] == MEASURE)])) - t0_bench
              for j in range(len(TEMPERATURES))]
    return elapsed, starts


def _alone(tmp: str, k: int, starts: list[float]) -> tuple[float, float]:
    """(S-curves, stage waits) in s of wall time: each S-curve starts at the bench time of
    the series' inner run."""
    alone = waits = 0.0
    with bench() as b:
        t0_bench = b.now()
        for t, start in zip(TEMPERATURES, starts):
            t0 = time.perf_counter()
            b.cryostat().set_setpoint_K(t)
            b.wait(max(0.0, t0_bench + start - b.now()))
            b.cryostat().sample_temperature_K()  # the stage integrated up to now
            waits += time.perf_counter() - t0
            t0 = time.perf_counter()
            Runner(SCurve(**INNER), b, Path(tmp) / f"alone_{k}_{t:.0f}.h5").run()
            alone += time.perf_counter() - t0
    return alone, waits


if __name__ == "__main__":
    main()
