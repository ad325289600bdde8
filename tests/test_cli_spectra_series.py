"""`avlab run spectrum | series` through the command line on the simulated lab files, with
reduced parameters: exit 0, the run file and its PNG written, `avlab inspect` shows the steps."""

from __future__ import annotations

from pathlib import Path

import experiments
from avlab.cli import main
from avlab.storage import read_run, run_entries

LABS = Path(experiments.__file__).parent / "labs"


def test_run_spectrum_writes_the_stack_and_the_png(tmp_path, capsys):
    out = tmp_path / "spectrum.h5"
    code = main(["run", "spectrum", "--config", str(LABS / "spectrometer_sim.toml"),
                 "--set", "powers_W=0.8,1.2,1.8", "--set", "averages=2",
                 "--set", "settle_s=0.1", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "band Tm 800: slope S" in text
    run = read_run(out)
    assert run.status == "completed" and run.arrays["spectra"].shape == (3, 2048)
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_run_series_over_temperature_and_inspect_shows_every_step(tmp_path, capsys):
    out = tmp_path / "series.h5"
    code = main(["run", "series", "--config", str(LABS / "cryostat_sim.toml"),
                 "--set", "over=temperature_K=10,30", "--set", "hold_s=10",
                 "--set", "inner=power_min_W=0.2;power_max_W=5;sweep_down=false;points=12;"
                          "refine=false",
                 "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert run_entries(out) == ["entry", "step_00", "step_01"]
    assert all(read_run(out, entry=e).status == "completed" for e in ("step_00", "step_01"))
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "step_00" in shown and "step_01" in shown
    assert "further runs in this file (2" in shown


def test_unknown_run_option_is_a_usage_error(tmp_path, capsys):
    code = main(["run", "series", "--over", "temperature_K=10,20",
                 "--out", str(tmp_path / "x.h5")])
    assert code == 2
    assert "unrecognized arguments: --over" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()
