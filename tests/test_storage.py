"""Tests for avlab.storage: the streaming, crash-safe NeXus-flavoured run file."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from avlab.storage import (
    MESSAGE_LEN,
    Column,
    NotARunFileError,
    RunFileExistsError,
    RunWriter,
    read_run,
    summarize,
)

COLUMNS = [
    Column("intensity_kW_cm2", "kW/cm^2", description="excitation intensity at the sample"),
    Column("rate_cps", "counts/s", description="emission count rate"),
    Column("counts", "counts", dtype="i8"),
    Column("tag", "", dtype="S8"),
]
PARAMETERS: dict[str, tuple[object, str]] = {
    "dwell_s": (0.5, "s"),
    "n_steps": (25, ""),
    "wavelength_nm": (1064.0, "nm"),
    "sweep_direction": ("up", ""),
    "shutter_between_points": (True, ""),
    "filter_od": (None, ""),
    "setpoints_kW_cm2": ([1.0, 2.0, 4.0], "kW/cm^2"),
}
CONFIG = '[lab]\nname = "test bench"\n\n[instruments.laser]\ndriver = "sim"\n'
INSTRUMENTS = {
    "laser": {"driver": "drivers.sim.Laser", "identity": "SIM,LASER,0,1.0", "resource": "SIM::LASER"},
    "counter": {"driver": "drivers.sim.Counter", "identity": "SIM,SPCM,0,1.0", "resource": "SIM::SPCM"},
}


def make_writer(path: Path, **overrides: object) -> RunWriter:
    kwargs: dict[str, object] = dict(
        procedure="power_sweep",
        columns=COLUMNS,
        signal="rate_cps",
        axes="intensity_kW_cm2",
        parameters=PARAMETERS,
        config_text=CONFIG,
        instruments=INSTRUMENTS,
        software_version="9.8.7",
        sample={"name": "NaYF4:8%Tm", "diameter": (25.0, "nm")},
    )
    kwargs.update(overrides)
    return RunWriter(path, **kwargs)  # type: ignore[arg-type]


def point(i: int) -> dict[str, object]:
    return {"intensity_kW_cm2": 0.5 * i, "rate_cps": float(i**3), "counts": i, "tag": f"p{i}"}


def assert_h5py_opens(path: Path) -> None:
    with h5py.File(path, "r", swmr=True) as f:
        assert "entry/data" in f


# ----------------------------------------------------------------- subprocess helpers


def start_python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(proc: subprocess.Popen[str], timeout_s: float = 30.0) -> str:
    """Read one stdout line without hanging the test run if the child misbehaves."""
    assert proc.stdout is not None
    box: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    threading.Thread(target=lambda: box.put(stdout.readline()), daemon=True).start()
    try:
        line = box.get(timeout=timeout_s)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"child process printed nothing within {timeout_s} s")
    if not line:
        proc.wait(timeout=10)
        pytest.fail(f"child process ended early; stderr:\n{proc.stderr.read() if proc.stderr else ''}")
    return line.strip()


WRITER_PREAMBLE = """
    import sys
    from avlab.storage import Column, RunWriter
    w = RunWriter(
        {path!r}, procedure="power_sweep",
        columns=[Column("intensity_kW_cm2", "kW/cm^2"), Column("rate_cps", "counts/s")],
        signal="rate_cps", axes="intensity_kW_cm2", parameters={{"dwell_s": (0.1, "s")}},
        config_text="[lab]\\n", instruments={{}}, software_version="0.0.test",
    )
