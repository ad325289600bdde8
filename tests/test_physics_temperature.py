"""Temperature model (docs/physics.md §5): phonon scaling rules and the model-output table.

Tolerances on the §5 table: I_th ±1.5 %, S_max ±2 % (the engine lands within 0.5 %).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim_devices.physics import compile_model, emission_table
from sim_devices.physics.temperature import (
    hot_band_factor,
    multiphonon_factor,
    phonon_assisted_factor,
    phonon_occupation,
)

HW = 350.0  # cm⁻¹
T0 = 295.0

#: docs/physics.md §5 model output: (T in K, I_th in kW/cm² at the S peak, S_max).
TM_1064 = [(10.0, 5.81, 43.2), (150.0, 5.70, 36.6), (295.0, 5.33, 26.4), (400.0, 5.15, 21.9)]
PR_YB_852 = [(98.0, 9.1, 51.0), (173.0, 24.9, 30.0), (295.0, 68.9, 26.2), (448.0, 154.0, 26.5)]


# --- scaling rules ----------------------------------------------------------------------------

def test_phonon_occupation():
    assert phonon_occupation(HW, T0) == pytest.approx(1.0 / math.expm1(350.0 / (0.6950348 * 295)))
    assert phonon_occupation(HW, T0) == pytest.approx(0.2217, abs=1e-4)
    assert phonon_occupation(HW, 0.0) == 0.0
    assert phonon_occupation(HW, 1.0) < 1e-200
    assert phonon_occupation(HW, 1e-3) == 0.0  # no overflow warning deep in the freeze-out


def test_every_factor_is_one_at_the_reference_temperature():
    assert multiphonon_factor(4300.0, HW, T0, T0) == 1.0
    assert phonon_assisted_factor(-350.0, HW, T0, T0) == 1.0
    assert hot_band_factor(250.0, 4.0, T0, T0) == 1.0


def test_energy_gap_law_scaling():
    """W(T) = W(T0)·[(1+n)/(1+n0)]^(ΔE/ħω): at T → 0 only spontaneous phonon emission remains."""
    n0 = phonon_occupation(HW, T0)
    assert multiphonon_factor(4300.0, HW, 1e-3, T0) == pytest.approx((1 / (1 + n0)) ** (4300 / 350))
    n = phonon_occupation(HW, 400.0)
    expected = ((1 + n) / (1 + n0)) ** (4300 / 350)
    assert multiphonon_factor(4300.0, HW, 400.0, T0) == pytest.approx(expected)


def test_phonon_absorbing_processes_freeze_out_and_emitting_ones_survive():
    assert phonon_assisted_factor(-350.0, HW, 1e-3, T0) == 0.0
    n, n0 = phonon_occupation(HW, 100.0), phonon_occupation(HW, T0)
    assert phonon_assisted_factor(-700.0, HW, 100.0, T0) == pytest.approx((n / n0) ** 2)
    assert 0.0 < phonon_assisted_factor(1000.0, HW, 1e-3, T0) < 1.0
    assert phonon_assisted_factor(0.0, HW, 10.0, T0) == 1.0


def test_compiled_model_scales_the_right_processes():
    warm, cold = compile_model("tm8_1064"), compile_model("tm8_1064", 10.0)
    factor_cr = phonon_assisted_factor(1000.0, HW, 10.0, T0)
    assert cold.rates_per_s["transfer CR"] == pytest.approx(10240.0 * factor_cr)
    radiative = "radiative Tm:3H4 -> 3H6"
    assert cold.rates_per_s[radiative] == warm.rates_per_s[radiative]
    assert cold.rates_per_s["transfer ETU up"] == warm.rates_per_s["transfer ETU up"]
    assert cold.cross_sections_cm2["ESA"] == warm.cross_sections_cm2["ESA"]
    expected_gsa = (2.1e-24 * phonon_assisted_factor(800.0, HW, 10.0, T0)
                    * hot_band_factor(250.0, 4.0, 10.0, T0))
    assert cold.cross_sections_cm2["GSA"] == pytest.approx(expected_gsa)


def test_temperature_must_be_positive():
    with pytest.raises(ValueError):
        compile_model("tm8_1064", 0.0)


# --- the §5 table -------------------------------------------------------------------------------

@pytest.mark.parametrize(("temperature_K", "i_th", "s_max"), TM_1064)
def test_tm_1064_versus_temperature(temperature_K, i_th, s_max):
    got_s, got_i = emission_table("tm8_1064", temperature_K).s_max_refined()
    assert got_i == pytest.approx(i_th, rel=0.015)
    assert got_s == pytest.approx(s_max, rel=0.02)


@pytest.mark.parametrize(("temperature_K", "i_th", "s_max"), PR_YB_852)
def test_pr_yb_852_versus_temperature(temperature_K, i_th, s_max):
    got_s, got_i = emission_table("pryb_852", temperature_K).s_max_refined()
    assert got_i == pytest.approx(i_th, rel=0.015)
    assert got_s == pytest.approx(s_max, rel=0.02)


def test_trends():
    """Tm: cooling raises I_th a little and S_max a lot (weaker GSA); Pr/Yb: I_th rises ~17× from
    98 to 448 K (back-transfer and ¹G₄ multiphonon losses grow with T)."""
    tm = [emission_table("tm8_1064", t).s_max_refined() for t, _, _ in TM_1064]
    assert np.all(np.diff([i for _, i in tm]) < 0)
    assert np.all(np.diff([s for s, _ in tm]) < 0)
    pr = [emission_table("pryb_852", t).s_max_refined()[1] for t, _, _ in PR_YB_852]
    assert np.all(np.diff(pr) > 0)
    assert pr[-1] / pr[0] == pytest.approx(17.0, rel=0.05)
