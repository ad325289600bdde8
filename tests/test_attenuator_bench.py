"""The pump attenuator on the bench: limits, extinction as a second barrier, and an S-curve
that sweeps transmission with the laser held fixed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import ConfigError, load_config, parse_config
from avlab.errors import ParameterError, SafetyLimitError
from avlab.runner import Runner
from avlab.storage import read_run
from experiments.scurve import SCurve

CONFIG = Path(experiments.__file__).parent / "labs" / "attenuator_sim.toml"


@pytest.fixture
def bench():
    config = load_config(CONFIG)
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=11))
    with Bench(config) as b:
        yield b


def test_a_session_starts_at_extinction(bench):
    assert bench.attenuator().transmission() == pytest.approx(2e-4, rel=0.05)


def test_transmission_outside_the_configured_range_is_refused(bench):
    with pytest.raises(SafetyLimitError, match="configured range of attenuator"):
        bench.attenuator().set_transmission(1e-3)


def test_setting_a_transmission_attenuates_what_the_meter_sees(bench):
    laser, meter, attenuator = bench.laser(), bench.power_meter(), bench.attenuator()
    meter.configure(wavelength_nm=1064.0)
    laser.set_power_W(2.0)
    laser.emission_on()
    readings = {}
    for t in (0.9, 0.09, 0.01):
        attenuator.set_transmission(t)
        readings[t] = meter.power_W()
    assert readings[0.9] / readings[0.01] == pytest.approx(90.0, rel=0.02)
    assert readings[0.9] / readings[0.09] == pytest.approx(10.0, rel=0.02)


def test_scurve_sweeps_the_transmission_with_the_laser_held(bench, tmp_path):
    result = Runner(SCurve(), bench, tmp_path / "att.h5").run()
    assert result.status == "completed"
    assert 20.0 <= result.analysis.detail.up.s_max <= 30.0
    assert result.analysis.detail.up.threshold_s_peak_kW_cm2 == pytest.approx(5.33, rel=0.05)
    c = read_run(tmp_path / "att.h5").columns
    assert np.all(c["power_setpoint_W"] == bench.laser().max_power_W)  # the default: its limit
    up = c["direction"] == 1
    assert np.nanmin(c["transmission"][up]) == pytest.approx(1e-2, rel=0.05)
    assert np.nanmax(c["transmission"]) == pytest.approx(0.9, rel=0.01)
    # The intensity axis comes from the meter: it tracks the nominal transmission.
    ratio = c["intensity_kW_cm2"] / c["transmission"]
    assert np.std(ratio) / np.mean(ratio) < 0.02
    assert result.shutdown.outcomes == {"pump_1064": "emission off",
                                        "attenuator": "at extinction"}


def test_scurve_transmission_range_is_checked_against_the_limits(bench, tmp_path):
    with pytest.raises(ParameterError, match="configured range of attenuator"):
        Runner(SCurve(transmission_min=1e-3), bench, tmp_path / "x.h5").run()


def test_scurve_can_still_sweep_the_laser_instead(bench, tmp_path):
    result = Runner(SCurve(use_attenuator=False, sweep_down=False), bench,
                    tmp_path / "laser.h5").run()
    c = read_run(tmp_path / "laser.h5").columns
    assert np.all(np.isnan(c["transmission"]))
    assert c["power_setpoint_W"].min() == pytest.approx(0.08)
    assert result.status == "completed"


def test_impossible_attenuator_limits_are_a_config_error():
    text = CONFIG.read_text().replace("min_transmission = 1e-2", "min_transmission = 1e-5")
    with pytest.raises(ConfigError, match="attenuator.limits: impossible limits"):
        parse_config(text, "att.toml")


def test_motor_stall_mid_run_fails_the_run_with_the_pump_off(tmp_path):
    text = CONFIG.read_text() + ('\nseed = 2\n[[simulation.faults]]\nrole = "attenuator"\n'
                                 'fault = "motor_stall"\nat_s = 300.0\n')
    with Bench(parse_config(text, "stall.toml")) as bench:
        laser_twin = bench.laser().driver.adapter.device
        result = Runner(SCurve(), bench, tmp_path / "stall.h5").run()
        assert result.status == "failed"
        assert "MotionError" in result.message
        assert not laser_twin.emission_requested
    assert read_run(tmp_path / "stall.h5").n_points > 3
