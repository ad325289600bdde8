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
from experiments.spectrum.procedure import (
    Spectrum,
    fit_band_slope,
    ladder_exposure,
    parse_bands,
)
from sim_devices.physics.spectra import line_intensities
from tests.support.lasers import record_emission_starts

LAB = Path(experiments.__file__).parent / "labs" / "spectrometer_sim.toml"


@pytest.fixture(scope="module")
def power_series(tmp_path_factory):
    # More light than the shipped bench (fibre throughput 1, collection 0.5) and half an hour
    # of light per spectrum (simulated time): enough for the 475 and 645 nm lines; the 695 nm
    # line (weak and shallow: it only doubles over the range) stays undetermined.
    text = LAB.read_text().replace("correct_dark_counts = true",
                                   "correct_dark_counts = true\nthroughput = 1.0") \
        .replace("collection_efficiency = 0.15", "collection_efficiency = 0.5")
    config = parse_config(text, "spectrometer_bright.toml")
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=3))
    with Bench(config) as bench:
        procedure = Spectrum(powers_W="0.7,1.0,1.4,2.0,2.8", max_exposure_s=60.0, averages=8,
                             integration_s=2000.0)
        result = Runner(procedure, bench, tmp_path_factory.mktemp("spec") / "s.h5").run()
        model = {name: [line_intensities(bench.world.preset, i, bench.world.temperature_K)[name]
                        for i in result.analysis.detail["intensity"]]
                 for name in result.analysis.detail["names"]}
        assert not bench.laser().is_emitting
    return procedure, result, model


def test_band_slopes_match_the_model(power_series):
    """Every band of the sample inside the detector's range: a determined slope is within 10 %
    of the model's (the same log-log least-squares slope through the model's line intensities
    at the measured intensities); an undetermined one says so, with an uncertainty that covers
    its distance from the model."""
    _, result, model = power_series
    assert result.status == "completed", result.message
    detail = result.analysis.detail
    intensity = detail["intensity"]
    assert detail["names"] == ["Tm 475", "Tm 645", "Tm 695", "Tm 800"]
    verdict = dict(zip(detail["names"], detail["determined"]))
    assert verdict == {"Tm 475": True, "Tm 645": True, "Tm 695": False, "Tm 800": True}
    for j, name in enumerate(detail["names"]):
        expected = np.polyfit(np.log(intensity), np.log(model[name]), 1)[0]
        measured, sigma = detail["slopes"][j], detail["sigmas"][j]
        assert np.isfinite(sigma) and sigma > 0, name
        if verdict[name]:
            assert measured == pytest.approx(expected, rel=0.10), name
        else:  # σ is the band's noise only (not the power meter's): it rules a weak band
            assert sigma > 0.033 * abs(measured)
            assert abs(measured - expected) < 4 * sigma, (name, measured, sigma, expected)
    assert any("Tm 695: slope" in line and "NOT DETERMINED" in line
               for line in result.analysis.summary)
    assert not result.analysis.scalars["slope_Tm_695_determined"][0]
    # lines of different order: the 475 nm line grows about one power faster
    assert detail["slopes"][detail["names"].index("Tm 475")] > \
        detail["slopes"][detail["names"].index("Tm 800")] + 0.5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_band_slope_on_a_cooled_ccd(tmp_path, seed):
    """The weak, shallow 695 nm line too: on the shipped SpectraPro + cooled-CCD bench (dark
    current 0.05 e/s, read noise 6 e) an hour of light per spectrum determines every band, and
    each slope is within 10 % of the model's (docs/physics.md §4)."""
    lab = LAB.parent / "spectrapro_sim.toml"
    config = parse_config(lab.read_text(), lab.name)
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=seed))
    with Bench(config) as bench:
        procedure = Spectrum(powers_W="0.7,1.0,1.4,2.0,2.8", pixels=1024, averages=4,
                             max_exposure_s=60.0, integration_s=3600.0)
        result = Runner(procedure, bench, tmp_path / "ccd.h5").run()
        assert result.status == "completed", result.message
        detail = result.analysis.detail
        intensity = detail["intensity"]
        assert detail["names"] == ["Tm 475", "Tm 645", "Tm 695", "Tm 800"]
        for j, name in enumerate(detail["names"]):
            model = [line_intensities(bench.world.preset, i, bench.world.temperature_K)[name]
                     for i in intensity]
            expected = np.polyfit(np.log(intensity), np.log(model), 1)[0]
            assert detail["determined"][j], (name, detail["slopes"][j], detail["sigmas"][j])
            assert detail["slopes"][j] == pytest.approx(expected, rel=0.10), name
            # the stated uncertainty is honest: the model lies within 4 σ
            assert abs(detail["slopes"][j] - expected) < 4 * detail["sigmas"][j] + 1e-3, name


