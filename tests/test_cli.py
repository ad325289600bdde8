"""The command line, end to end, including kill -9 and Ctrl-C of a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py

from avlab.cli import main
from avlab.config import builtin_config_text
from avlab.storage import read_run

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avlab.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def test_help_imports_neither_qt_nor_scipy():
    code = textwrap.dedent("""
        import sys
        from avlab.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        heavy = [m for m in ("scipy", "PySide6", "h5py", "matplotlib") if m in sys.modules]
        print("HEAVY", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert "usage: avlab" in out.stdout
    assert "HEAVY []" in out.stdout


def test_run_scurve_prints_figures_and_writes_h5_and_png(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["run", "scurve", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "status   : completed" in text
    assert "S_max = " in text and "kW/cm²" in text
    assert "shutdown : pump_1064: emission off" in text
    assert out.is_file() and out.with_suffix(".png").is_file()
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_set_changes_parameters_and_is_stored(tmp_path):
    out = tmp_path / "s.h5"
    assert main(["run", "scurve", "--out", str(out), "--no-plot",
                 "--set", "points=15", "--set", "sweep_down=false"]) == 0
    data = read_run(out)
    assert data.parameters["points"][0] == 15
    assert set(data.columns["direction"]) == {1}
    assert not out.with_suffix(".png").exists()


def test_bad_parameter_is_a_usage_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["run", "scurve", "--out", str(out), "--set", "points=two"]) == 2
    assert "parameter points" in capsys.readouterr().err
    assert not out.exists()


def test_existing_out_file_is_refused(tmp_path, capsys):
    out = tmp_path / "s.h5"
    out.write_bytes(b"keep me")
    assert main(["run", "scurve", "--out", str(out)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


def test_inspect_summarises_a_run(tmp_path, capsys):
    out = tmp_path / "s.h5"
    main(["run", "scurve", "--out", str(out), "--no-plot", "--set", "sweep_down=no"])
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "scurve" in text and "completed" in text
    assert "intensity_kW_cm2" in text and "kW/cm^2" in text
    assert "s_max" in text


def test_procedures_lists_parameters_with_units(capsys):
    assert main(["procedures"]) == 0
    text = capsys.readouterr().out
    assert "scurve:" in text and "settle_s (float [s]" in text


def test_config_command_reports_errors_with_the_key(tmp_path, capsys):
    bad = tmp_path / "lab.toml"
    bad.write_text(builtin_config_text().replace('driver = "ipg_ylr"', 'driver = "ipg"'))
    assert main(["config", str(bad)]) == 2
    assert "instruments.pump_1064.driver: unknown driver 'ipg'" in capsys.readouterr().err
    assert main(["config"]) == 0


KILL_SCRIPT = """
import os, signal, sys, warnings
warnings.filterwarnings("ignore")
from avlab.bench import Bench
from avlab.config import load_config
from avlab.runner import Runner
from experiments.scurve import SCurve

class KillAfter:
    def __init__(self): self.n = 0
    def on_point(self, row):
        self.n += 1
        if self.n == 30:
            os.kill(os.getpid(), signal.SIGKILL)
    def on_progress(self, *a): pass

Runner(SCurve(), Bench(load_config()), sys.argv[1], listeners=[KillAfter()]).run()
"""


def test_sigkill_mid_run_leaves_a_readable_file_with_every_flushed_point(tmp_path):
    out = tmp_path / "killed.h5"
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(out)], env=ENV, timeout=120,
                          capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    data = read_run(out)
    # every point is flushed before its event goes out, and the listener runs on its own
    # thread: the 30 it saw are on disk, and maybe a few the worker wrote meanwhile
    assert data.n_points >= 30
    assert data.status == "running" and not data.finished
    summary = run_cli("inspect", str(out))
    assert summary.returncode == 0 and "did not complete" in summary.stdout
    # `avlab recover` makes it open in plain HDF5 tools and records the failure.
    repaired = run_cli("recover", str(out))
    assert repaired.returncode == 0, repaired.stderr
    with h5py.File(out, "r") as f:
        assert f["entry/data/signal_cps"].shape == (data.n_points,)
        assert f["entry/status"][()].decode().strip("\x00") == "failed"


def test_ctrl_c_stops_a_real_time_run_with_emission_off_and_status_aborted(tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(builtin_config_text() + "realtime = true\n")
    out = tmp_path / "interrupted.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "avlab.cli", "run", "scurve", "--config", str(config),
         "--out", str(out), "--no-plot", "--set", "dark_gate_s=0.05",
         "--set", "max_gate_s=0.1", "--set", "settle_s=0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(4.0)  # past the laser's 3 s emission start-up, into the sweep
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "shutdown : pump_1064: emission off" in stdout
    assert "interrupted (Ctrl-C)" in stdout
    data = read_run(out)
    assert data.status == "aborted"
    assert data.n_points > 0


def test_instruments_shows_identity_and_a_live_reading_per_role(capsys):
    assert main(["instruments"]) == 0
    text = capsys.readouterr().out
    assert "identity: IPG Photonics YLR-5-1064-LP" in text
    assert "reading " in text and "counts/s" in text
    assert "3 of 3 roles OK" in text


def test_instruments_reports_a_broken_role_and_still_checks_the_others(tmp_path, capsys):
    config = tmp_path / "lab.toml"
    # A serial port that does not exist: opening it fails at once.
    config.write_text(builtin_config_text().replace(
        'driver = "thorlabs_pm100"\nresource = "sim"',
        'driver = "thorlabs_pm100"\nresource = "ASRL/dev/ttyAVLAB_NONE::INSTR"'))
    assert main(["instruments", "--config", str(config)]) == 1
    text = capsys.readouterr().out
    assert "power_meter  [thorlabs_pm100 @ ASRL/dev/ttyAVLAB_NONE::INSTR]\n  PROBLEM:" in text
    assert "identity: IPG Photonics" in text  # the laser after it was still connected
    assert "2 of 3 roles OK" in text


def test_fit_recovers_the_simulated_sample_from_a_run(tmp_path, capsys):
    out = tmp_path / "s.h5"
    main(["run", "scurve", "--out", str(out), "--no-plot"])
    capsys.readouterr()
    assert main(["fit", str(out), "--free", "beta,background"]) == 0
    text = capsys.readouterr().out
    beta_line = next(line for line in text.splitlines() if line.strip().startswith("beta ="))
    value, sigma = (float(x) for x in beta_line.split("=")[1].split("(")[0].split("±"))
    assert abs(value - 6.4e-21 / 2.1e-24) < 4 * sigma  # the preset's own beta, 3048
    eff_line = next(line for line in text.splitlines() if "collection_efficiency =" in line)
    eff, eff_sigma = (float(x.split()[0]) for x in eff_line.split("=")[1].split("±"))
    assert abs(eff - 0.15) < 4 * eff_sigma + 1e-3  # the simulated bench's 0.15


def test_fit_with_an_unknown_parameter_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "s.h5"
    main(["run", "scurve", "--out", str(out), "--no-plot", "--set", "sweep_down=no"])
    capsys.readouterr()
    assert main(["fit", str(out), "--free", "flux_capacitor"]) == 2
    assert "flux_capacitor" in capsys.readouterr().err


def test_a_parameter_combination_the_data_cannot_be_described_with_is_a_usage_error(
        tmp_path):
    """Checked while the run's data is described (before the bench is touched): exit 2 with
    the reason, no traceback and no file."""
    out = tmp_path / "bad.h5"
    proc = run_cli("run", "confocal", "--set", "powers_W=0.1", "--set",
                   "intensities_kW_cm2=5", "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "give one power series" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
