"""Roles named freely with a kind; procedures pick a role by name when there are several."""

from __future__ import annotations

import pytest

from avlab.bench import Bench
from avlab.config import ConfigError, load_config, parse_config
from avlab.errors import ParameterError
from avlab.runner import Runner
from experiments.scurve import SCurve

TWO_LASERS_TWO_COUNTERS = """
[optics]
numerical_aperture = 1.49
transmission_to_sample = 0.30

[instruments.diode_852]
kind = "laser"
driver = "thorlabs_cld"
resource = "sim"
wavelength_nm = 852
threshold_current_A = 0.035
slope_efficiency_W_A = 0.8
max_current_A = 0.25
[instruments.diode_852.limits]
max_power_W = 0.15

[instruments.big_ylr]
kind = "laser"
driver = "ipg_ylr"
resource = "sim"
wavelength_nm = 1064
max_power_W = 5.0
[instruments.big_ylr.limits]
max_power_W = 3.0

[instruments.meter]
kind = "power_meter"
driver = "thorlabs_pm100"
resource = "sim"

[instruments.spad_quiet]
kind = "counter"
driver = "nidaq_counter"
resource = "sim"
dark_count_rate_cps = 20.0
[instruments.spad_quiet.limits]
max_count_rate_cps = 5e6

[instruments.spad_noisy]
kind = "counter"
driver = "nidaq_counter"
resource = "sim"
dark_count_rate_cps = 20000.0
[instruments.spad_noisy.limits]
max_count_rate_cps = 5e6

[simulation]
sample_preset = "tm8_1064"
seed = 11
"""


def _scurve(*assignments: str) -> SCurve:
    procedure = SCurve()
    procedure.set_from_strings(["points=8", "refine=false", "sweep_down=false",
                                "power_min_W=0.2", "power_max_W=2.5", "settle_s=0.2",
                                "dark_gate_s=5", *assignments])
    return procedure


@pytest.mark.parametrize(("detector", "dark_cps"), [("spad_quiet", 20.0),
                                                     ("spad_noisy", 20000.0)])
def test_scurve_runs_on_the_roles_chosen_by_name(tmp_path, detector, dark_cps):
    config = parse_config(TWO_LASERS_TWO_COUNTERS, "free.toml")
    assert {r: i.kind for r, i in config.instruments.items()} == {
        "diode_852": "laser", "big_ylr": "laser", "meter": "power_meter",
        "spad_quiet": "counter", "spad_noisy": "counter"}
    with Bench(config) as bench:
        procedure = _scurve("pump_role=big_ylr", f"detector_role={detector}")
        result = Runner(procedure, bench, tmp_path / "s.h5").run()
        assert not bench.laser("diode_852").is_emitting
    assert result.status == "completed", result.message
    data = result.data
    # The sweep drove the YLR: its setpoints reach 2.5 W (the diode is limited to 0.15 W).
    assert data.columns["power_setpoint_W"].max() == pytest.approx(2.5)
    # The counts came from the chosen counter: its dark rate is the run's dark reference.
    dark = data.results["measurements"]["dark_rate_cps"][0]
    assert dark == pytest.approx(dark_cps, rel=0.2)


def test_scurve_asks_which_counter_when_there_are_two():
    with Bench(parse_config(TWO_LASERS_TWO_COUNTERS, "free.toml")) as bench:
        with pytest.raises(ParameterError, match="spad_quiet, spad_noisy.*detector_role"):
            _scurve("pump_role=big_ylr").check(bench)


def test_a_laser_role_needs_its_wavelength():
    text = TWO_LASERS_TWO_COUNTERS.replace("wavelength_nm = 852\n", "")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "free.toml")
    assert caught.value.key == "instruments.diode_852.wavelength_nm"
    assert "wavelength_nm = 1064 in [instruments.diode_852]" in str(caught.value)


def test_an_unknown_kind_lists_the_kinds():
    text = TWO_LASERS_TWO_COUNTERS.replace('kind = "power_meter"', 'kind = "bolometer"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "free.toml")
    assert caught.value.key == "instruments.meter.kind"
    assert "laser, power_meter, counter" in str(caught.value)


def test_old_fixed_role_names_imply_kind_and_wavelength():
    config = load_config("experiments/labs/two_diodes_sim.toml")
    assert config.instruments["pump_1450"].kind == "laser"
    assert config.instruments["pump_1450"].wavelength_nm == 1450.0
    assert config.instruments["detector"].kind == "counter"
    assert config.instruments["power_meter"].kind == "power_meter"
