"""`avlab run` claims its outputs before any instrument moves (issue 8, files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from avlab.cli import main

QUICK = ["--set", "points=6", "--set", "settle_s=0.1", "--set", "dark_gate_s=1",
         "--set", "max_gate_s=1", "--set", "sweep_down=false", "--set", "refine=false"]


def test_an_out_name_that_the_plot_would_overwrite_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "scurve", "--out", "runs/myrun.png", *QUICK]) == 2
    assert "suffix" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "myrun.png").exists()


def test_an_existing_sibling_is_never_replaced(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "p7.png").write_text("precious\n")
    assert main(["run", "scurve", "--out", "runs/p7.h5", *QUICK]) == 2
    assert "p7.png" in capsys.readouterr().err
    assert (tmp_path / "runs" / "p7.png").read_text() == "precious\n"
    assert not (tmp_path / "runs" / "p7.h5").exists()


def test_an_unwritable_out_is_refused_before_anything_connects(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert main(["run", "scurve", "--out", str(blocker / "r.h5"), *QUICK]) == 2
    err = capsys.readouterr()
    assert "avlab:" in err.err and "Traceback" not in err.err
    assert "avlab scurve on" not in err.out  # refused before the bench was built


def test_runs_without_out_started_together_never_collide(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "avlab.cli", "run", "scurve", *QUICK],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1][-500:] for o in outs]
    files = sorted(Path(tmp_path, "runs").glob("*.h5"))
    pngs = sorted(Path(tmp_path, "runs").glob("*.png"))
    assert len(files) == 4 and len(pngs) == 4
    assert all(f.stat().st_size > 0 for f in [*files, *pngs])


def test_inspect_into_a_closed_pipe_ends_quietly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "scurve", "--out", "r.h5", "--no-plot", *QUICK]) == 0
    done = subprocess.run(f"{sys.executable} -m avlab.cli inspect r.h5 | head -1", shell=True,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("avlab run file")
    assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr


def test_a_damaged_file_is_refused_quickly_by_inspect_and_fit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "scurve", "--out", "r.h5", "--no-plot", *QUICK]) == 0
    data = (tmp_path / "r.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(data[:30000])
    for command in (["inspect", "t.h5"], ["fit", "t.h5"]):
        done = subprocess.run([sys.executable, "-m", "avlab.cli", *command], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode in (1, 2), command
        assert "Traceback" not in done.stderr
        assert "truncated" in done.stderr or "damaged" in done.stderr.lower()


def test_the_png_is_drawn_by_the_forked_plot_worker(tmp_path):
    """`avlab run` as a real (single-threaded) process draws its PNG in the plot worker that
    loaded matplotlib while the run was measured; the PNG is a real image."""
    done = subprocess.run([sys.executable, "-m", "avlab.cli", "-v", "run", "scurve",
                           "--out", "w.h5", *QUICK], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PNG drawn by the plot worker" in done.stderr
    png = (tmp_path / "w.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_any_command_into_a_closed_pipe_ends_quietly(tmp_path):
    done = subprocess.run(f"{sys.executable} -m avlab.cli sim serve --base-port 0 "
                          "--no-real-ports --duration 1 | head -1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("serving the simulated bench")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