def test_emission_starts_at_the_first_power_not_at_the_last_setpoint(tmp_path):
    """A previous run left the laser at 3 W: the spectrum series switches emission on only
    after setting its first power."""
    with Bench(parse_config(LAB.read_text(), LAB.name)) as bench:
        laser = bench.laser()
        laser.set_power_W(3.0)
        starts = record_emission_starts(laser)
        result = Runner(Spectrum(powers_W="0.4,0.6", averages=1, integration_s=0.0),
                        bench, tmp_path / "s.h5").run()
    assert result.status == "completed", result.message
    assert starts and max(starts) <= 0.6, starts


def test_averaging_keeps_the_light_per_spectrum(power_series):
    """With integration_s the short exposures at high power average more frames."""
    _, result, _ = power_series
    columns = result.data.columns
    light_s = columns["exposure_s"] * columns["averages"]
    assert np.all(light_s >= 2000.0) and np.all(light_s < 2000.0 + columns["exposure_s"])
    assert columns["exposure_s"][-1] < columns["exposure_s"][0]


def test_a_band_without_light_is_not_determined():
    """Rates scattering about zero: no slope is claimed."""
    intensity = np.array([1.0, 2.0, 4.0, 8.0])
    slope, sigma = fit_band_slope(intensity, np.array([3.0, -2.0, 4.0, 1.0]),
                                  np.full(4, 3.0))
    assert sigma == float("inf")
    slope, sigma = fit_band_slope(intensity, 100 * intensity**2, 0.01 * 100 * intensity**2)
    assert slope == pytest.approx(2.0) and 0 < sigma < 0.02


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


def test_background_off_the_particle_when_the_bench_has_a_scanner(tmp_path):
    """With a scanner the background frame is taken with the pump on and the beam parked beside
    the particle (the stored parameter says so); without one the run says it used the
    off-band median."""
    confocal = (LAB.parent / "confocal_sim.toml").read_text()
    spectrometer = LAB.read_text()
    block = spectrometer[spectrometer.index("[instruments.spectrometer]"):
                         spectrometer.index("[simulation]")]
    text = confocal.replace("[simulation]", block + "\n[simulation]") \
        .replace("collection_efficiency = 0.15", "collection_efficiency = 0.15\nseed = 2")
    with Bench(parse_config(text, "confocal_spectrometer.toml")) as bench:
        home = tuple(bench.world.beam_position_um)
        procedure = Spectrum(powers_W="1.0,1.5", averages=2, settle_s=0.1)
        result = Runner(procedure, bench, tmp_path / "off.h5").run()
        assert tuple(bench.world.beam_position_um) == pytest.approx(home)  # beam back
    assert result.status == "completed", result.message
    data = result.data
    assert str(data.parameters["background"][0]) == "off_particle"
    # the simulated bench has no stray light: beside the particle only the dark is left
    assert np.all(np.abs(data.columns["background_cps"]) < 5.0)
    assert result.analysis.scalars["band_Tm_800_cps"][0] > 1e3


def test_without_a_scanner_the_run_says_the_background_is_the_off_band_median(power_series):
    _, result, _ = power_series
    assert str(result.data.parameters["background"][0]) == "off_band"
