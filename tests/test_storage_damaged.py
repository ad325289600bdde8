"""Damaged run files are refused quickly with a clear message, never a hang or a traceback.

Each case reads a real run file cut or corrupted the way it happens in a lab (an interrupted
copy, a full disk, a wrong file). HDF5's SWMR open retries failing metadata reads for
minutes, so every read runs in a subprocess with a generous timeout: a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from avlab.data import ArrayItem, Axis, Column, DataDescription
from avlab.recover import RecoverError, recover_run
from avlab.storage import DamagedRunFileError, RunWriter, read_run, summarize

TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of about 120 kB: a point table, an image and a config."""
    path = tmp_path_factory.mktemp("damaged") / "particle7.h5"
    desc = DataDescription(
        columns=(Column("intensity_kW_cm2", "kW/cm^2"), Column("rate_cps", "counts/s")),
        arrays=(ArrayItem("counts", "counts", shape=(32, 64), axes=("y_um", "x_um"),
                          interpretation="image"),),
        axes=(Axis("y_um", "um", values=tuple(range(32))),
              Axis("x_um", "um", values=tuple(range(64)))),
        signal="rate_cps", plot_axes=("intensity_kW_cm2",))
    with RunWriter(path, procedure="scurve", description=desc, parameters={"points": (400, "")},
                   config_text="[lab]\n" + "# comment line\n" * 2000, instruments={},
                   software_version="0.test") as w:
        for i in range(400):
            w.append({"intensity_kW_cm2": 0.01 * i, "rate_cps": float(i) ** 2})
        for j in range(32):
            w.write("counts", (j,), np.full(64, float(j)))
    assert 60_000 < path.stat().st_size < 400_000
    return path


def read_in_subprocess(path: Path, what: str = "summarize") -> tuple[str, str]:
    """(exception class name, message) of read_run/summarize/recover on `path` in a child."""
    code = textwrap.dedent(f"""
        import sys
        from avlab.storage import read_run, summarize
        from avlab.recover import recover_run
        try:
            {what}({str(path)!r})
        except Exception as exc:
            print(type(exc).__name__)
            print(exc)
        else:
            print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    kind, _, message = proc.stdout.partition("\n")
    return kind, message.strip()


def cut(source: Path, dest: Path, n_bytes: int) -> Path:
    dest.write_bytes(source.read_bytes()[:n_bytes])
    return dest


def test_the_intact_file_reads(run_file: Path) -> None:
    assert read_in_subprocess(run_file, "read_run") == ("ok", "")


@pytest.mark.parametrize("n_bytes", [30_000, 512], ids=["30kB", "512B"])
@pytest.mark.parametrize("what", ["read_run", "summarize"])
def test_a_file_cut_short_is_refused_not_hung(run_file: Path, tmp_path: Path, n_bytes: int,
                                              what: str) -> None:
    damaged = cut(run_file, tmp_path / "t.h5", n_bytes)
    kind, message = read_in_subprocess(damaged, what)
    assert kind == "DamagedRunFileError"
    assert "truncated" in message and f"only {n_bytes}" in message
    assert str(run_file.stat().st_size) in message and "copy the file again" in message


def test_a_file_cut_near_its_end_is_refused_not_a_traceback(run_file: Path, tmp_path: Path) -> None:
    size = run_file.stat().st_size
    damaged = cut(run_file, tmp_path / "t.h5", size * 5 // 6)
    with pytest.raises(DamagedRunFileError, match="truncated"):
        read_run(damaged)
    with pytest.raises(DamagedRunFileError, match="truncated"):
        summarize(damaged)


def test_recover_refuses_a_cut_file(run_file: Path, tmp_path: Path) -> None:
    damaged = cut(run_file, tmp_path / "t.h5", 30_000)
    kind, message = read_in_subprocess(damaged, "recover_run")
    assert kind == "RecoverError" and "truncated" in message
    assert damaged.stat().st_size == 30_000


def test_not_an_hdf5_file_or_an_empty_one(tmp_path: Path) -> None:
    png = tmp_path / "plot.h5"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    with pytest.raises(DamagedRunFileError, match="not a readable HDF5 file"):
        summarize(png)
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(DamagedRunFileError, match="the file is empty"):
        read_run(empty)
    with pytest.raises(RecoverError, match="not a readable HDF5 file"):
        recover_run(empty)


def test_a_corrupted_superblock_is_refused(run_file: Path, tmp_path: Path) -> None:
    raw = bytearray(run_file.read_bytes())
    raw[30] ^= 0xFF  # inside the superblock's addresses, covered by its checksum
    damaged = tmp_path / "t.h5"
    damaged.write_bytes(bytes(raw))
    kind, message = read_in_subprocess(damaged, "summarize")
    assert kind == "DamagedRunFileError" and "checksum" in message


def test_damaged_file_error_is_a_value_error() -> None:
    assert issubclass(DamagedRunFileError, ValueError)
