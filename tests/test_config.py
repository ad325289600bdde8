"""The lab config is checked completely, with file and key in every error, before any
instrument is touched."""

from __future__ import annotations

import pytest

from avlab.config import BUILTIN_CONFIG_NAME, ConfigError, load_config, parse_config

GOOD = """
[optics]
numerical_aperture = 1.49
transmission_to_sample = 0.3

[instruments.pump_1064]
driver = "ipg_ylr"
resource = "sim"
[instruments.pump_1064.limits]
max_power_W = 2.0

[instruments.detector]
driver = "nidaq_counter"
resource = "sim"
[instruments.detector.limits]
max_count_rate_cps = 1e6
"""


def error_for(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "lab.toml")
    return info.value


def test_builtin_config_is_the_simulated_bench():
    config = load_config()
    assert config.source == BUILTIN_CONFIG_NAME
    assert config.uses_simulation
    assert set(config.instruments) == {"pump_1064", "power_meter", "detector"}
    assert config.optics.numerical_aperture == 1.49


def test_example_lab_config_parses():
    from pathlib import Path

    import experiments

    path = Path(experiments.__file__).parent / "labs" / "example_lab.toml"
    config = load_config(path)
    assert not config.uses_simulation
    assert config.instruments["fiber_pump"].resource.startswith("ASRL")
    assert config.instruments["fiber_pump"].wavelength_nm == 1064.0


def test_waist_is_derived_from_wavelength_and_na_when_not_given():
    config = parse_config(GOOD)
    assert config.optics.waist_um(1064.0) == pytest.approx(0.3032, abs=1e-3)


def test_waist_given_in_the_config_wins():
    config = parse_config(GOOD.replace("transmission_to_sample = 0.3",
                                       "transmission_to_sample = 0.3\nspot_waist_um = 0.5"))
    assert config.optics.waist_um(1064.0) == 0.5


def test_malformed_toml_names_the_file_and_line():
    err = error_for("[optics\nnumerical_aperture = 1")
    assert str(err).startswith("lab.toml: not valid TOML")
    assert "line 1" in str(err)


def test_a_freely_named_role_without_a_kind_is_told_what_to_add():
    err = error_for(GOOD.replace("pump_1064", "main_pump"))
    assert err.key == "instruments.main_pump.kind"
    assert 'add kind = "laser" to [instruments.main_pump]' in str(err)


def test_unknown_driver_is_reported():
    err = error_for(GOOD.replace('driver = "ipg_ylr"', 'driver = "ipg_ylx"'))
    assert err.key == "instruments.pump_1064.driver"
    assert "unknown driver 'ipg_ylx'" in str(err)


def test_driver_of_the_wrong_kind_is_reported():
    err = error_for(GOOD.replace('driver = "ipg_ylr"', 'driver = "thorlabs_pm100"'))
    assert err.key == "instruments.pump_1064.driver"
    assert "drives a power_meter, but role 'pump_1064' is a laser" in str(err)


def test_missing_limit_is_reported():
    err = error_for(GOOD.replace("max_power_W = 2.0", ""))
    assert err.key == "instruments.pump_1064.limits.max_power_W"
    assert "missing safety limit" in str(err)


@pytest.mark.parametrize("value", ["-1", "0"])
def test_impossible_limit_is_reported(value):
    err = error_for(GOOD.replace("max_power_W = 2.0", f"max_power_W = {value}"))
    assert err.key == "instruments.pump_1064.limits.max_power_W"
    assert "impossible limit" in str(err)


def test_limit_above_the_rated_power_is_impossible():
    err = error_for(GOOD.replace('resource = "sim"\n[instruments.pump_1064.limits]',
                                 'resource = "sim"\nmax_power_W = 1.0\n'
                                 '[instruments.pump_1064.limits]', 1))
    assert err.key == "instruments.pump_1064.limits.max_power_W"
    assert "rated power is 1 W" in str(err)


def test_limit_that_is_not_a_number_is_reported():
    err = error_for(GOOD.replace("max_count_rate_cps = 1e6", 'max_count_rate_cps = "lots"'))
    assert err.key == "instruments.detector.limits.max_count_rate_cps"


def test_typo_in_a_key_is_reported_not_ignored():
    err = error_for(GOOD.replace("resource = \"sim\"", "resource = \"sim\"\nresorce = 1", 1))
    assert err.key == "instruments.pump_1064.resorce"


def test_impossible_optics_are_reported():
    err = error_for(GOOD.replace("transmission_to_sample = 0.3", "transmission_to_sample = 1.3"))
    assert err.key == "optics.transmission_to_sample"
    err = error_for(GOOD.replace("numerical_aperture = 1.49", "numerical_aperture = -1"))
    assert err.key == "optics.numerical_aperture"


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.toml")


def test_unknown_sample_preset_is_reported():
    err = error_for(GOOD + '\n[simulation]\nsample_preset = "er_1550"\n')
    assert err.key == "simulation.sample_preset"


def test_bad_config_touches_no_instrument(tmp_path, monkeypatch):
    """A broken config fails in load_config, before Bench could connect anything."""
    import avlab.connect

    calls = []
    monkeypatch.setattr(avlab.connect, "connect_role", lambda *a: calls.append(a))
    from avlab.cli import main

    bad = tmp_path / "lab.toml"
    bad.write_text(GOOD.replace("max_power_W = 2.0", "max_power_W = -2"))
    assert main(["run", "scurve", "--config", str(bad), "--out", str(tmp_path / "x.h5")]) == 2
    assert calls == []
    assert not (tmp_path / "x.h5").exists()


def test_an_omitted_dead_time_is_one_value_for_the_twin_and_the_rate_correction():
    # The simulated detector and the app's dead-time correction once defaulted differently
    # (22 ns against 0), so a config without dead_time_ns measured saturation it never undid.
    from avlab.bench import Bench
    from avlab.roles import DEFAULT_DEAD_TIME_NS

    config = parse_config(GOOD)
    assert config.instruments["detector"].options["dead_time_ns"] == DEFAULT_DEAD_TIME_NS
    with Bench(config) as bench:
        twin = bench.twins["detector"]
        assert bench.detector().dead_time_s == twin.dead_time_s == DEFAULT_DEAD_TIME_NS * 1e-9


def test_the_cryostat_cut_off_defaults_to_the_highest_setpoint():
    config = parse_config(GOOD + """
[instruments.cryostat]
driver = "lakeshore_33x"
resource = "sim"
[instruments.cryostat.limits]
max_setpoint_K = 320.0
""")
    assert config.instruments["cryostat"].limits["temperature_limit_K"] == 320.0
