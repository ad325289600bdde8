"""Rate of streaming shaped data through RunWriter.write against raw h5py, in one run.

Two workloads, each written both ways with the same file settings (libver="latest", SWMR,
same chunking: one line or one histogram per chunk, same fill value) and the same flush
policy (a flush after every line / histogram):

* a 512 x 512 float64 image written line by line;
* a stack of 1000 histograms of 256 int64 bins, one per write (the stack grows by one each).

Prints the rates (lines or histograms per second) and the ratio avlab/raw (target >= 0.7),
plus raw h5py with the same direct chunk writes RunWriter uses (the floor). Never asserts.

    python benchmarks/storage_image.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from avlab.data import ArrayItem, DataDescription
from avlab.storage import RunWriter

N_IMAGE = 512
N_BINS = 256
N_HIST = 1000


def avlab_writer(path: Path, item: ArrayItem) -> RunWriter:
    return RunWriter(path, procedure="bench", description=DataDescription(arrays=(item,)),
                     parameters={}, config_text="", instruments={}, software_version="bench")


def avlab_image(path: Path, lines: np.ndarray) -> float:
    w = avlab_writer(path, ArrayItem("counts", "counts", shape=(N_IMAGE, N_IMAGE),
                                     interpretation="image"))
    t0 = time.perf_counter()
    for j in range(N_IMAGE):
        w.write("counts", (j,), lines[j])
    dt = time.perf_counter() - t0
    w.finish("completed")
    return N_IMAGE / dt


def raw_image(path: Path, lines: np.ndarray) -> float:
    with h5py.File(path, "x", libver="latest") as f:
        ds = f.create_dataset("counts", shape=(N_IMAGE, N_IMAGE), dtype="f8",
                              chunks=(1, N_IMAGE), fillvalue=np.nan)
        f.swmr_mode = True
        f.flush()
        t0 = time.perf_counter()
        for j in range(N_IMAGE):
            ds[j] = lines[j]
            f.flush()
        dt = time.perf_counter() - t0
    return N_IMAGE / dt


def raw_direct_image(path: Path, lines: np.ndarray) -> float:
    """The floor: what RunWriter.write does underneath, without its checks."""
    with h5py.File(path, "x", libver="latest") as f:
        ds = f.create_dataset("counts", shape=(N_IMAGE, N_IMAGE), dtype="f8",
                              chunks=(1, N_IMAGE), fillvalue=np.nan)
        f.swmr_mode = True
        f.flush()
        t0 = time.perf_counter()
        for j in range(N_IMAGE):
            ds.id.write_direct_chunk((j, 0), lines[j])
            f.flush()
        dt = time.perf_counter() - t0
    return N_IMAGE / dt


def avlab_hist(path: Path, hists: np.ndarray) -> float:
    w = avlab_writer(path, ArrayItem("hist", "counts", shape=(N_BINS,), dtype="i8",
                                     stacked=True))
    t0 = time.perf_counter()
    for k in range(N_HIST):
        w.write("hist", (k,), hists[k])
    dt = time.perf_counter() - t0
    w.finish("completed")
    return N_HIST / dt


def raw_hist(path: Path, hists: np.ndarray) -> float:
    with h5py.File(path, "x", libver="latest") as f:
        ds = f.create_dataset("hist", shape=(0, N_BINS), maxshape=(None, N_BINS), dtype="i8",
                              chunks=(1, N_BINS), fillvalue=0)
        f.swmr_mode = True
        f.flush()
        t0 = time.perf_counter()
        for k in range(N_HIST):
            ds.resize((k + 1, N_BINS))
            ds[k] = hists[k]
            f.flush()
        dt = time.perf_counter() - t0
    return N_HIST / dt


class _ImageLines:
    """A procedure that writes prepared lines as fast as it can (no instrument I/O), timing
    the writes from inside the worker: the Runner's whole path per line (file write + flush,
    then the ChunkWritten event to a listener on its own thread)."""

    def __new__(cls, lines: np.ndarray):
        from avlab.procedure import Procedure

        class ImageLines(Procedure):
            name = "bench_image"
            arrays = [ArrayItem("counts", "counts", shape=lines.shape, interpretation="image")]
            default_plot = "counts"
            elapsed_s = 0.0

            def run(self, ctx) -> None:
                t0 = time.perf_counter()
                for j in range(lines.shape[0]):
                    ctx.write("counts", (j,), lines[j])
                type(self).elapsed_s = time.perf_counter() - t0

        return ImageLines()


def runner_image(path: Path, lines: np.ndarray, bench) -> float:
    from avlab.runner import Runner

    procedure = _ImageLines(lines)
    received = []
    Runner(procedure, bench, path, listeners=[received.append]).run()
    return lines.shape[0] / type(procedure).elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    lines = rng.random((N_IMAGE, N_IMAGE))
    hists = rng.integers(0, 10_000, size=(N_HIST, N_BINS))
    rates: dict[str, list[float]] = {k: [] for k in ("avlab_image", "raw_image", "direct_image",
                                                     "avlab_hist", "raw_hist", "runner_image")}
    from avlab.bench import Bench
    from avlab.config import load_config

    with tempfile.TemporaryDirectory() as tmp, Bench(load_config(None)) as bench:
        work = Path(tmp)
        for r in range(args.repeats):  # interleaved, so drifts in machine load hit both
            rates["raw_image"].append(raw_image(work / f"raw_image_{r}.h5", lines))
            rates["avlab_image"].append(avlab_image(work / f"avlab_image_{r}.h5", lines))
            rates["runner_image"].append(runner_image(work / f"runner_{r}.h5", lines, bench))
            rates["direct_image"].append(raw_direct_image(work / f"direct_{r}.h5", lines))
            rates["raw_hist"].append(raw_hist(work / f"raw_hist_{r}.h5", hists))
            rates["avlab_hist"].append(avlab_hist(work / f"avlab_hist_{r}.h5", hists))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"512 x 512 f8 image, line by line, flush per line (median of {args.repeats}):")
    print(f"  raw h5py            : {med['raw_image']:9.0f} lines/s")
    print(f"  avlab RunWriter     : {med['avlab_image']:9.0f} lines/s")
    print(f"  ratio avlab/raw     : {med['avlab_image'] / med['raw_image']:9.2f}  (target >= 0.7)")
    print(f"  avlab Runner        : {med['runner_image']:9.0f} lines/s  (procedure ctx.write: "
          "file, flush, then the live event to a listener)")
    print(f"  ratio Runner/raw    : {med['runner_image'] / med['raw_image']:9.2f}  (target >= 0.7)")
    print(f"  (floor: raw h5py with write_direct_chunk {med['direct_image']:.0f} lines/s; "
          "raw slicing goes through the chunk cache, which the flush then writes out)")
    print(f"{N_HIST} histograms of {N_BINS} i8 bins, growing stack, flush per histogram:")
    print(f"  raw h5py            : {med['raw_hist']:9.0f} histograms/s")
    print(f"  avlab RunWriter     : {med['avlab_hist']:9.0f} histograms/s")
    print(f"  ratio avlab/raw     : {med['avlab_hist'] / med['raw_hist']:9.2f}  (target >= 0.7)")
    print("S-curve path, per point (benchmarks/scurve_overhead.py, 1000 points):")
    overhead = _load_sibling("scurve_overhead")
    with tempfile.TemporaryDirectory() as tmp:
        per_point, n, gates = overhead.avlab_run(1000, Path(tmp), 0)
    bare = overhead.bare_loop(n, gates / n, 0)
    drivers = overhead.bare_drivers(n, gates / n, 0)
    print(f"  avlab {per_point * 1e3:.3f} ms, bare twins {bare * 1e3:.3f} ms, bare drivers "
          f"{drivers * 1e3:.3f} ms -> framework {(per_point - drivers) * 1e3:.3f} ms per point")


def _load_sibling(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    main()
