"""Avalanche thermometry on the simulated cryostat bench: a calibration from a temperature
series reads a temperature that is not in it back within its stated uncertainty."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import experiments
from avlab.bench import Bench
from avlab.config import parse_config
from avlab.runner import Runner
from avlab.storage import read_run
from experiments.series.procedure import Series
from experiments.thermometry.procedure import Calibration, Thermometry, build_calibration

CRYO = Path(experiments.__file__).parent / "labs" / "cryostat_sim.toml"


def test_calibration_reads_an_uncalibrated_temperature_back(tmp_path):
    config = parse_config(CRYO.read_text(), "cryo.toml")
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=5))
    with Bench(config) as bench:
        series = Series(over="temperature_K=100:280:4", hold_s=30.0,
                        inner="power_min_W=0.5;power_max_W=2;sweep_down=false;points=15;"
                              "max_refine_points=20")
        result = Runner(series, bench, tmp_path / "cal.h5").run()
        assert result.status == "completed", result.message
        cal = build_calibration(tmp_path / "cal.h5", 5.6)
        cal_path = cal.save(tmp_path / "cal.json")
        assert Calibration.load(cal_path) == cal
        assert all(cal.sensitivity_per_K(t) * 100 > 0.3 for t in cal.temperatures_K)  # %/K
        bench.cryostat().set_setpoint_K(250.0)  # not a calibration temperature
        bench.cryostat().wait_stable(tolerance_K=0.2, stable_s=60.0, timeout_s=20000.0)
        reading = Runner(Thermometry(calibration=str(cal_path)), bench,
                         tmp_path / "m.h5").run()
        assert not bench.laser().is_emitting
    assert reading.status == "completed", reading.message
    t, sigma = reading.analysis.detail["temperature"]
    assert 0.0 < sigma < 25.0
    assert abs(t - 250.0) <= sigma, (t, sigma)
    assert read_run(reading.path, entry="measurement").procedure == "scurve"
    png = Thermometry(calibration=str(cal_path)).plot(reading.data, reading.analysis,
                                                       tmp_path / "m.png")
    assert png.stat().st_size > 10_000


def test_missing_calibration_is_a_parameter_error(bench):
    from avlab.errors import ParameterError

    with pytest.raises(ParameterError, match="calibration"):
        Thermometry().check(bench)
