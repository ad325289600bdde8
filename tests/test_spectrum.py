"""Spectrum power series on the simulated spectrometer bench: band slopes match the model's
(sim_devices.physics.spectra), the stack and the calibration are stored, nothing saturates."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import parse_config
from avlab.runner import Runner
from experiments.spectrum.procedure import Spectrum, ladder_exposure, parse_bands
from sim_devices.physics.spectra import line_intensities

LAB = Path(experiments.__file__).parent / "labs" / "spectrometer_sim.toml"


@pytest.fixture(scope="module")
def power_series(tmp_path_factory):
    # More light than the shipped bench (fibre throughput 1, collection 0.5) so that the weak
    # 475 nm line stands well above the detector noise at every power.
    text = LAB.read_text().replace("correct_dark_counts = true",
                                   "correct_dark_counts = true\nthroughput = 1.0") \
        .replace("collection_efficiency = 0.15", "collection_efficiency = 0.5")
    config = parse_config(text, "spectrometer_bright.toml")
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=3))
    with Bench(config) as bench:
        procedure = Spectrum(powers_W="0.5,0.7,1.0,1.4,2.0", max_exposure_s=60.0, averages=8)
        result = Runner(procedure, bench, tmp_path_factory.mktemp("spec") / "s.h5").run()
        model = {name: [line_intensities(bench.world.preset, i, bench.world.temperature_K)[name]
                        for i in result.analysis.detail["intensity"]]
                 for name in ("Tm 475", "Tm 800")}
        assert not bench.laser().is_emitting
    return procedure, result, model


def test_band_slopes_match_the_model(power_series):
    _, result, model = power_series
    assert result.status == "completed", result.message
    detail = result.analysis.detail
    intensity = detail["intensity"]
    for name in ("Tm 475", "Tm 800"):
        expected = np.polyfit(np.log(intensity), np.log(model[name]), 1)[0]
        measured = detail["slopes"][detail["names"].index(name)]
        assert measured == pytest.approx(expected, rel=0.10), name
    # lines of different order: the 475 nm line grows about one power faster
    assert detail["slopes"][detail["names"].index("Tm 475")] > \
        detail["slopes"][detail["names"].index("Tm 800")] + 0.5


def test_spectra_are_stored_as_a_stack_with_calibration(power_series):
    procedure, result, _ = power_series
    data = result.data
    spectra = data.arrays["spectra"]
    assert spectra.stacked and spectra.shape == (5, 2048)
    assert np.all(np.diff(data.array_axes["pump_intensity_kW_cm2"]) > 0)
    wavelengths = data.arrays["wavelength_nm"].read()
    m = data.results["measurements"]
    fit = np.polynomial.polynomial.polyval(np.arange(2048), [m[f"calibration_c{i}_nm"][0]
                                                            for i in range(4)])
    assert np.max(np.abs(fit - wavelengths)) < 0.01
    assert not np.any(data.columns["saturated"][-1:])
    assert np.all(data.columns["peak_fraction"] < 0.85)
    names = [b[0] for b in parse_bands(str(data.parameters["bands"][0]))]
    assert "Tm 800" in names and "Tm 475" in names  # bands from the sample's lines
    # the brightest band sits at 800 nm
    k = int(np.argmax(spectra[-1]))
    assert wavelengths[k] == pytest.approx(800.0, abs=5.0)


def test_exposure_ladder_and_band_parsing():
    assert ladder_exposure(3.7) == 2.0 and ladder_exposure(0.06) == pytest.approx(0.05)
    assert parse_bands("Tm 800:780-820;B:1-2") == [("Tm 800", 780.0, 820.0), ("B", 1.0, 2.0)]
    with pytest.raises(ValueError):
        parse_bands("x:5-1")
