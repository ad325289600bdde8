"""What running the lab's drivers over the simulated SDKs costs, against the bare twins.

Prints (never asserts) wall times measured in one run, alternating the two paths per repeat:

* a 256 × 256 galvo frame (100 µs dwell by default, 8 flyback pixels): `NIDAQGalvoScanner` over
  the simulated nidaqmx (`sim_devices.sdk`) versus `SimGalvoScanner.scan_lines` itself;
* a 1 s counter gate: `NIDAQPhotonCounter` over the simulated nidaqmx versus
  `SimPhotonCounter.count`.

Both paths compute the same physics on the same kind of world (virtual clock, default preset,
the pump near threshold), so the difference is the SDK facade: tasks, channel bookkeeping,
latching, per-line reads. The galvo twin runs steady state per pixel (finite_dwell=False) unless
--finite-dwell is given, so the figure isolates the facade rather than the rate equations.

    python benchmarks/sim_sdk_overhead.py [--repeats 3] [--pixels 256] [--finite-dwell]
"""

from __future__ import annotations

import argparse
import statistics
import time

from instrument_data.galvo import GalvoCalibration
from instrument_data.scanning import RasterFrame
from sim_devices import sdk
from sim_devices.clock import VirtualClock
from sim_devices.instruments.galvo_scanner import SimGalvoScanner
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.photon_counter import SimPhotonCounter
from sim_devices.world import SimWorld

CAL = GalvoCalibration(volts_per_degree=0.8, um_per_degree=17.45, max_slew_V_per_ms=15.7)


def lit_world(seed: int) -> SimWorld:
    """The default world with the 1064-nm twin at the intensity of steepest response."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=seed)
    laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser)
    laser.handle("SPS 1.0")
    laser.handle("EMON")
    clock.sleep(laser.startup_s + 0.1)
    _, threshold_kW_cm2 = world.sample.table.s_max()
    laser.handle(f"SPS {threshold_kW_cm2 / world.peak_intensity_kW_cm2():.9f}")
    return world


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pixels", type=int, default=256)
    parser.add_argument("--dwell-s", type=float, default=1e-4)
    parser.add_argument("--finite-dwell", action="store_true")
    args = parser.parse_args()
    n = args.pixels
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=2.0, height_um=2.0,
                        pixels_x=n, pixels_y=n, dwell_s=args.dwell_s, flyback_pixels=8)

    frame_driver, frame_twin, gate_driver, gate_twin = [], [], [], []
    for repeat in range(args.repeats):
        twin = SimGalvoScanner(lit_world(repeat), calibration=CAL,
                               finite_dwell=args.finite_dwell)
        driver = sdk.nidaq_galvo(twin, calibration=CAL)
        frame_driver.append(timed(lambda: list(driver.scan_lines(frame))))
        twin = SimGalvoScanner(lit_world(repeat), calibration=CAL,
                               finite_dwell=args.finite_dwell)
        frame_twin.append(timed(lambda: list(twin.scan_lines(frame))))

        counter_twin = SimPhotonCounter(lit_world(repeat))
        counter = sdk.nidaq_counter(counter_twin)
        gate_driver.append(statistics.median(timed(lambda: counter.count(1.0))
                                             for _ in range(200)))
        gate_twin.append(statistics.median(timed(lambda: counter_twin.count(1.0))
                                           for _ in range(200)))

    fd, ft = min(frame_driver), min(frame_twin)
    gd, gt = min(gate_driver), min(gate_twin)
    samples = frame.n_samples
    print(f"{n}x{n} galvo frame ({samples} samples, finite_dwell={args.finite_dwell}), "
          f"best of {args.repeats}:")
    print(f"  NIDAQGalvoScanner + simulated nidaqmx  {fd:8.3f} s")
    print(f"  SimGalvoScanner.scan_lines (bare twin) {ft:8.3f} s")
    print(f"  ratio {fd / ft:.3f}, facade overhead {(fd - ft) * 1e3:+.1f} ms "
          f"({(fd - ft) / samples * 1e9:+.0f} ns per sample)")
    print("1 s counter gate, median of 200, best of repeats:")
    print(f"  NIDAQPhotonCounter + simulated nidaqmx {gd * 1e6:8.1f} µs")
    print(f"  SimPhotonCounter.count (bare twin)     {gt * 1e6:8.1f} µs")
    print(f"  ratio {gd / gt:.2f}, facade overhead {(gd - gt) * 1e6:+.1f} µs per gate")


if __name__ == "__main__":
    main()