"""


# ----------------------------------------------------------------- round trip and layout


def test_round_trip_of_columns_units_parameters_config_and_instruments(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with make_writer(path) as w:
        for i in range(5):
            w.append(point(i))
        assert w.n_points == 5
        w.finish("completed")

    run = read_run(path)
    assert run.path == path
    assert run.procedure == "power_sweep"
    assert run.software_version == "9.8.7"
    assert run.n_points == 5
    assert list(run.columns) == ["intensity_kW_cm2", "rate_cps", "counts", "tag", "wall_time"]
    np.testing.assert_array_equal(run.columns["intensity_kW_cm2"], 0.5 * np.arange(5))
    np.testing.assert_array_equal(run.columns["rate_cps"], np.arange(5.0) ** 3)
    np.testing.assert_array_equal(run.columns["counts"], np.arange(5))
    assert run.columns["counts"].dtype == np.int64
    assert run.columns["tag"].tolist() == [b"p0", b"p1", b"p2", b"p3", b"p4"]
    assert np.all(np.diff(run.columns["wall_time"]) >= 0) and run.columns["wall_time"][0] > 1.6e9
    assert run.units == {
        "intensity_kW_cm2": "kW/cm^2",
        "rate_cps": "counts/s",
        "counts": "counts",
        "tag": "",
        "wall_time": "s",
    }
    params = dict(run.parameters)
    setpoints, setpoints_unit = params.pop("setpoints_kW_cm2")
    np.testing.assert_array_equal(setpoints, [1.0, 2.0, 4.0])
    assert setpoints_unit == "kW/cm^2"
    expected = {k: v for k, v in PARAMETERS.items() if k != "setpoints_kW_cm2"}
    assert params == expected
    assert type(params["n_steps"][0]) is int and type(params["shutter_between_points"][0]) is bool
    assert run.config_text == CONFIG
    assert run.instruments == INSTRUMENTS
    assert run.sample == {"name": ("NaYF4:8%Tm", ""), "diameter": (25.0, "nm")}
    assert run.signal == "rate_cps" and run.axes == ["intensity_kW_cm2"]


def test_config_text_is_a_dataset_not_an_attribute_even_when_large(tmp_path: Path) -> None:
    big_config = "# padding\n" * 20_000  # ~200 kB: far beyond the 64 kB attribute limit
    path = tmp_path / "run.h5"
    with make_writer(path, config_text=big_config) as w:
        w.append(point(1))
    with h5py.File(path, "r") as f:
        assert isinstance(f["entry/config"], h5py.Dataset)
    assert read_run(path).config_text == big_config


def test_nexus_default_plot_attributes_and_units_on_every_data_dataset(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with make_writer(path, axes=["intensity_kW_cm2", "counts"]) as w:
        w.append(point(1))

    with h5py.File(path, "r") as f:
        assert f.attrs["NX_class"] == "NXroot"
        assert f.attrs["default"] == "entry"
        assert f.attrs["creator"] == "avlab 9.8.7"
        assert f.attrs["HDF5_Version"] == h5py.version.hdf5_version
        assert f.attrs["file_name"].endswith("run.h5") and f.attrs["file_time"]
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry" and entry.attrs["default"] == "data"
        assert entry["program_name"][()] == b"avlab" and entry["program_name"].attrs["version"] == "9.8.7"
        assert entry["title"].asstr()[()] == "power_sweep"
        data = entry["data"]
        assert data.attrs["NX_class"] == "NXdata"
        assert data.attrs["signal"] == "rate_cps"
        assert data.attrs["axes"] == "intensity_kW_cm2"  # 1-D signal: one axis per dimension
        assert data.attrs["intensity_kW_cm2_indices"] == 0 and data.attrs["counts_indices"] == 0
        for name, ds in data.items():
            assert "units" in ds.attrs, name
            assert ds.maxshape == (None,) and ds.chunks is not None and 256 <= ds.chunks[0] <= 1024
        assert data["wall_time"].attrs["units"] == "s"
        assert data["intensity_kW_cm2"].attrs["long_name"] == "intensity_kW_cm2 (kW/cm^2)"
        assert data["rate_cps"].attrs["description"] == "emission count rate"
        for name, ds in entry["parameters"].items():
            assert "units" in ds.attrs, name
        assert entry["parameters"].attrs["NX_class"] == "NXcollection"
        assert entry["instrument"].attrs["NX_class"] == "NXinstrument"
        assert entry["sample"].attrs["NX_class"] == "NXsample"
        assert entry["sample/diameter"].attrs["units"] == "nm"


def test_start_time_is_iso8601_with_timezone(tmp_path: Path) -> None:
    from datetime import datetime

    with make_writer(tmp_path / "run.h5") as w:
        w.append(point(0))
    run = read_run(w.path)
    for stamp in (run.start_time, run.end_time):
        assert datetime.fromisoformat(stamp).tzinfo is not None


def test_missing_columns_are_filled_with_nan_zero_or_empty(tmp_path: Path) -> None:
    with make_writer(tmp_path / "run.h5") as w:
        w.append({"rate_cps": 7.0})
    run = read_run(w.path)
    assert np.isnan(run.columns["intensity_kW_cm2"][0])
    assert run.columns["rate_cps"][0] == 7.0
    assert run.columns["counts"][0] == 0
    assert run.columns["tag"][0] == b""


def test_append_rows_stores_a_batch_with_one_flush_and_checks_every_row_first(
        tmp_path: Path) -> None:
    with make_writer(tmp_path / "run.h5") as w:
        w.append({"rate_cps": 1.0})
        with pytest.raises(ValueError, match="unknown column"):
            w.append_rows([{"rate_cps": 2.0}, {"rate": 3.0}])
        with h5py.File(w.path, "r", swmr=True) as f:  # nothing of the bad batch was buffered
            assert f["entry/data/rate_cps"].shape == (1,)
        w.append_rows({"rate_cps": float(k), "counts": k} for k in range(2, 6))
        with h5py.File(w.path, "r", swmr=True) as f:  # flushed: visible before the finish
            assert list(f["entry/data/rate_cps"][:]) == [1.0, 2.0, 3.0, 4.0, 5.0]
    run = read_run(w.path)
    assert list(run.columns["counts"]) == [0, 2, 3, 4, 5]


# ----------------------------------------------------------------- never overwrite


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    path.write_bytes(b"precious data")
    with pytest.raises(RunFileExistsError) as info:
        make_writer(path)
    assert isinstance(info.value, FileExistsError)
    assert str(path) in str(info.value) and "nothing was overwritten" in str(info.value)
    assert path.read_bytes() == b"precious data"


def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "2026" / "05" / "run.h5"
    with make_writer(path) as w:
        w.append(point(0))
    assert read_run(path).n_points == 1


def test_invalid_arguments_leave_no_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with pytest.raises(ValueError, match="not_a_column"):
        make_writer(path, signal="not_a_column")
    with pytest.raises(TypeError, match="dwell_s"):
        make_writer(path, parameters={"dwell_s": (object(), "s")})
    assert not path.exists()


# ----------------------------------------------------------------- status transitions


def test_running_status_until_finish_then_completed(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    w.append(point(0))
    live = read_run(w.path)
    assert live.status == "running" and not live.finished and live.end_time == ""
    w.finish("completed", "all 1 points")
    run = read_run(w.path)
    assert (run.status, run.message) == ("completed", "all 1 points")
    assert run.finished and run.end_time >= run.start_time


def test_finish_aborted_records_status_and_message(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    w.finish("aborted", "stopped by operator")
    run = read_run(w.path)
    assert (run.status, run.message) == ("aborted", "stopped by operator")


def test_finish_rejects_unknown_status(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    with pytest.raises(ValueError, match="status"):
        w.finish("done")
    w.finish("completed")


def test_second_finish_raises_and_keeps_first_status(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    w.finish("completed")
    with pytest.raises(RuntimeError, match="already finished"):
        w.finish("failed")
    assert read_run(w.path).status == "completed"


def test_append_after_finish_raises(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    w.finish("completed")
    with pytest.raises(RuntimeError):
        w.append(point(0))


def test_context_manager_clean_exit_marks_completed(tmp_path: Path) -> None:
    with make_writer(tmp_path / "run.h5") as w:
        w.append(point(0))
    assert read_run(w.path).status == "completed"


def test_context_manager_exception_marks_failed_and_propagates(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="laser interlock"):
        with make_writer(tmp_path / "run.h5") as w:
            w.append(point(0))
            raise RuntimeError("laser interlock")
    run = read_run(w.path)
    assert run.status == "failed"
    assert "laser interlock" in run.message and "RuntimeError" in run.message
    assert run.n_points == 1


def test_context_manager_keyboard_interrupt_marks_aborted(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with make_writer(tmp_path / "run.h5") as w:
            w.append(point(0))
            raise KeyboardInterrupt
    assert read_run(w.path).status == "aborted"


def test_context_manager_keeps_explicit_finish(tmp_path: Path) -> None:
    with make_writer(tmp_path / "run.h5") as w:
        w.finish("aborted", "threshold reached")
    assert read_run(w.path).status == "aborted"


# ----------------------------------------------------------------- bad rows


def test_unknown_column_raises_value_error_and_file_stays_valid(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    w.append(point(0))
    with pytest.raises(ValueError, match="temperature_K"):
        w.append({"rate_cps": 1.0, "temperature_K": 300.0})
    w.append(point(1))
    assert w.n_points == 2
    assert_h5py_opens(w.path)
    w.finish("completed")
    run = read_run(w.path)
    assert run.n_points == 2 and run.status == "completed"


def test_wrong_value_type_raises_value_error_without_writing(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    with pytest.raises(ValueError, match="rate_cps"):
        w.append({"intensity_kW_cm2": 1.0, "rate_cps": "lots"})
    with pytest.raises(ValueError, match="counts"):
        w.append({"counts": 2.5})
    w.finish("completed")
    assert read_run(w.path).n_points == 0


# ----------------------------------------------------------------- truncation


def test_fixed_strings_longer_than_the_field_are_truncated(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    w.append({"tag": "a-very-long-label"})
    w.append({"tag": "ééééé"})  # 10 UTF-8 bytes: must not be cut inside a character
    w.finish("failed", "x" * 5000)
    run = read_run(w.path)
    assert run.columns["tag"].tolist() == [b"a-very-l", "éééé".encode()]
    assert len(run.message.encode()) <= MESSAGE_LEN and run.message.startswith("xxx")
    assert run.message.endswith("...")


# ----------------------------------------------------------------- flushing and SWMR


def test_flush_every_batches_points_and_finish_writes_the_rest(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5", flush_every=4)
    for i in range(6):
        w.append(point(i))
    assert w.n_points == 6
    assert read_run(w.path).n_points == 4  # the last 2 are still buffered
    w.finish("completed")
    assert read_run(w.path).n_points == 6


def test_same_process_swmr_reader_sees_points_as_they_are_appended(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    for i in range(3):
        w.append(point(i))
    with h5py.File(w.path, "r", swmr=True) as f:
        ds = f["entry/data/rate_cps"]
        assert ds.shape == (3,)
        for i in range(3, 7):
            w.append(point(i))
        ds.refresh()
        assert ds.shape == (7,)
        assert ds[-1] == 6.0**3
    w.finish("completed")


def test_reader_in_another_process_follows_a_live_run(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    proc = start_python(
        WRITER_PREAMBLE.format(path=str(path))
        + """
    for i in range(10):
        w.append({"intensity_kW_cm2": float(i), "rate_cps": float(i)})
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(10, 20):
        w.append({"intensity_kW_cm2": float(i), "rate_cps": float(i)})
    print("more", flush=True)
    sys.stdin.readline()
    w.finish("completed")
    """
    )
    assert proc.stdin is not None
    try:
        assert read_line(proc) == "ready"
        with h5py.File(path, "r", swmr=True) as f:
            ds = f["entry/data/rate_cps"]
            assert ds.shape == (10,)
            assert f["entry/status"][()] == b"running"
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert read_line(proc) == "more"
            ds.refresh()
            assert ds.shape == (20,)
            np.testing.assert_array_equal(ds[:], np.arange(20.0))
        live = read_run(path)
        assert live.n_points == 20 and live.status == "running"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert read_run(path).status == "completed"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_leaves_readable_file_with_all_points_and_running_status(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    proc = start_python(
        WRITER_PREAMBLE.format(path=str(path))
        + """
    import time
    for i in range(25):
        w.append({"intensity_kW_cm2": float(i), "rate_cps": 2.0 * i})
    print("ready", flush=True)
    time.sleep(60)
    """
    )
    try:
        assert read_line(proc) == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    run = read_run(path)
    assert run.n_points == 25
    assert run.status == "running" and not run.finished
    np.testing.assert_array_equal(run.columns["rate_cps"], 2.0 * np.arange(25))
    assert "did not complete" in summarize(path)


# ----------------------------------------------------------------- results


def test_add_results_after_finish_round_trips_with_units(tmp_path: Path) -> None:
    with make_writer(tmp_path / "run.h5") as w:
        w.append(point(1))
    curve = np.linspace(0.0, 1.0, 50)
    w.add_results(
        "power_law_fit",
        {"slope": (26.3, ""), "threshold_kW_cm2": (12.5, "kW/cm^2"), "model": ("two-segment", "")},
        {"fit_curve_cps": (curve, "counts/s")},
    )
    w.add_results("power_law_fit", {"chi2_reduced": (1.04, "")})

    run = read_run(w.path)
    fit = run.results["power_law_fit"]
    assert fit["slope"] == (26.3, "")
    assert fit["threshold_kW_cm2"] == (12.5, "kW/cm^2")
    assert fit["model"] == ("two-segment", "")
    assert fit["chi2_reduced"] == (1.04, "")
    np.testing.assert_array_equal(fit["fit_curve_cps"][0], curve)
    assert fit["fit_curve_cps"][1] == "counts/s"
    assert run.status == "completed" and run.n_points == 1
    with h5py.File(w.path, "r") as f:
        assert f["entry/power_law_fit"].attrs["NX_class"] == "NXprocess"


def test_add_results_before_finish_raises(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    with pytest.raises(RuntimeError, match="finish"):
        w.add_results("fit", {"slope": (26.3, "")})
    w.finish("completed")


def test_add_results_refuses_to_overwrite_reserved_or_existing_names(tmp_path: Path) -> None:
    with make_writer(tmp_path / "run.h5") as w:
        pass
    with pytest.raises(ValueError, match="reserved"):
        w.add_results("data", {"x": (1.0, "")})
    w.add_results("fit", {"slope": (26.3, "")})
    with pytest.raises(ValueError, match="slope"):
        w.add_results("fit", {"slope": (1.0, "")})
    assert read_run(w.path).results["fit"]["slope"] == (26.3, "")


# ----------------------------------------------------------------- summarize


def test_summarize_avlab_file_lists_everything_with_units(tmp_path: Path) -> None:
    with make_writer(tmp_path / "run.h5") as w:
        for i in range(4):
            w.append(point(i))
        w.finish("aborted", "operator pressed stop")
    w.add_results("fit", {"threshold_kW_cm2": (12.5, "kW/cm^2")})

    text = summarize(w.path)
    for expected in (
        "power_sweep",
        "aborted",
        "operator pressed stop",
        "9.8.7",
        "points:      4",
        "intensity_kW_cm2 [kW/cm^2]",
        "0 .. 1.5",
        "rate_cps [counts/s]",
        "0 .. 27",
        "dwell_s = 0.5 s",
        "wavelength_nm = 1064 nm",
        "laser: driver=drivers.sim.Laser, identity=SIM,LASER,0,1.0, resource=SIM::LASER",
        "threshold_kW_cm2 = 12.5 kW/cm^2",
        read_run(w.path).start_time,
    ):
        assert expected in text, expected


def test_summarize_live_file_says_it_did_not_complete(tmp_path: Path) -> None:
    w = make_writer(tmp_path / "run.h5")
    w.append(point(0))
    assert "running (did not complete" in summarize(w.path)
    w.finish("completed")


def test_summarize_foreign_hdf5_file_lists_datasets(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["scan/energy"] = np.arange(5.0)
        f["scan/energy"].attrs["units"] = "eV"
        f["notes"] = "hello"
    text = summarize(path)
    assert "not an avlab run file" in text
    assert "/scan/energy" in text and "(5,)" in text and "float64" in text and "eV" in text
    assert "/notes" in text


def test_read_run_rejects_foreign_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = 1
    with pytest.raises(NotARunFileError):
        read_run(path)


def test_column_rejects_variable_length_and_unsupported_dtypes(tmp_path: Path) -> None:
    for dtype in ("U8", "S", "O", "c16"):
        with pytest.raises(ValueError, match="dtype"):
            Column("x", "", dtype=dtype)
    with pytest.raises(ValueError, match="wall_time"):
        make_writer(tmp_path / "run.h5", columns=[Column("wall_time", "s")])


@pytest.mark.parametrize("flush_every", [1, 7, 600])
def test_many_points_across_chunk_boundaries_read_back_exactly(tmp_path: Path,
                                                                flush_every: int) -> None:
    """Points are written chunk-wise; batches that cross a chunk boundary must not lose or
    shift a row, whatever the flush batching."""
    path = tmp_path / "many.h5"
    n = 1300  # crosses two 512-row chunk boundaries
    with make_writer(path, flush_every=flush_every) as run:
        for i in range(n):
            run.append(point(i))
        run.finish("completed")
    data = read_run(path)
    assert data.n_points == n
    expected = [point(i) for i in range(n)]
    np.testing.assert_array_equal(data.columns["counts"], [p["counts"] for p in expected])
    np.testing.assert_array_equal(data.columns["intensity_kW_cm2"],
                                  [p["intensity_kW_cm2"] for p in expected])
    assert [t.decode() for t in data.columns["tag"][[0, 511, 512, 1299]]] == [
        expected[i]["tag"] for i in (0, 511, 512, 1299)]
