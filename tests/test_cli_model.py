"""`avlab model` (predictions without a bench) and `avlab run --sample` (a designed sample on
the simulated bench), through the real command line entry point."""

from __future__ import annotations

import re

import pytest

from avlab.cli import main
from avlab.config import ConfigError, builtin_config_text, parse_config, with_sample_overrides
from avlab.storage import read_run
from sim_devices.physics import PRESETS
from sim_devices.physics.overrides import apply_overrides
from sim_devices.physics.predict import predict


def _figure(text: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)}\s+([0-9.]+)", text, re.MULTILINE)
    assert match, f"{label!r} not in:\n{text}"
    return float(match.group(1))


def test_model_prints_the_figures_of_a_design(capsys):
    assert main(["model", "--set", "concentration=0.04", "--set", "NA=1.4"]) == 0
    text = capsys.readouterr().out
    expected = predict(apply_overrides(PRESETS["tm8_1064"], {"concentration": 0.04}),
                       numerical_aperture=1.4, rise_time=False)
    assert "tm8_1064 [concentration=0.04]" in text
    assert _figure(text, "S_max") == pytest.approx(expected.s_max, abs=0.006)
    assert _figure(text, "threshold, S peak") == pytest.approx(
        expected.threshold_s_peak_kW_cm2, rel=1e-3)
    assert _figure(text, "threshold, tangent") == pytest.approx(
        expected.threshold_tangent_kW_cm2, rel=1e-3)
    assert _figure(text, "PASSI spot FWHM at S_max") == pytest.approx(expected.spot_fwhm_nm,
                                                                      abs=0.06)
    assert 100 < _figure(text, "t½ peak") < 1000  # ms, critical slowing down near threshold


def test_model_series_prints_a_table_and_writes_a_png(tmp_path, capsys):
    png = tmp_path / "c.png"
    assert main(["model", "--series", "concentration=0.04:0.12:3", "--png", str(png),
                 "--no-rise-time"]) == 0
    text = capsys.readouterr().out
    rows = [line.split() for line in text.splitlines() if re.match(r"\s*0\.(04|08|12)\s", line)]
    assert [r[0] for r in rows] == ["0.04", "0.08", "0.12"]
    s_max = [float(r[1]) for r in rows]
    assert s_max[1] == pytest.approx(26.44, abs=0.01)  # the shipped sample's pinned S_max
    assert s_max[0] != s_max[1] != s_max[2]
    assert "steepest avalanche" in text
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_model_series_over_temperature(tmp_path, capsys):
    png = tmp_path / "t.png"
    assert main(["model", "--series", "temperature=100:295:2", "--png", str(png),
                 "--no-rise-time"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if re.match(r"\s*(100|295)\s", line)]
    assert float(rows[0][1]) > float(rows[1][1])  # colder: steeper (docs/physics.md)
    assert float(rows[1][1]) == pytest.approx(26.44, abs=0.01)


@pytest.mark.parametrize("args, message", [
    (["--set", "colour=2"], "unknown sample parameter 'colour'"),
    (["--set", "concentration"], "expected NAME=VALUE"),
    (["--preset", "nd_1064", "--set", "concentration=0.05"], "'CR'"),
    (["--set", "wavelength_nm=1450"], "choose the preset for that pump"),
    (["--series", "concentration=0.02:0.2"], "START:STOP:COUNT"),
    (["--preset", "nope"], "unknown sample preset 'nope'"),
])
def test_model_usage_errors(args, message, capsys):
    assert main(["model", *args]) == 2
    assert message in capsys.readouterr().err


def test_run_sample_override_reaches_the_simulated_sample(tmp_path):
    out = tmp_path / "s.h5"
    assert main(["run", "scurve", "--out", str(out), "--no-plot", "--set", "points=12",
                 "--sample", "concentration=0.04"]) == 0
    sample = read_run(out).sample
    assert "concentration=0.04" in str(sample["name"][0])
    expected = apply_overrides(PRESETS["tm8_1064"], {"concentration": 0.04})
    assert float(sample["model_threshold_loop_kW_cm2"][0]) == pytest.approx(
        expected.loop_threshold_kW_cm2(), rel=1e-9)
    assert int(sample["ions_per_particle"][0]) == 2300


def test_config_sample_table_and_its_errors():
    text = builtin_config_text() + "\n[simulation.sample]\nconcentration = 0.06\nshell = 1.0\n"
    config = parse_config(text)
    assert dict(config.simulation.sample) == {"concentration": 0.06, "shell_thickness_nm": 1.0}
    preset, temperature = config.simulation.sample_for_world()
    assert preset.species_named("Tm").concentration == 0.06 and temperature is None
    merged = with_sample_overrides(config, ["concentration=0.1", "T=77"])
    assert dict(merged.simulation.sample)["concentration"] == 0.1
    assert merged.simulation.sample_for_world()[1] == 77.0
    with pytest.raises(ConfigError, match="simulation.sample"):
        parse_config(builtin_config_text() + "\n[simulation.sample]\nconcentration = 3\n")
