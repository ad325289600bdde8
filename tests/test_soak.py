"""Soak: 24 hours of bench time of S-curves on one simulated bench, memory and handles flat.

Back-to-back runs on one bench (as a night of measurements would be), each writing a real run
file in tmp_path and analysed after it, on the virtual clock: long settle times and gates
cost bench time, not wall time, so the day passes in well under a minute. The resident set
size (/proc/self/statm) and the open file descriptors (/proc/self/fd) of the first and last
quarter of the runs are compared with a generous tolerance: a leak of a file handle per run,
or of the point table, an event queue or a listener thread per run, shows as a steady climb.

Marked `soak` so it can be selected (`-m soak`) or left out (`-m "not soak"`); it runs with
the default suite.
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
from pathlib import Path

import pytest

from avlab.bench import Bench
from avlab.config import builtin_config_text, parse_config
from avlab.runner import Runner
from experiments.scurve import SCurve

pytestmark = [pytest.mark.soak,
              pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")]

DAY_S = 24 * 3600.0
#: Growth allowed between the first and last quarter: far above noise, far below a real leak
#: over ~60 runs (a leaked 1000-point table per run alone would be several MB).
RSS_TOLERANCE_BYTES = 16 * 2**20


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _procedure() -> SCurve:
    # ~25 min of bench time per run for a few hundred ms of wall time.
    return SCurve(points=12, refine=False, settle_s=60.0, target_counts=300, min_gate_s=0.01,
                  max_gate_s=2.0, dark_gate_s=60.0, meter_averages=10)


def test_a_day_of_scurves_keeps_memory_and_file_handles_flat(tmp_path):
    config = parse_config(builtin_config_text() + "seed = 9\n", "soak.toml")
    samples: list[tuple[int, int, int]] = []  # (rss, fds, threads) after each run
    statuses = []
    with Bench(config) as bench:
        start = bench.now()
        k = 0
        while bench.now() - start < DAY_S:
            result = Runner(_procedure(), bench, tmp_path / f"run_{k:03d}.h5").run()
            statuses.append(result.status)
            result.data = None  # what a caller keeping only the summary would hold
            gc.collect()
            samples.append((_rss_bytes(), _open_fds(), threading.active_count()))
            k += 1
    assert set(statuses) == {"completed"}
    assert len(samples) >= 24, "runs too long to show a trend"
    assert len(list(tmp_path.glob("run_*.h5"))) == len(samples)
    quarter = len(samples) // 4
    first, last = samples[:quarter], samples[-quarter:]
    rss_growth = (statistics.median(s[0] for s in last)
                  - statistics.median(s[0] for s in first))
    assert rss_growth < RSS_TOLERANCE_BYTES, f"RSS grew {rss_growth / 2**20:.1f} MiB"
    assert max(s[1] for s in last) <= max(s[1] for s in first), "file descriptors leak"
    assert max(s[2] for s in last) <= max(s[2] for s in first), "threads leak"
