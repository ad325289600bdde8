"""avlab recover: a writer killed mid-frame leaves every finished line; a live writer is refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from avlab.recover import (
    RecoverError,
    process_start_ticks,
    recover_run,
    writer_still_running,
)
from avlab.storage import DamagedRunFileError, open_run, read_run, summarize

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

N = 256
LINES_BEFORE_KILL = 100

# A writer that streams a 256 x 256 image line by line, then stops on a line it never
# finishes: it blocks on stdin (no sleep), so the kill lands mid-frame every time.
WRITER = """
    import sys
    import numpy as np
    from avlab.data import ArrayItem, Axis, Column, DataDescription
    from avlab.storage import RunWriter
    n = {n}
    um = tuple(0.1 * np.arange(n))
    desc = DataDescription(
        columns=(Column("line", ""),),
        arrays=(ArrayItem("counts", "counts", shape=(n, n), axes=("y_um", "x_um"),
                          interpretation="image"),),
        axes=(Axis("y_um", "um", values=um), Axis("x_um", "um", values=um)),
        signal="line", plot_axes=("line",), default="counts")
    w = RunWriter({path!r}, procedure="confocal", description=desc, parameters={{}},
                  config_text="", instruments={{}}, software_version="0.test")
    for j in range({lines}):
        w.write("counts", (j,), np.arange(n, dtype=float) + 1000.0 * j)
        w.append({{"line": j}})
    sys.stdin.read()  # parked mid-frame until killed
"""


def start_writer(path: Path, lines: int) -> subprocess.Popen[str]:
    code = textwrap.dedent(WRITER.format(n=N, path=str(path), lines=lines))
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lines(path: Path, proc: subprocess.Popen[str], lines: int,
                   timeout_s: float = 60.0) -> None:
    """Poll the file with SWMR reads until `lines` image lines are on disk."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"writer ended early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with open_run(path) as run:
                if "counts" in run.arrays and run.arrays["counts"].rows_written()[0] >= lines:
                    return
        except (FileNotFoundError, DamagedRunFileError, OSError, KeyError):
            pass  # not created yet, or caught before the layout is complete
        time.sleep(0.02)  # polling interval only; the condition is the file's content
    proc.kill()
    pytest.fail(f"writer did not write {lines} lines within {timeout_s} s")


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def test_sigkill_mid_frame_keeps_every_finished_line(tmp_path: Path) -> None:
    path = tmp_path / "scan.h5"
    proc = start_writer(path, LINES_BEFORE_KILL)
    try:
        wait_for_lines(path, proc, LINES_BEFORE_KILL)
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    text = summarize(path)  # before recovery: through SWMR
    assert "running (did not complete" in text
    assert f"image {N} x {N} float64: {LINES_BEFORE_KILL} of {N} lines written" in text
    with pytest.raises(OSError):
        h5py.File(path, "r").close()  # still flagged as open for writing

    account = recover_run(path)
    assert f"{LINES_BEFORE_KILL} points" in account
    assert f"{LINES_BEFORE_KILL} of {N} rows of counts" in account

    with h5py.File(path, "r") as f:  # plain h5py, no SWMR
        image = f["entry/counts/counts"][()]
        assert f["entry/status"][()] == b"failed"
    expected = np.arange(N, dtype=float)[None, :] + 1000.0 * np.arange(LINES_BEFORE_KILL)[:, None]
    np.testing.assert_array_equal(image[:LINES_BEFORE_KILL], expected)
    assert np.isnan(image[LINES_BEFORE_KILL:]).all()

    text = summarize(path)
    assert "status:      failed - writer stopped without finishing" in text
    assert f"{LINES_BEFORE_KILL} of {N} lines written (incomplete)" in text
    run = read_run(path)
    assert run.n_points == LINES_BEFORE_KILL and run.default == "counts"


def test_recover_refuses_while_the_writer_is_alive(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    proc = start_writer(path, 3)
    try:
        wait_for_lines(path, proc, 3)
        before = path.read_bytes()[:64]
        with pytest.raises(RecoverError, match=f"still being written by process {proc.pid}"):
            recover_run(path)
        assert path.read_bytes()[:64] == before  # write flags untouched
        assert read_run(path).status == "running"
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "recovered, 3 points" in recover_run(path)
    assert read_run(path).status == "failed"


def test_recover_refuses_a_file_whose_writer_is_this_process(tmp_path: Path) -> None:
    from avlab.data import Column
    from avlab.storage import RunWriter

    w = RunWriter(tmp_path / "mine.h5", procedure="p", columns=[Column("x", "")], signal="x",
                  axes="x", parameters={}, config_text="", instruments={},
                  software_version="0.test")
    try:
        with pytest.raises(RecoverError, match=f"process {os.getpid()}"):
            recover_run(tmp_path / "mine.h5")
    finally:
        w.finish("completed")
    assert "status 'completed' kept" in recover_run(tmp_path / "mine.h5")


def test_a_file_from_another_host_needs_force(tmp_path: Path) -> None:
    path = tmp_path / "remote.h5"
    proc = start_writer(path, 2)
    try:
        wait_for_lines(path, proc, 2)
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Pretend it was written elsewhere: the flags must be cleared to edit the attribute.
    from avlab.recover import clear_write_flags

    clear_write_flags(path)
    with h5py.File(path, "r+") as f:
        f.attrs["writer_host"] = "some-other-lab-pc"
    with pytest.raises(RecoverError, match="some-other-lab-pc.*--force"):
        recover_run(path)
    assert "recovered, 2 points" in recover_run(path, force=True)


def test_writer_still_running_rules() -> None:
    me = os.getpid()
    host = socket.gethostname()
    assert writer_still_running(host, str(me), process_start_ticks(me)) is True
    assert writer_still_running("elsewhere", str(me), "") is None
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    assert writer_still_running(host, done.stdout.strip(), "") is False
    if process_start_ticks(me):  # Linux: a reused pid is told apart by its start time
        assert writer_still_running(host, str(me), "1") is False


def test_recover_marks_every_run_of_a_series_file_that_was_left_running(
        tmp_path: Path) -> None:
    """A series killed during a step leaves the series and that step's own entry 'running';
    both are repaired, and the steps that had finished keep their status."""
    from avlab.data import Column
    from avlab.storage import RunWriter, read_run

    path = tmp_path / "series.h5"
    common = dict(columns=[Column("x", "")], signal="x", axes="x", parameters={},
                  config_text="", instruments={}, software_version="0.test")
    outer = RunWriter(path, procedure="series", **common)
    outer.append({"x": 1.0})
    outer.suspend()
    for k, finished in ((0, True), (1, False)):
        inner = RunWriter(path, procedure="scurve", entry=f"step_{k:02d}", add_to_file=True,
                          **common)
        inner.append({"x": 2.0})
        if finished:
            inner.finish("completed")
    inner._file.close()  # killed mid-step: neither run finished
    outer._file.close()
    report = recover_run(path, force=True)
    assert "recovered, 1 points" in report and "also step_01" in report
    assert read_run(path).status == "failed"
    assert read_run(path, entry="step_01").status == "failed"
    assert read_run(path, entry="step_00").status == "completed"
