"""Tests for avlab.outputs: a run's files are checked and claimed before anything moves."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import h5py
import pytest

from avlab.data import Column
from avlab.outputs import OutputError, RunOutputs, reserve_outputs
from avlab.storage import RunFileExistsError, RunWriter, read_run


def writer(path: Path, **kwargs: object) -> RunWriter:
    return RunWriter(path, procedure="p", columns=[Column("x", "V")], signal="x", axes="x",
                     parameters={}, config_text="", instruments={}, software_version="t",
                     **kwargs)  # type: ignore[arg-type]


def test_run_file_needs_an_hdf5_suffix_and_nothing_is_created(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "myrun.png"
    with pytest.raises(OutputError, match=r"HDF5 suffix .*myrun\.h5"):
        reserve_outputs(out, procedure="scurve")
    assert not out.exists() and not out.with_suffix(".h5").exists()


@pytest.mark.parametrize("suffix", [".h5", ".hdf5", ".nxs", ".H5"])
def test_hdf5_suffixes_are_accepted_and_siblings_share_the_stem(tmp_path: Path, suffix: str) -> None:
    outputs = reserve_outputs(tmp_path / f"run{suffix}", procedure="scurve")
    assert outputs.run_file == tmp_path / f"run{suffix}"
    assert outputs.sibling(".png") == tmp_path / "run.png"
    assert all(p.is_file() and p.stat().st_size == 0 for p in outputs.paths)


def test_an_existing_sibling_is_refused_and_left_untouched(tmp_path: Path) -> None:
    (tmp_path / "p7.png").write_text("precious\n")
    with pytest.raises(OutputError, match=r"p7\.png already exists"):
        reserve_outputs(tmp_path / "p7.h5", procedure="scurve")
    assert (tmp_path / "p7.png").read_text() == "precious\n"
    assert not (tmp_path / "p7.h5").exists()  # the run file claimed first was given back


def test_an_existing_run_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p7.h5").write_bytes(b"data")
    with pytest.raises(OutputError, match="already exists"):
        reserve_outputs(tmp_path / "p7.h5", procedure="scurve")
    assert (tmp_path / "p7.h5").read_bytes() == b"data"
    assert not (tmp_path / "p7.png").exists()


def test_a_dangling_symlink_counts_as_taken(tmp_path: Path) -> None:
    (tmp_path / "p.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(OutputError, match="already exists"):
        reserve_outputs(tmp_path / "p.h5", procedure="scurve")
    assert not (tmp_path / "elsewhere.png").exists()


def test_an_unusable_directory_gives_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    with pytest.raises(OutputError, match="not_a_dir"):
        reserve_outputs(blocker / "run.h5", procedure="scurve")
    with pytest.raises(OutputError, match="not_a_dir"):
        reserve_outputs(None, procedure="scurve", directory=blocker)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write into read-only directories")
def test_a_read_only_directory_gives_output_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            reserve_outputs(locked / "run.h5", procedure="scurve")
    finally:
        locked.chmod(0o700)


def test_default_names_in_the_same_second_do_not_collide(tmp_path: Path) -> None:
    outputs = [reserve_outputs(None, procedure="scurve", directory=tmp_path) for _ in range(5)]
    files = [o.run_file for o in outputs]
    assert len(set(files)) == 5
    assert all(f.parent == tmp_path and f.name.startswith("scurve_") and f.suffix == ".h5"
               for f in files)


def test_default_name_skips_a_stem_whose_sibling_is_taken(tmp_path: Path) -> None:
    first = reserve_outputs(None, procedure="scurve", directory=tmp_path)
    first.run_file.unlink()  # only the plot name of that stem remains taken
    second = reserve_outputs(None, procedure="scurve", directory=tmp_path)
    assert second.run_file != first.run_file
    assert second.sibling(".png") != first.sibling(".png")


def _reserve_in_child(directory: str) -> str:
    return str(reserve_outputs(None, procedure="scurve", directory=Path(directory)).run_file)


def test_twenty_processes_in_parallel_get_twenty_names(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ctx.Pool(20) as pool:
        names = pool.map(_reserve_in_child, [str(tmp_path)] * 20)
    assert len(set(names)) == 20
    assert len(list(tmp_path.glob("*.h5"))) == 20 and len(list(tmp_path.glob("*.png"))) == 20


def test_run_writer_takes_over_the_reserved_run_file(tmp_path: Path) -> None:
    outputs = reserve_outputs(tmp_path / "run.h5", procedure="p")
    with writer(outputs.run_file, reserved=True) as w:
        w.append({"x": 1.0})
    assert read_run(outputs.run_file).n_points == 1
    assert outputs.release_unused() == [outputs.sibling(".png")]  # no plot was written
    assert outputs.run_file.exists() and not outputs.sibling(".png").exists()


def test_run_writer_refuses_a_reserved_file_that_is_no_longer_empty(tmp_path: Path) -> None:
    outputs = reserve_outputs(tmp_path / "run.h5", procedure="p")
    outputs.run_file.write_bytes(b"someone else")
    with pytest.raises(RunFileExistsError):
        writer(outputs.run_file, reserved=True)
    assert outputs.run_file.read_bytes() == b"someone else"


def test_without_reserved_the_writer_still_refuses_the_claimed_file(tmp_path: Path) -> None:
    outputs = reserve_outputs(tmp_path / "run.h5", procedure="p")
    with pytest.raises(RunFileExistsError):
        writer(outputs.run_file)


def test_release_unused_keeps_written_files(tmp_path: Path) -> None:
    outputs = reserve_outputs(tmp_path / "run.h5", procedure="p", siblings=(".png", ".csv"))
    outputs.sibling(".png").write_bytes(b"\x89PNG")
    removed = outputs.release_unused()
    assert set(removed) == {outputs.run_file, outputs.sibling(".csv")}
    assert outputs.sibling(".png").read_bytes() == b"\x89PNG"
    assert outputs.release_unused() == []


def test_a_never_started_run_leaves_nothing_behind(tmp_path: Path) -> None:
    outputs = reserve_outputs(None, procedure="scurve", directory=tmp_path)
    outputs.release_unused()
    assert list(tmp_path.iterdir()) == []


def test_reserved_run_file_is_a_valid_hdf5_file_after_the_writer(tmp_path: Path) -> None:
    outputs: RunOutputs = reserve_outputs(tmp_path / "run.nxs", procedure="p", siblings=())
    writer(outputs.run_file, reserved=True).finish("completed")
    with h5py.File(outputs.run_file, "r") as f:
        assert f["entry/status"][()] == b"completed"
