"""Shaped data through the whole platform: an image streamed line by line by a procedure, as
events and into the run file; crash-safe; the file's default plot for an independent reader."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from avlab.cli import main
from avlab.events import ChunkWritten, RunStarted
from avlab.runner import Runner
from avlab.storage import read_run
from tests.support.image_procedure import LineImage

ROOT = Path(__file__).resolve().parents[1]


def test_an_image_streams_line_by_line_as_events_and_into_the_file(bench, tmp_path):
    runner = Runner(LineImage(pixels_x=64, pixels_y=32), bench, tmp_path / "img.h5")
    events = runner.events()
    result = runner.run()
    assert result.status == "completed"
    seen = list(events)
    started = seen[0]
    assert isinstance(started, RunStarted)
    item = started.description.array("counts")
    assert item.shape == (32, 64) and item.interpretation == "image"
    assert started.views[0].item == "counts"
    chunks = [e for e in seen if isinstance(e, ChunkWritten)]
    assert [c.index for c in chunks] == [(iy,) for iy in range(32)]
    run = read_run(tmp_path / "img.h5")
    image = run.arrays["counts"][:]
    assert image.shape == (32, 64)
    np.testing.assert_array_equal(image[7], chunks[7].values)
    assert run.array_axis_units["x_um"] == "um"
    assert run.default == "counts"


def test_the_image_is_the_default_plot_for_nexusformat(bench, tmp_path):
    nexus = pytest.importorskip("nexusformat.nexus")
    Runner(LineImage(pixels_x=16, pixels_y=8), bench, tmp_path / "img.h5").run()
    root = nexus.nxload(str(tmp_path / "img.h5"), "r")
    plottable = root.plottable_data
    assert plottable.nxsignal.nxname == "counts"
    assert plottable.nxsignal.shape == (8, 16)
    axes = plottable.nxaxes
    assert [a.nxname for a in axes] == ["y_um", "x_um"]
    assert all(a.attrs["units"] == "um" for a in axes)
    assert plottable.nxsignal.attrs["interpretation"] == "image"


CHILD = """
import sys
sys.path.insert(0, {root!r})
from avlab.bench import Bench
from avlab.config import load_config
from avlab.runner import Runner
from tests.support.image_procedure import LineImage
with Bench(load_config(None)) as bench:
    Runner(LineImage(pixels_x=256, pixels_y=256, line_wait_s=0.05), bench, {path!r}).run()
"""


def test_a_kill_mid_frame_keeps_every_finished_line(tmp_path):
    """SIGKILL while the 256 x 256 image is being written: after `avlab recover` plain h5py
    reads every line that was finished, and `avlab inspect` reports the partial image."""
    path = tmp_path / "killed.h5"
    config = tmp_path / "realtime.toml"
    from avlab.config import builtin_config_text

    config.write_text(builtin_config_text().replace("[simulation]", "[simulation]\nrealtime = true"))
    child = CHILD.replace("load_config(None)", f"load_config({str(config)!r})")
    proc = subprocess.Popen([sys.executable, "-c", child.format(root=str(ROOT), path=str(path))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = 0
        deadline = time.monotonic() + 120
        while lines < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
            if proc.poll() is not None:
                pytest.fail(f"the writer ended early: {proc.stderr.read().decode()[-2000:]}")
            try:
                with h5py.File(path, "r", swmr=True) as f:
                    counts = f["entry/counts/counts"][:]
                lines = int(np.sum(~np.isnan(counts).all(axis=1)))
            except (OSError, KeyError):
                continue
        assert lines >= 20
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert main(["recover", str(path)]) == 0
    with h5py.File(path, "r") as f:  # plain HDF5 open, no SWMR
        counts = f["entry/counts/counts"][:]
        assert f["entry/status"][()].decode().startswith("failed")
    finished = ~np.isnan(counts).all(axis=1)
    n = int(finished.sum())
    assert n >= lines and n < 256
    assert finished[:n].all() and not finished[n:].any()  # finished lines are a prefix
    # Each finished line is complete and holds its own index (+ the spot).
    assert np.all(np.isfinite(counts[:n]))
    np.testing.assert_allclose(counts[:n, 0], np.arange(n), atol=1e-6)
    summary = subprocess.run([sys.executable, "-m", "avlab.cli", "inspect", str(path)],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert summary.returncode == 0, summary.stderr
    assert "counts" in summary.stdout and f"{n}" in summary.stdout
