"""Wall time of a 30-power rise-time run on the simulated bench against the bare ODE work.

The run: `Rise` on experiments/labs/timetagger_sim.toml, 20 coarse powers + 10 refined around
the t½ peak, through the Runner (storage, events, analysis). The baseline: for every point the
run stored (intensity, period, on-phase), the rate-equation integrations that histogram needs
done bare with `physics.dynamics.integrate` — modulation periods from dark until the state
repeats (the periodic steady state the histogram samples), on the rise histogram's phase grid,
plus one period on the decay grid. Overhead = run / baseline (target < 2).

    PYTHONPATH=. python benchmarks/rise_overhead.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from avlab.bench import Bench
from avlab.config import load_config
from avlab.runner import Runner
from experiments.rise import Rise
from sim_devices.physics.dynamics import integrate
from sim_devices.physics.model import compile_model

LAB = Path(__file__).resolve().parent.parent / "experiments" / "labs" / "timetagger_sim.toml"


def bare_periods(model, intensity: float, period: float, on_s: float, phases: np.ndarray) -> int:
    """Integrate periods from dark until the state repeats; the number of periods done."""
    flux = intensity * model.flux_per_kW_cm2
    z = np.zeros(model.n_reduced)
    on_t = phases[phases <= on_s]
    off_t = np.concatenate(([0.0], phases[phases > on_s] - on_s))
    for n in range(1, 65):
        states, _ = integrate(model, z, on_t, flux)
        off_states, _ = integrate(model, states[-1], off_t, 0.0)
        z_next = off_states[-1]
        if np.all(np.abs(z_next - z) <= 1e-15 + 1e-6 * np.abs(z_next)):
            return n
        z = z_next
    return 64


def main() -> None:
    proc = Rise(points=20, refine_points=10, refine_tolerance=0.002)
    with tempfile.TemporaryDirectory() as tmp, Bench(load_config(LAB)) as bench:
        t0 = time.perf_counter()
        result = Runner(proc, bench, Path(tmp) / "rise.h5").run()
        run_s = time.perf_counter() - t0
        data = result.data
        c = data.columns
        model = compile_model(bench.world.sample.preset, bench.world.table_temperature_K())
        t0 = time.perf_counter()
        periods = 0
        for k in range(data.n_points):
            period, on_s = float(c["period_s"][k]), float(c["on_s"][k])
            grid = np.arange(proc.bins + 1) * period / proc.bins
            periods += bare_periods(model, float(c["intensity_kW_cm2"][k]), period, on_s, grid)
            if c["decay_cycles"][k]:
                decay = on_s + np.arange(proc.decay_bins + 1) * proc.decay_binwidth_s
                periods += bare_periods(model, float(c["intensity_kW_cm2"][k]), period, on_s,
                                        np.unique(np.concatenate(([0.0, on_s, period], decay))))
        bare_s = time.perf_counter() - t0
    print(f"rise run: {data.n_points} powers, {result.status}, wall {run_s:.2f} s "
          f"(analysis included), bench time {result.bench_time_s:.0f} s")
    print(f"bare ODE integrations: {periods} periods, {bare_s:.2f} s")
    print(f"overhead: {run_s / bare_s:.2f}x (target < 2x)")
    if result.analysis is not None:
        print("\n".join(result.analysis.summary[:3]))


if __name__ == "__main__":
    main()
