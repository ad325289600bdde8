"""Speed of the simulated galvo scanner (the confocal twin) against raw HDF5 line writing.

Prints (never asserts), for a 512 × 512 frame over 100 particles scattered at random in a
20-µm field of the default simulated confocal bench (experiments/labs/confocal_sim.toml),
pumped at the intensity of maximal S:

* the twin alone (`SimGalvoScanner.scan_lines`), steady-state pixels and finite dwell;
* the bench's scanner role (limits, overload check) with its twin as the bench builds it
  (finite dwell);
* the twin's lines written to an HDF5 dataset in SWMR mode with a flush per line (the way a
  run file streams an image), and raw h5py writing the same 512 lines alone,

all measured in the same run (best of `--repeats`). Targets (issue 11): steady state at least
2 Mpx/s end to end, so the twin itself well above that (aim 5 Mpx/s); finite dwell a 512 × 512
frame in under 2 s.

    python benchmarks/confocal_twin_speed.py [--dwell-us 10] [--repeats 3] [--particles 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import h5py
import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)

from avlab.bench import Bench  # noqa: E402
from avlab.config import load_config  # noqa: E402
from avlab.simulation import galvo_calibration  # noqa: E402
from drivers.scanning import RasterFrame  # noqa: E402
from sim_devices.instruments.galvo_scanner import SimGalvoScanner  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "labs" / "confocal_sim.toml"
PIXELS = 512
FIELD_UM = 20.0


def frame(dwell_s: float) -> RasterFrame:
    # 16 flyback samples keep the 20-µm return within the galvo's slew limit at 10 µs
    return RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=FIELD_UM, height_um=FIELD_UM,
                       pixels_x=PIXELS, pixels_y=PIXELS, dwell_s=dwell_s, flyback_pixels=16)


def best_of(repeats: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


class LineFile:
    """An HDF5 file with a (lines, pixels) counts dataset in SWMR mode, one flush per line."""

    def __init__(self, path: Path) -> None:
        self.file = h5py.File(path, "w", libver="latest")
        self.data = self.file.create_dataset("counts", shape=(0, PIXELS), maxshape=(None, PIXELS),
                                             chunks=(1, PIXELS), dtype="i8")
        self.file.swmr_mode = True

    def write(self, index: int, counts: np.ndarray) -> None:
        self.data.resize(index + 1, axis=0)
        self.data[index] = counts
        self.data.flush()

    def close(self) -> None:
        self.file.close()


def write_lines(path: Path, lines: Iterable[tuple[int, np.ndarray]]) -> None:
    out = LineFile(path)
    try:
        for index, counts in lines:
            out.write(index, counts)
    finally:
        out.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dwell-us", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--particles", type=int, default=100)
    args = parser.parse_args()
    dwell_s = args.dwell_us * 1e-6
    scan = frame(dwell_s)
    pixels = PIXELS * PIXELS

    config = load_config(CONFIG)
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=7))
    with Bench(config) as bench, tempfile.TemporaryDirectory() as tmp:
        world = bench.world
        rng = np.random.default_rng(1)
        world.sample.particle_positions_um = rng.uniform(-FIELD_UM / 2, FIELD_UM / 2,
                                                         (args.particles, 2))
        laser = bench.laser()
        laser.set_power_W(1.0)
        laser.emission_on()
        world.clock.sleep(3.5)  # the fibre laser's start-up
        s_max, intensity = world.emission_table().s_max()
        laser.set_power_W(intensity / world.peak_intensity_kW_cm2())
        print(f"frame {PIXELS} x {PIXELS}, {args.particles} particles in {FIELD_UM:g} µm, dwell "
              f"{args.dwell_us:g} µs, 16 flyback samples per line; pump "
              f"{world.peak_intensity_kW_cm2():.2f} kW/cm² (S_max {s_max:.1f})")

        calibration = galvo_calibration(config.instruments["scanner"])
        twins = {finite: SimGalvoScanner(world, calibration=calibration, finite_dwell=finite)
                 for finite in (False, True)}
        role = bench.scanner()

        raw_counts = np.random.default_rng(2).poisson(5.0, (PIXELS, PIXELS))
        t_h5 = best_of(args.repeats, lambda: write_lines(Path(tmp) / "raw.h5",
                                                         enumerate(raw_counts)))
        print(f"{'raw h5py, 512 lines, SWMR flush per line':48s} {t_h5 * 1e3:8.1f} ms "
              f"{pixels / t_h5 / 1e6:7.2f} Mpx/s")

        for finite, label in ((False, "steady-state pixels"), (True, "finite dwell")):
            twin = twins[finite]
            t_twin = best_of(args.repeats, lambda: list(twin.scan_lines(scan)))
            lines = list(twin.scan_lines(scan))
            total = sum(int(line.counts.sum()) for line in lines)
            t_file = best_of(args.repeats, lambda: write_lines(
                Path(tmp) / "twin.h5",
                ((line.index, line.counts) for line in twin.scan_lines(scan))))
            print(f"{'twin alone, ' + label:48s} {t_twin * 1e3:8.1f} ms "
                  f"{pixels / t_twin / 1e6:7.2f} Mpx/s   ({total} counts in the frame)")
            print(f"{'twin + h5py line by line, ' + label:48s} {t_file * 1e3:8.1f} ms "
                  f"{pixels / t_file / 1e6:7.2f} Mpx/s   (raw h5py is "
                  f"{t_h5 / t_file * 100:.0f} % of it)")
        t_role = best_of(args.repeats, lambda: list(role.scan_lines(scan)))
        print(f"{'scanner role of the bench (its twin as configured)':48s} "
              f"{t_role * 1e3:8.1f} ms {pixels / t_role / 1e6:7.2f} Mpx/s")


if __name__ == "__main__":
    main()
