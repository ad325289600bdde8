"""Avalanche thermometry on the simulated cryostat bench: a calibration from a temperature
series reads a temperature that is not in it back within its stated uncertainty."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import parse_config
from avlab.runner import Runner
from avlab.storage import read_run
from experiments.series.procedure import Series
from experiments.thermometry.procedure import (
    Calibration,
    Thermometry,
    build_calibration,
)
from tests.support.lasers import record_emission_starts

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


# --- band ratio ---------------------------------------------------------------------------------

CRYO_SPECTRA = Path(experiments.__file__).parent / "labs" / "cryostat_spectrometer_sim.toml"
SPECTRA = Path(experiments.__file__).parent / "labs" / "spectrometer_sim.toml"
#: Spectrum settings of calibration and reading: enough light on the weak 475 nm band.
SPECTRUM_INNER = "averages=30;target_fraction=0.8;settle_s=0.2"
INTENSITY_KW_CM2 = 16.0


@pytest.fixture(scope="module")
def band_ratio_calibration(tmp_path_factory):
    """A series of spectra at 200 … 340 K on the cryostat bench with a spectrometer, turned into
    a band-ratio calibration by the `thermometry-calibration` command."""
    import argparse

    from avlab.analysis.optics import power_for_intensity_W
    from experiments.thermometry.calibrate_command import add_command

    tmp = tmp_path_factory.mktemp("band_ratio")
    config = parse_config(CRYO_SPECTRA.read_text(), str(CRYO_SPECTRA))
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=5))
    with Bench(config) as bench:
        laser_W = power_for_intensity_W(INTENSITY_KW_CM2, config.optics.waist_um(1064.0)) / (
            config.optics.transmission_to_sample * config.simulation.attenuation_to_meter)
        powers = ",".join(f"{laser_W * f:.4g}" for f in (0.9, 0.95, 1.0, 1.05, 1.1))
        series = Series(do="spectrum", over="temperature_K=200:340:4", hold_s=30.0,
                        inner=f"powers_W={powers};{SPECTRUM_INNER}")
        result = Runner(series, bench, tmp / "series.h5").run()
        assert result.status == "completed", result.message
    parser = argparse.ArgumentParser()
    handler = add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["thermometry-calibration", str(tmp / "series.h5"),
                              "--method", "band_ratio", "--ratio", "Tm 475/Tm 800",
                              "--out", str(tmp / "cal.json")])
    assert handler(args) == 0
    return tmp / "cal.json"


def test_band_ratio_calibration_is_written_with_sensitivity_and_resolution(
        band_ratio_calibration):
    cal = Calibration.load(band_ratio_calibration)
    assert cal.method == "band_ratio" and cal.ratio == "Tm 475/Tm 800"
    assert "Tm 475:" in cal.bands and "Tm 800:" in cal.bands
    assert cal.intensity_kW_cm2 == pytest.approx(INTENSITY_KW_CM2, rel=0.1)
    assert cal.temperatures_K == pytest.approx([200.0, 246.67, 293.33, 340.0], abs=0.3)
    # the higher-order 475 nm line gains on the 800 nm line on warming (model: ~0.2-0.3 %/K)
    assert all(np.diff(cal.features) > 0)
    assert all(0.1 < 100 * cal.sensitivity_per_K(t) < 1.0 for t in cal.temperatures_K)
    assert all(0.0 < r < 10.0 for r in cal.resolutions_K())
    png = band_ratio_calibration.with_suffix(".png")
    assert png.stat().st_size > 10_000
    assert Calibration.load(cal.save(band_ratio_calibration.with_name("copy.json"))) == cal


def test_band_ratio_reads_an_uncalibrated_temperature_back(band_ratio_calibration, tmp_path):
    config = parse_config(CRYO_SPECTRA.read_text(), str(CRYO_SPECTRA))
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=11))
    with Bench(config) as bench:
        bench.cryostat().set_setpoint_K(270.0)  # between calibration points
        bench.cryostat().wait_stable(tolerance_K=0.2, stable_s=60.0, timeout_s=20000.0)
        laser = bench.laser()
        laser.set_power_W(laser.max_power_W)  # what an earlier run may have left set
        starts = record_emission_starts(laser)
        reading = Runner(Thermometry(calibration=str(band_ratio_calibration), span=0.1,
                                     inner=SPECTRUM_INNER), bench, tmp_path / "m.h5").run()
        assert not bench.laser().is_emitting
    # emission never came on at the old setpoint: at the probe, then at the spectra's powers
    first = float(read_run(reading.path, entry="measurement").columns["power_setpoint_W"][0])
    assert starts[:2] == pytest.approx([0.2 * laser.max_power_W, first]), starts
    assert max(starts) < laser.max_power_W
    assert reading.status == "completed", reading.message
    t, sigma = reading.analysis.detail["temperature"]
    assert 0.0 < sigma < 20.0
    assert abs(t - 270.0) <= sigma, (t, sigma)
    inner = read_run(reading.path, entry="measurement")
    assert inner.procedure == "spectrum" and inner.n_points == 5


def test_cli_reads_a_temperature_with_the_calibration_flag(band_ratio_calibration, tmp_path,
                                                           capsys):
    """`avlab run thermometry --calibration FILE` on another bench (no cryostat, a sample at
    270 K, NA 1.49 instead of 0.7, a different collection efficiency): the ratio needs no
    absolute signal level. The spectrometer bench with the fibre throughput of the cryostat
    bench, so the weak 475 nm band is as well measured, and a fixed seed."""
    from avlab.cli import main

    lab = tmp_path / "spectra.toml"
    lab.write_text(SPECTRA.read_text().replace("correct_dark_counts = true",
                                               "correct_dark_counts = true\nthroughput = 1.0")
                   .replace("collection_efficiency = 0.15", "collection_efficiency = 0.3\nseed = 4"))
    out = tmp_path / "reading.h5"
    code = main(["run", "thermometry", "--calibration", str(band_ratio_calibration),
                 "--config", str(lab), "--sample", "temperature_K=270",
                 "--set", "span=0.1", "--set", f"inner={SPECTRUM_INNER}", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    run = read_run(out)
    assert run.parameters["calibration"][0] == str(band_ratio_calibration)
    t = float(run.columns["temperature_K"][-1])
    sigma = float(run.columns["temperature_sigma_K"][-1])
    # another bench than the calibration's: 2 sigma (1.5 sigma with this seed); the reading on
    # the calibration bench itself is held to 1 sigma above
    assert abs(t - 270.0) <= 2 * sigma and sigma < 20.0, (t, sigma)
    assert out.with_suffix(".png").exists()
    assert main(["run", "thermometry", "--calibrate", "x", "--out", str(tmp_path / "b.h5")]) == 2
    assert "options of thermometry: --calibration" in capsys.readouterr().err
