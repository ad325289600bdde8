"""End-to-end speed of `avlab run confocal` on the simulated bench against raw h5py.

Prints (never asserts), in one run, for a 512 × 512 frame over 100 particles scattered in a
20-µm field of the simulated confocal bench (experiments/labs/confocal_sim.toml), pumped at the
intensity of maximal S, 10 µs dwell:

* raw h5py writing the same 512 lines (SWMR, one chunk per line), with a flush per line and
  with a flush per block of lines one counter read brings (the run's policy: the scanner reads
  lines shorter than 20 ms a few at a time, and the procedure stores each read at once);
* the bench's scanner role alone (real NI-DAQ driver over the simulated card, the twin behind);
* the Confocal procedure through the Runner (twin + procedure + streaming every line to the run
  file and the event stream), with its analysis timed separately;

with steady-state pixels (`finite_dwell = false`) and with finite dwell. Targets (issue 11):
steady state at least 2 Mpx/s end to end; finite dwell a 512 × 512 frame in under 2 s.

    python benchmarks/confocal_speed.py [--repeats 3] [--particles 100] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)

from avlab.bench import Bench  # noqa: E402
from avlab.config import parse_config  # noqa: E402
from avlab.runner import Runner  # noqa: E402
from drivers.scanning.nidaq_galvo import lines_per_read  # noqa: E402
from experiments.confocal.procedure import Confocal  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "labs" / "confocal_sim.toml"
PIXELS = 512
FIELD_UM = 20.0
DWELL_S = 10e-6


def config(finite_dwell: bool):
    text = CONFIG.read_text()
    if not finite_dwell:  # the scanner's table is the first with a dead time
        text = text.replace("dead_time_ns = 22.0\n", "dead_time_ns = 22.0\nfinite_dwell = false\n", 1)
    return parse_config(text + "\nseed = 7\n", str(CONFIG))


def raw_h5py(path: Path, lines: np.ndarray, per_flush: int = 1) -> float:
    """Wall time (s) to write `lines` with plain h5py under SWMR, one chunk per line, a flush
    after every `per_flush` lines."""
    start = time.perf_counter()
    with h5py.File(path, "w", libver="latest") as f:
        ds = f.create_dataset("counts", shape=lines.shape, chunks=(1, lines.shape[1]),
                              dtype="i8", fillvalue=0)
        f.swmr_mode = True
        for j in range(0, len(lines), per_flush):
            ds[j:j + per_flush] = lines[j:j + per_flush]
            ds.flush()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--particles", type=int, default=100)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one end-to-end finite-dwell run, top 25 by cumulative")
    args = parser.parse_args()
    pixels = PIXELS * PIXELS
    with tempfile.TemporaryDirectory() as tmp:
        lines = np.random.default_rng(2).poisson(5.0, (PIXELS, PIXELS))
        per_read = lines_per_read(PIXELS + 7, 1.0 / DWELL_S)  # 7: the flyback samples
        t_line = min(raw_h5py(Path(tmp) / f"raw{i}.h5", lines) for i in range(args.repeats))
        t_raw = min(raw_h5py(Path(tmp) / f"rawb{i}.h5", lines, per_read)
                    for i in range(args.repeats))
        print(f"frame {PIXELS} x {PIXELS}, {args.particles} particles in {FIELD_UM:g} µm, dwell "
              f"{DWELL_S * 1e6:g} µs; the scanner reads {per_read} lines per counter read "
              f"({per_read * (PIXELS + 7) * DWELL_S * 1e3:.1f} ms of scan)")
        print(f"{'raw h5py, 512 lines, SWMR flush per line':46s} {t_line * 1e3:8.1f} ms "
              f"{pixels / t_line / 1e6:7.2f} Mpx/s")
        print(f"{f'raw h5py, 512 lines, flush per {per_read} lines':46s} {t_raw * 1e3:8.1f} ms "
              f"{pixels / t_raw / 1e6:7.2f} Mpx/s   (the run file's policy: a flush per read)")
        for finite, label in ((False, "steady-state pixels"), (True, "finite dwell")):
            with Bench(config(finite)) as bench:
                world = bench.world
                rng = np.random.default_rng(1)
                world.sample.particle_positions_um = rng.uniform(-FIELD_UM / 2, FIELD_UM / 2,
                                                                 (args.particles, 2))
                s_max, intensity = world.emission_table().s_max()
                proc = Confocal(field_um=FIELD_UM, pixels_x=PIXELS, pixels_y=PIXELS,
                                dwell_s=DWELL_S, intensity_kW_cm2=intensity, settle_s=0.0)
                field = proc.field()
                scanner = bench.scanner()
                frame = field.frame(scanner)
                laser = bench.laser()
                laser.set_power_W(0.3)
                laser.emission_on()
                t_role = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    for _line in scanner.scan_lines(frame):
                        pass
                    t_role.append(time.perf_counter() - start)
                laser.emission_off()
                runs, analyses = [], []
                for i in range(args.repeats):
                    path = Path(tmp) / f"{label[:6]}{i}.h5"
                    profiler = cProfile.Profile() if args.profile and finite and i == 0 else None
                    if profiler:
                        profiler.enable()
                    result = Runner(proc, bench, path).run()
                    if profiler:
                        profiler.disable()
                    assert result.status == "completed", result.message
                    runs.append(result.duration_s)
                    start = time.perf_counter()
                    proc.analyse(result.data)
                    analyses.append(time.perf_counter() - start)
                    if profiler:
                        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
                t_role_best, t_run = min(t_role), min(runs)
                print(f"{'scanner role alone, ' + label:46s} {t_role_best * 1e3:8.1f} ms "
                      f"{pixels / t_role_best / 1e6:7.2f} Mpx/s")
                print(f"{'end to end (Runner + confocal), ' + label:46s} {t_run * 1e3:8.1f} ms "
                      f"{pixels / t_run / 1e6:7.2f} Mpx/s   (role + raw h5py "
                      f"{(t_role_best + t_raw) * 1e3:.1f} ms; flyback {frame.flyback_pixels} "
                      f"samples per line; analysis of the frame {min(analyses):.2f} s)")


if __name__ == "__main__":
    main()
