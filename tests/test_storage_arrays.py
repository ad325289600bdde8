"""Shaped data in the run file: array items as NXdata groups, written row by row, read lazily."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from avlab.data import ArrayItem, Axis, Column, DataDescription
from avlab.storage import RunWriter, open_run, read_run, summarize

NY, NX, NBINS = 4, 6, 8
Y_UM = tuple(0.5 * np.arange(NY))
X_UM = tuple(0.25 * np.arange(NX))


def description(**overrides: object) -> DataDescription:
    kwargs: dict[str, object] = dict(
        columns=(Column("power_W", "W"), Column("rate_cps", "counts/s")),
        arrays=(
            ArrayItem("counts", "counts", shape=("pixels_y", "pixels_x"), axes=("y_um", "x_um"),
                      interpretation="image", description="photon counts per pixel"),
            ArrayItem("histograms", "counts", shape=(NBINS,), dtype="i8", stacked=True,
                      axes=("pump_W", "delay_ns"), interpretation="spectrum"),
            ArrayItem("frames", "counts", shape=(NY, NX), stacked=True,
                      axes=("pump_W", "y_um", "x_um"), interpretation="image"),
        ),
        axes=(Axis("y_um", "um", values=Y_UM), Axis("x_um", "um", values=X_UM),
              Axis("pump_W", "W"), Axis("delay_ns", "ns", values=tuple(range(NBINS)))),
        signal="rate_cps", plot_axes=("power_W",), default="counts",
    )
    kwargs.update(overrides)
    return DataDescription(**kwargs)  # type: ignore[arg-type]


def make(path: Path, **overrides: object) -> RunWriter:
    kwargs: dict[str, object] = dict(
        procedure="confocal", description=description(),
        parameters={"pixels_y": (NY, ""), "pixels_x": (NX, "")}, config_text="",
        instruments={}, software_version="0.test")
    kwargs.update(overrides)
    return RunWriter(path, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------- layout


def test_each_item_is_an_nxdata_group_with_axes_units_and_interpretation(tmp_path: Path) -> None:
    make(tmp_path / "r.h5").finish("completed")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["entry"].attrs["default"] == "counts"
        g = f["entry/counts"]
        assert g.attrs["NX_class"] == "NXdata" and g.attrs["signal"] == "counts"
        assert list(g.attrs["axes"]) == ["y_um", "x_um"]
        assert g.attrs["y_um_indices"] == 0 and g.attrs["x_um_indices"] == 1
        ds = g["counts"]
        assert ds.attrs["units"] == "counts" and ds.attrs["interpretation"] == "image"
        assert ds.attrs["long_name"] == "counts (counts)"
        assert ds.shape == (NY, NX) and ds.chunks == (1, NX) and ds.maxshape == (NY, NX)
        assert np.isnan(ds.fillvalue)
        np.testing.assert_array_equal(g["x_um"][()], X_UM)
        assert g["x_um"].attrs["units"] == "um"
        # shared axes are one dataset, hard-linked into each group that uses it
        assert f["entry/frames/x_um"] == f["entry/counts/x_um"]
        assert f["entry/frames/pump_W"] == f["entry/histograms/pump_W"]

        h = f["entry/histograms/histograms"]
        assert h.shape == (0, NBINS) and h.maxshape == (None, NBINS) and h.chunks == (1, NBINS)
        assert h.fillvalue == 0
        assert list(f["entry/histograms"].attrs["axes"]) == ["pump_W", "delay_ns"]
        fr = f["entry/frames/frames"]
        assert fr.shape == (0, NY, NX) and fr.chunks == (1, 1, NX)
        assert f["entry/frames/pump_W"].maxshape == (None,)


def test_dimensions_without_axes_are_marked_with_a_dot(tmp_path: Path) -> None:
    desc = DataDescription(arrays=(ArrayItem("spectrum", "counts", shape=(5,)),))
    with make(tmp_path / "r.h5", description=desc, parameters={}) as w:
        w.write("spectrum", (), np.arange(5.0))
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert list(f["entry/spectrum"].attrs["axes"]) == ["."]
        assert f["entry"].attrs["default"] == "spectrum"  # no point table: the item is default


def test_keywords_next_to_columns_give_the_same_layout(tmp_path: Path) -> None:
    desc = description()
    w = RunWriter(tmp_path / "k.h5", procedure="confocal", columns=desc.columns,
                  signal="rate_cps", axes="power_W", arrays=desc.arrays, array_axes=desc.axes,
                  default="counts", parameters={"pixels_y": (NY, ""), "pixels_x": (NX, "")},
                  config_text="", instruments={}, software_version="0.test")
    w.write("counts", (0,), np.ones(NX))
    w.finish("completed")
    run = read_run(tmp_path / "k.h5")
    assert run.default == "counts" and set(run.arrays) == {"counts", "histograms", "frames"}
    assert run.signal == "rate_cps"


def test_bad_descriptions_are_refused_before_a_file_exists(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    with pytest.raises(ValueError, match="pixels_y"):
        make(path, parameters={"pixels_x": (NX, "")})
    with pytest.raises(ValueError, match="y_um.*4 for a dimension of size 3"):
        make(path, parameters={"pixels_y": (3, ""), "pixels_x": (NX, "")})
    with pytest.raises(ValueError, match="not both"):
        make(path, columns=[Column("a", "")])
    reserved = DataDescription(arrays=(ArrayItem("status", "", shape=(2,)),))
    with pytest.raises(ValueError, match="reserved"):
        make(path, description=reserved)
    unused = DataDescription(arrays=(ArrayItem("s", "", shape=(2,)),), axes=(Axis("q", "m"),))
    with pytest.raises(ValueError, match="belong to no array item"):
        make(path, description=unused)
    assert not path.exists()


# ----------------------------------------------------------------- writing


def test_lines_blocks_frames_and_growing_axes_land_where_asked(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    image = np.arange(NY * NX, dtype=float).reshape(NY, NX)
    with make(path) as w:
        w.write("counts", (0,), image[0])
        w.write("counts", (2,), image[2:4])  # two lines at once
        w.write("histograms", (0,), np.arange(NBINS))
        w.write("histograms", (3,), np.arange(NBINS) * 3)  # skipping 1 and 2
        w.write("pump_W", (0,), 0.5)
        w.write("pump_W", (1,), [0.6, 0.7, 0.8])
        w.write("frames", (0,), image)  # a whole frame
        w.write("frames", (1, 2), image[2])  # a line of the next frame
        w.write("frames", (1, 3, 4), 99.0)  # one pixel (not a whole row)
    with h5py.File(path, "r") as f:
        counts = f["entry/counts/counts"][()]
        np.testing.assert_array_equal(counts[[0, 2, 3]], image[[0, 2, 3]])
        assert np.isnan(counts[1]).all()
        h = f["entry/histograms/histograms"][()]
        assert h.shape == (4, NBINS)
        np.testing.assert_array_equal(h[0], np.arange(NBINS))
        np.testing.assert_array_equal(h[1:3], 0)
        np.testing.assert_array_equal(h[3], 3 * np.arange(NBINS))
        np.testing.assert_array_equal(f["entry/histograms/pump_W"][()], [0.5, 0.6, 0.7, 0.8])
        fr = f["entry/frames/frames"][()]
        assert fr.shape == (2, NY, NX)
        np.testing.assert_array_equal(fr[0], image)
        np.testing.assert_array_equal(fr[1, 2], image[2])
        assert fr[1, 3, 4] == 99.0 and np.isnan(fr[1, 3, :4]).all() and np.isnan(fr[1, 0]).all()


def test_each_write_is_flushed_for_a_swmr_reader(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    w = make(path)
    try:
        with h5py.File(path, "r", swmr=True) as f:
            ds = f["entry/counts/counts"]
            hist = f["entry/histograms/histograms"]
            for j in range(NY):
                w.write("counts", (j,), np.full(NX, float(j)))
                w.write("histograms", (j,), np.full(NBINS, j))
                ds.refresh()
                hist.refresh()
                np.testing.assert_array_equal(ds[j], np.full(NX, float(j)))
                assert hist.shape == (j + 1, NBINS)
    finally:
        w.finish("completed")


@pytest.mark.parametrize(("name", "index", "values", "match"), [
    ("counts", (0,), np.ones(NX + 1), r"array item 'counts'.*shape \(7,\).*expected shape \(6,\)"),
    ("counts", (NY,), np.ones(NX), "outside the shape"),
    ("counts", (NY - 1,), np.ones((2, NX)), "outside the shape"),
    ("counts", (-1,), np.ones(NX), "whole numbers"),
    ("counts", (0,), ["a"] * NX, "holds numbers"),
    ("histograms", (0,), np.full(NBINS, 0.5), "'histograms'.*fractional part"),
    ("histograms", (), np.ones((1, NBINS), dtype=int), "needs 1 to 2 entries"),
    ("pump_W", (0,), np.array([]), r"axis 'pump_W'.*do not fit"),
    ("y_um", (0,), 1.0, "not an array item or growing axis"),
    ("nothing", (0,), 1.0, "not an array item or growing axis"),
])
def test_wrong_writes_name_the_item_and_write_nothing(tmp_path: Path, name: str, index: tuple,
                                                     values: object, match: str) -> None:
    path = tmp_path / "r.h5"
    with make(path) as w:
        with pytest.raises(ValueError, match=match):
            w.write(name, index, values)
    with h5py.File(path, "r") as f:
        assert f["entry/counts/counts"].id.get_num_chunks() == 0
        assert f["entry/histograms/histograms"].shape == (0, NBINS)
        assert f["entry/histograms/pump_W"].shape == (0,)


def test_write_after_finish_raises(tmp_path: Path) -> None:
    w = make(tmp_path / "r.h5")
    w.finish("completed")
    with pytest.raises(RuntimeError, match="finished"):
        w.write("counts", (0,), np.ones(NX))


def test_integer_and_text_items_keep_their_dtype(tmp_path: Path) -> None:
    desc = DataDescription(arrays=(ArrayItem("small", "", shape=(3,), dtype="u1"),
                                   ArrayItem("labels", "", shape=(2,), dtype="S4")))
    with make(tmp_path / "r.h5", description=desc, parameters={}) as w:
        w.write("small", (), np.array([1, 2, 255]))
        with pytest.raises(ValueError, match="outside 0..255"):
            w.write("small", (), np.array([1, 2, 256]))
        w.write("labels", (), ["ab", "cdef"])
    run = read_run(tmp_path / "r.h5")
    assert run.arrays["small"].dtype == np.uint8
    np.testing.assert_array_equal(run.arrays["small"].read(), [1, 2, 255])
    assert list(run.arrays["labels"].read()) == [b"ab", b"cdef"]


# ----------------------------------------------------------------- reading


def test_read_run_gives_lazy_handles_and_loaded_axes(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    with make(path) as w:
        w.write("counts", (1,), np.arange(NX, dtype=float))
        w.write("histograms", (0,), np.arange(NBINS))
        w.write("pump_W", (0,), 0.25)
    run = read_run(path)
    counts = run.arrays["counts"]
    assert counts.shape == (NY, NX) and counts.dtype == np.float64 and counts.units == "counts"
    assert counts.axes == ("y_um", "x_um") and counts.interpretation == "image"
    assert not counts.stacked and run.arrays["histograms"].stacked
    np.testing.assert_array_equal(counts[1], np.arange(NX))
    assert np.isnan(counts.read()[0]).all()
    assert counts.rows_written() == (1, NY)
    np.testing.assert_array_equal(run.array_axes["x_um"], X_UM)
    assert run.array_axis_units["x_um"] == "um" and run.array_axis_units["pump_W"] == "W"
    np.testing.assert_array_equal(run.array_axes["pump_W"], [0.25])
    assert run.arrays["histograms"].shape == (1, NBINS)


def test_open_run_reads_through_the_open_file_and_handles_outlive_it(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    with make(path) as w:
        w.write("counts", (2,), np.full(NX, 7.0))
    with open_run(path) as run:
        handle = run.arrays["counts"]
        assert handle._file is not None
        np.testing.assert_array_equal(handle[2], np.full(NX, 7.0))
    assert handle._file is None
    np.testing.assert_array_equal(handle[2, :2], [7.0, 7.0])  # reopens by itself


def test_opening_a_gigabyte_stack_reads_none_of_it(tmp_path: Path) -> None:
    """A 1 GiB stack (sparse on disk) opens and yields one frame without loading the rest."""
    ny = nx = 256
    frames = 2048  # 2048 x 256 x 256 x 8 bytes = 1 GiB
    desc = DataDescription(arrays=(ArrayItem("frames", "counts", shape=(ny, nx), stacked=True,
                                             interpretation="image"),))
    path = tmp_path / "big.h5"
    frame = np.random.default_rng(1).random((ny, nx))
    with make(path, description=desc, parameters={}) as w:
        w.write("frames", (frames - 1,), frame)
    assert path.stat().st_size < 10 * 2**20
    tracemalloc.start()
    try:
        run = read_run(path)
        handle = run.arrays["frames"]
        assert handle.nbytes == 2**30 and handle.shape == (frames, ny, nx)
        last = handle[frames - 1]
        first_line = handle[0, 0]
        summary = summarize(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(last, frame)
    assert np.isnan(first_line).all()
    assert "2048 entries, 256 of 524288 lines written" in summary
    assert peak < 32 * 2**20, f"reading used {peak / 2**20:.0f} MiB"


def test_summarize_shows_items_rows_written_units_and_axis_ranges(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    with make(path) as w:
        w.append({"power_W": 1.0, "rate_cps": 2.0})
        for j in range(3):
            w.write("counts", (j,), np.ones(NX))
        w.write("histograms", (0,), np.arange(NBINS))
        w.write("pump_W", (0,), 0.5)
    text = summarize(path)
    assert "default plot: counts (array item)" in text
    assert "counts [counts]  image 4 x 6 float64: 3 of 4 lines written (incomplete)" in text
    assert "axis x_um: 6 values, 0 .. 1.25 um" in text
    assert "histograms [counts]  spectrum stack 1 x (8) int64: 1 entries, 1 of 1 rows" in text
    assert "axis pump_W: 1 values, 0.5 .. 0.5 W" in text
    assert "points:      1" in text


# ----------------------------------------------------------------- independent reader


def test_nexusformat_finds_the_image_as_default_plot_with_axes_in_um(tmp_path: Path) -> None:
    nexusformat = pytest.importorskip("nexusformat.nexus")
    path = tmp_path / "r.h5"
    with make(path) as w:
        for j in range(NY):
            w.write("counts", (j,), np.full(NX, float(j)))
    root = nexusformat.nxload(str(path), "r")
    try:
        plot = root.plottable_data
        assert plot.nxname == "counts" and plot.nxclass == "NXdata"
        assert plot.nxsignal.nxname == "counts"
        np.testing.assert_array_equal(plot.nxsignal.nxdata[3], np.full(NX, 3.0))
        assert plot.nxsignal.attrs["interpretation"] == "image"
        axes = plot.nxaxes
        assert [a.nxname for a in axes] == ["y_um", "x_um"]
        assert [a.attrs["units"] for a in axes] == ["um", "um"]
        np.testing.assert_array_equal(axes[1].nxdata, X_UM)
    finally:
        root.nxfile.close()
