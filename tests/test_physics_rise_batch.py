"""The batched, numpy-only rise times (sim_devices.physics.rise_batch) against LSODA
(dynamics.rise_half_time_s, scipy), and the t½-peak search of `avlab model` built on them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sim_devices.physics import PRESETS, compile_model
from sim_devices.physics.dynamics import rise_half_time_s
from sim_devices.physics.overrides import apply_overrides
from sim_devices.physics.predict import predict
from sim_devices.physics.rise_batch import rise_half_times_s, rise_time_peaks


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_batched_rise_times_agree_with_lsoda(name):
    """Every shipped preset, below, at and above its threshold, one batch: within 0.2 %."""
    preset = PRESETS[name]
    model = compile_model(preset, preset.reference_temperature_K)
    threshold = predict(preset, rise_time=False).threshold_s_peak_kW_cm2
    if not np.isfinite(threshold):
        threshold = float(preset.loop_threshold_kW_cm2(preset.reference_temperature_K))
    intensities = threshold * np.array([[0.8, 1.0, 1.05, 1.5, 3.0]])
    batched = rise_half_times_s([model], intensities)[0]
    reference = np.array([rise_half_time_s(model, float(i)) for i in intensities[0]])
    np.testing.assert_allclose(batched, reference, rtol=2e-3)


def test_a_batch_of_samples_of_different_concentration_is_each_its_own():
    models = [compile_model(apply_overrides(PRESETS["tm8_1064"], {"concentration": c}), 295.0)
              for c in (0.04, 0.12)]
    intensities = np.array([[7.8, 9.0], [5.3, 6.0]])
    batched = rise_half_times_s(models, intensities)
    for r, model in enumerate(models):
        for k in range(2):
            assert batched[r, k] == pytest.approx(
                rise_half_time_s(model, float(intensities[r, k])), rel=2e-3)


def test_the_peak_search_finds_the_maximum_of_a_fine_lsoda_scan():
    """Independent of the search: LSODA on a 0.5 %-spaced grid around the threshold."""
    preset = apply_overrides(PRESETS["tm8_1064"], {"concentration": 0.06})
    model = compile_model(preset, 295.0)
    threshold = predict(preset, rise_time=False).threshold_s_peak_kW_cm2
    (t_peak, i_peak), = rise_time_peaks([model], [threshold])
    grid = threshold * np.exp(np.arange(-6, 40) * 0.005)
    scan = np.array([rise_half_time_s(model, float(i)) for i in grid])
    assert t_peak == pytest.approx(scan.max(), rel=2e-3)
    assert i_peak == pytest.approx(grid[np.argmax(scan)], rel=0.01)


def test_avlab_model_series_needs_no_scipy():
    """The design series is numpy only: importing scipy alone would cost ~0.4 s of it."""
    code = ("import sys; from avlab.cli import main; "
            "main(['model', '--series', 'concentration=0.04:0.08:2', '--png', sys.argv[1]]); "
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, "/dev/null"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_a_non_finite_intensity_is_refused_not_integrated_forever():
    model = compile_model(PRESETS["tm8_1064"], 295.0)
    with pytest.raises(ValueError, match="finite"):
        rise_half_times_s([model], np.array([[5.0, np.nan]]))
