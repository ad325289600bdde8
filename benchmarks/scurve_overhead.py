"""Framework overhead per S-curve point on the simulated bench.

Prints (never asserts) the wall time per point of an avlab S-curve — runner, worker thread,
role wrappers, drivers, events, HDF5 append + flush per point — next to two bare loops
measured in the same run: one that drives the *same* simulated instruments directly (no
avlab, no drivers, no storage), and one through the same driver classes the bench uses (so the
difference is the framework alone). Settle time is zero, so what is left is
software. Target: avlab adds at most 0.5 ms per point.

    python benchmarks/scurve_overhead.py [--points 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)

from avlab.bench import Bench  # noqa: E402
from avlab.config import load_config  # noqa: E402
from avlab.runner import Runner  # noqa: E402
from experiments.scurve import SCurve  # noqa: E402


def seeded_config(seed: int):
    config = load_config()
    return dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=seed))


def avlab_run(points: int, workdir: Path, seed: int) -> tuple[float, int, int]:
    """(seconds per point, points, counter gates) of a plain up-sweep through avlab."""
    # Bright region only, one gate per point: every point costs the same instrument work.
    procedure = SCurve(power_min_W=1.0, power_max_W=2.0, points=points, refine=False,
                       sweep_down=False, settle_s=0.0, target_counts=10, min_gate_s=1e-3,
                       dark_gate_s=1e-3, meter_averages=1)
    stamps = PointClock()
    with Bench(seeded_config(seed)) as bench:
        counter = bench.twins["detector"]  # the simulated detector behind the real driver
        # Stamped in the worker right after each point is stored: listeners run on their own
        # threads, so their clocks would measure the event delivery, not the measurement.
        runner = Runner(procedure, bench, workdir / f"avlab_{seed}.h5", after_each=stamps)
        runner.start()
        result = runner.join()
        while result is None:
            result = runner.join(0.01)
        gates = counter.gates_counted - 1  # minus the dark reference
    # From the first recorded point to the last: the one-off dark reference, emission
    # start-up and the analysis after the run are not per-point costs.
    n = len(stamps.times)
    return (stamps.times[-1] - stamps.times[0]) / (n - 1), n, gates


class PointClock:
    """Called in the worker after every recorded point: timestamps it."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self) -> None:
        self.times.append(time.perf_counter())


def bare_loop(points: int, gates_per_point: float, seed: int) -> float:
    """Seconds per point calling the same simulated instruments with no framework at all."""
    from sim_devices.instruments.ipg_ylr import SimIPGYLR
    from sim_devices.instruments.photon_counter import SimPhotonCounter
    from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
    from sim_devices.world import SimWorld

    world = SimWorld(seed=seed)
    laser = SimIPGYLR(world.clock)
    world.attach_source("pump_1064", laser)
    meter = SimThorlabsPM100(world)
    counter = SimPhotonCounter(world, dark_count_rate_cps=25.0, dead_time_s=22e-9)
    meter.handle("SENS:CORR:WAV 1064")
    meter.handle("SENS:AVER:COUN 1")
    laser.handle("EMON")
    world.clock.sleep(3.0)
    gate_every = 1.0 / gates_per_point
    setpoints = [1.0 + i / points for i in range(points)]
    t0 = time.perf_counter()
    owed = 0.0
    for setpoint in setpoints:
        laser.handle(f"SPS {setpoint:.4f}")
        meter.handle("MEAS:POW?")
        owed += 1.0
        while owed >= gate_every:
            counter.count(1e-3)
            owed -= gate_every
    return (time.perf_counter() - t0) / points


def bare_drivers(points: int, gates_per_point: float, seed: int) -> float:
    """Seconds per point through the *same driver classes* the bench uses (YLR and PM100
    drivers over the in-process adapter, the NI-DAQ counter driver over the simulated SDK),
    with no avlab around them: what is left of avlab's cost is the framework itself
    (runner, role wrappers, limits, events, HDF5)."""
    from drivers.lasers.ipg_ylr import IPGYLR
    from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100
    from sim_devices.instruments.ipg_ylr import SimIPGYLR
    from sim_devices.instruments.photon_counter import SimPhotonCounter
    from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
    from sim_devices.sdk import open_simulated
    from sim_devices.transport import InProcessAdapter
    from sim_devices.world import SimWorld

    world = SimWorld(seed=seed)
    laser_twin = SimIPGYLR(world.clock)
    world.attach_source("pump_1064", laser_twin)
    laser = IPGYLR(InProcessAdapter(laser_twin))
    meter = ThorlabsPM100(InProcessAdapter(SimThorlabsPM100(world)))
    counter = open_simulated("nidaq_counter", SimPhotonCounter(world, dark_count_rate_cps=25.0,
                                                               dead_time_s=22e-9), "Dev1/ctr0")
    meter.wavelength_nm = 1064
    meter.averaging_count = 1
    laser.enable_emission()
    world.clock.sleep(3.0)
    gate_every = 1.0 / gates_per_point
    setpoints = [1.0 + i / points for i in range(points)]
    t0 = time.perf_counter()
    owed = 0.0
    for setpoint in setpoints:
        laser.power_setpoint_W = setpoint
        meter.power_W  # noqa: B018 - the reading is the work
        owed += 1.0
        while owed >= gate_every:
            counter.count(1e-3)
            owed -= gate_every
    return (time.perf_counter() - t0) / points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        Bench(seeded_config(0)).close()  # build the physics table once, outside the timing
        avlab_times, bare_times, driver_times = [], [], []
        for seed in range(args.repeats):
            per_point, n, gates = avlab_run(args.points, workdir, seed)
            avlab_times.append(per_point)
            bare_times.append(bare_loop(n, gates / n, seed))
            driver_times.append(bare_drivers(n, gates / n, seed))
    a, b = statistics.median(avlab_times), statistics.median(bare_times)
    d = statistics.median(driver_times)
    print(f"points per run            : {n} ({gates / n:.2f} counter gates per point)")
    print(f"avlab, per point          : {a * 1e3:7.3f} ms  (runner + drivers + HDF5 flush)")
    print(f"bare loop, per point      : {b * 1e3:7.3f} ms  (same simulated instruments)")
    print(f"bare drivers, per point   : {d * 1e3:7.3f} ms  (the bench's driver classes, "
          "simulated transports, no avlab)")
    print(f"overhead vs bare twins    : {(a - b) * 1e3:7.3f} ms per point "
          f"(target <= 0.5 ms)  ratio avlab/bare = {a / b:.1f}")
    print(f"framework alone           : {(a - d) * 1e3:7.3f} ms per point (avlab minus bare "
          "drivers: runner, roles, events, HDF5)")


if __name__ == "__main__":
    main()
