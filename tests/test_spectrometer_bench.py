"""The spectrometer role on the simulated bench."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import load_config, parse_config
from avlab.errors import SafetyLimitError

CONFIG = Path(experiments.__file__).parent / "labs" / "spectrometer_sim.toml"
SPECTRAPRO = CONFIG.read_text().replace(
    'driver = "ocean_seabreeze"\nresource = "sim"                   # on hardware: the serial '
    'number, or "first"\ncorrect_dark_counts = true',
    'driver = "spectrapro"\nresource = "sim"\ngrating = 1\ncenter_wavelength_nm = 800.0')


@pytest.fixture(params=["ocean", "spectrapro"])
def bench(request):
    config = (load_config(CONFIG) if request.param == "ocean"
              else parse_config(SPECTRAPRO, "spectrapro.toml"))
    with Bench(config) as b:
        yield b


def test_the_tm_800_nm_line_appears_above_threshold(bench):
    laser = bench.laser()
    laser.set_power_W(1.0)  # ~20 kW/cm² at the focus: well above threshold
    laser.emission_on()
    spectrum = bench.spectrometer().acquire(10.0)
    peak_nm = spectrum.wavelengths_nm[np.argmax(spectrum.counts)]
    assert peak_nm == pytest.approx(800.0, abs=5.0)
    assert not spectrum.saturated


def test_no_light_no_line(bench):
    spectrum = bench.spectrometer().acquire(10.0)
    line = spectrum.window(790.0, 810.0)
    assert spectrum.counts[line].max() < spectrum.counts.mean() + 10 * spectrum.counts.std() + 50


def test_exposure_above_the_configured_limit_is_refused(bench):
    with pytest.raises(SafetyLimitError, match="exceeds the configured limit 60 s"):
        bench.spectrometer().acquire(120.0)


def test_a_real_spectrapro_without_the_camera_sdk_says_what_to_install():
    text = SPECTRAPRO.replace('driver = "spectrapro"\nresource = "sim"',
                              'driver = "spectrapro"\nresource = "ASRL/dev/ttyUSB9::INSTR"')
    with Bench(parse_config(text, "real.toml"), keep_going=True) as bench:
        assert "pip install pylablib" in bench.failures["spectrometer"]
        assert "spectrometer" not in bench.devices
