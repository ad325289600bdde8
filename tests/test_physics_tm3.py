"""The Tm³⁺ 3-level photon-avalanche model reproduces the numbers of PHYSICS.md §7.

The reference numbers (S_max, thresholds, gains) were computed independently when the physics
was written down; these tests pin the implementation to them, and check the numerics
(fixed point, time-integration limit, Jacobian, exact slope, lookup table) on their own terms.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from sim_devices.physics import emission_table
from sim_devices.physics.table import TABLE_MIN_KW_CM2
from sim_devices.physics.tm3 import (
    TM_8PCT_1064_CALIBRATED,
    TM_8PCT_1064_LITERATURE,
    flux_derivative,
    jacobian,
    rates,
    steady_state_curve,
)

CAL = TM_8PCT_1064_CALIBRATED
LIT = TM_8PCT_1064_LITERATURE


def _peak(preset):
    """(S_max, I at S_max), located on a coarse global grid and refined on a local fine grid."""
    coarse_i = np.logspace(-2, 3, 3000)
    coarse = steady_state_curve(preset, coarse_i)
    k = int(np.argmax(coarse.slope))
    # Continue upward from low power into a dense grid across the peak (±1 %).
    fine_i = np.concatenate([
        np.logspace(-2, np.log10(0.98 * coarse_i[k]), 200),
        np.linspace(0.99 * coarse_i[k], 1.01 * coarse_i[k], 2001),
    ])
    fine = steady_state_curve(preset, fine_i)
    j = int(np.argmax(fine.slope))
    return coarse, float(fine.slope[j]), float(fine_i[j])


@pytest.fixture(scope="module")
def calibrated():
    """The calibrated preset on 3000 log points over 1e-2..1e3 kW/cm², and its S-peak."""
    curve, s_max, i_th = _peak(CAL)
    return {"curve": curve, "s_max": s_max, "i_th": i_th}


@pytest.fixture(scope="module")
def literature():
    curve, s_max, i_th = _peak(LIT)
    return {"curve": curve, "s_max": s_max, "i_th": i_th}


def _steady_state(preset, intensity_kW_cm2: float) -> np.ndarray:
    """(n1, n2) at one intensity, reached by continuation from low power."""
    curve = steady_state_curve(preset, np.logspace(-2, np.log10(intensity_kW_cm2), 300))
    return curve.populations[-1, 1:]


# --- the S-curve (PHYSICS.md §7.1) -------------------------------------------------------------

def test_calibrated_s_max_is_26_4(calibrated):
    assert calibrated["s_max"] == pytest.approx(26.4, abs=0.3)


def test_calibrated_s_peaks_at_5_33_kW_cm2(calibrated):
    assert calibrated["i_th"] == pytest.approx(5.33, abs=0.05)


def test_coarse_grid_exact_slope_already_finds_s_max(calibrated):
    """The exact slope on 3000 points (600 per decade) does not miss the narrow peak."""
    assert calibrated["curve"].slope.max() == pytest.approx(26.4, abs=0.3)


def test_loop_threshold_is_5_32_kW_cm2():
    assert CAL.loop_threshold_kW_cm2() == pytest.approx(5.32, abs=0.02)


def test_loop_threshold_agrees_with_s_peak(calibrated):
    assert CAL.loop_threshold_kW_cm2() == pytest.approx(calibrated["i_th"], rel=0.01)


def test_slope_is_2_at_low_power(calibrated):
    curve = calibrated["curve"]
    low = (curve.intensity_kW_cm2 >= 0.01) & (curve.intensity_kW_cm2 <= 0.1)
    assert np.all(np.abs(curve.slope[low] - 2.0) <= 0.02)


def test_slope_falls_below_0_1_in_saturation(calibrated):
    curve = calibrated["curve"]
    assert curve.intensity_kW_cm2[-1] == pytest.approx(1e3)
    assert curve.slope[-1] < 0.1


def test_emission_rises_38_fold_between_0_9_and_1_1_threshold(calibrated):
    i_th = calibrated["i_th"]
    emission = steady_state_curve(CAL, np.array([0.9 * i_th, 1.1 * i_th])).emission_per_ion
    assert 35.0 <= emission[1] / emission[0] <= 42.0


def test_pa_gain_g2_is_172(calibrated):
    i_th = calibrated["i_th"]
    emission = steady_state_curve(CAL, np.array([i_th, 2.0 * i_th])).emission_per_ion
    assert emission[1] / emission[0] == pytest.approx(172.0, rel=0.05)


def test_literature_beta_gives_s_max_47_7(literature):
    assert literature["s_max"] == pytest.approx(47.7, abs=0.5)


def test_literature_beta_peaks_at_the_same_threshold(literature):
    assert literature["i_th"] == pytest.approx(5.33, abs=0.05)


def test_literature_preset_has_beta_above_1e4():
    assert LIT.beta == pytest.approx(1.07e4, rel=0.01)
    assert CAL.beta == pytest.approx(3.0e3, rel=0.03)


# --- populations and steady state ----------------------------------------------------------

def test_populations_sum_to_one(calibrated):
    populations = calibrated["curve"].populations
    assert np.allclose(populations.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_populations_stay_between_zero_and_one(calibrated):
    populations = calibrated["curve"].populations
    assert populations.min() >= 0.0
    assert populations.max() <= 1.0


def test_emission_is_b_weighted_radiative_rate_of_level_2(calibrated):
    curve = calibrated["curve"]
    expected = (1.0 - CAL.branching_2_to_1) * CAL.w2_rad_per_s * curve.populations[:, 2]
    assert np.allclose(curve.emission_per_ion, expected, rtol=1e-12)


def _largest_rate_term(preset, x: np.ndarray, flux: float) -> float:
    """Magnitude of the biggest single process in the rate equations (the scale of 'zero')."""
    p = preset
    n1, n2 = x
    n0 = 1.0 - n1 - n2
    terms = [
        p.sigma_gsa_cm2 * flux * n0, p.sigma_esa_cm2 * flux * n1, p.w1_per_s * n1,
        (p.branching_2_to_1 * p.w2_rad_per_s + p.w2_nonrad_per_s) * n2,
        2.0 * p.s31_per_s * n0 * n2, (p.q_loss_per_s + 2.0 * p.q_up_per_s) * n1 * n1,
        (p.w2_rad_per_s + p.w2_nonrad_per_s) * n2, p.s31_per_s * n0 * n2, p.q_up_per_s * n1 * n1,
    ]
    return max(abs(t) for t in terms)


@pytest.mark.parametrize("intensity", [0.05, 1.0, 5.33, 5.6, 20.0, 300.0])
def test_steady_state_is_a_fixed_point_of_the_rate_equations(intensity):
    x = _steady_state(CAL, intensity)
    flux = float(CAL.photon_flux_per_cm2_s(intensity))
    residual = np.max(np.abs(rates(CAL, x, flux)))
    assert residual <= 1e-9 * _largest_rate_term(CAL, x, flux)


@pytest.mark.parametrize("intensity", [1.0, 5.6, 20.0, 300.0])
def test_steady_state_is_the_long_time_limit_from_the_dark_state(intensity):
    """LSODA from n1 = n2 = 0, pump on for 60 s (≫ the 0.22 s peak t½ just above threshold)."""
    flux = float(CAL.photon_flux_per_cm2_s(intensity))
    solution = solve_ivp(
        lambda _t, y: rates(CAL, y, flux), (0.0, 60.0), np.zeros(2), method="LSODA",
        jac=lambda _t, y: jacobian(CAL, y, flux), rtol=1e-10, atol=1e-14,
    )
    assert solution.success
    assert np.allclose(_steady_state(CAL, intensity), solution.y[:, -1], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    ("n1", "n2", "intensity"),
    [(0.0, 0.0, 1.0), (1e-4, 3e-7, 1.0), (0.05, 0.001, 5.6), (0.6, 0.23, 20.0), (0.1, 0.85, 300.0)],
)
def test_analytic_jacobian_matches_finite_differences(n1, n2, intensity):
    flux = float(CAL.photon_flux_per_cm2_s(intensity))
    x = np.array([n1, n2])
    h = 1e-7
    numeric = np.empty((2, 2))
    for j in range(2):
        dx = np.zeros(2)
        dx[j] = h
        numeric[:, j] = (rates(CAL, x + dx, flux) - rates(CAL, x - dx, flux)) / (2 * h)
    analytic = jacobian(CAL, x, flux)
    assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-6 * np.abs(analytic).max())


def test_flux_derivative_matches_finite_differences():
    x = np.array([0.05, 0.001])
    flux = float(CAL.photon_flux_per_cm2_s(5.6))
    h = flux * 1e-6
    numeric = (rates(CAL, x, flux + h) - rates(CAL, x, flux - h)) / (2 * h)
    assert np.allclose(flux_derivative(CAL, x), numeric, rtol=1e-6)


@pytest.mark.parametrize("centre", [0.05, 1.0, 3.0, 50.0])
def test_exact_slope_equals_finite_difference_slope_where_s_varies_slowly(centre):
    intensities = centre * np.logspace(-0.01, 0.01, 201)  # 1e-4 decade steps
    curve = steady_state_curve(CAL, intensities)
    log_i, log_y = np.log(intensities), np.log(curve.emission_per_ion)
    fd_slope = np.gradient(log_y, log_i)
    mid = slice(50, 151)  # away from the one-sided ends of np.gradient
    assert np.allclose(curve.slope[mid], fd_slope[mid], rtol=1e-4, atol=1e-4)


def _rise_half_time_s(preset, intensity: float, t_end: float) -> float:
    """From the dark state, the time for n2 to reach half its steady value (PHYSICS.md §3)."""
    from scipy.optimize import brentq

    flux = float(preset.photon_flux_per_cm2_s(intensity))
    final = _steady_state(preset, intensity)[1]
    solution = solve_ivp(
        lambda _t, y: rates(preset, y, flux), (0.0, t_end), np.zeros(2), method="LSODA",
        jac=lambda _t, y: jacobian(preset, y, flux), rtol=1e-10, atol=1e-14, dense_output=True,
    )
    assert solution.y[1, -1] == pytest.approx(final, rel=1e-3)
    return brentq(lambda t: solution.sol(t)[1] - final / 2, 0.0, t_end, xtol=1e-7)


@pytest.mark.parametrize(
    ("intensity", "t_half_s"),
    [(5.6, 0.224), (0.5 * 5.33, 8.8e-3), (3 * 5.33, 27e-3)],
    ids=["peak-near-1.05-Ith", "half-Ith", "three-Ith"],
)
def test_rise_half_time_matches_physics_reference(intensity, t_half_s):
    assert _rise_half_time_s(CAL, intensity, 3.0) == pytest.approx(t_half_s, rel=0.05)


def test_emission_rises_monotonically_with_intensity(calibrated):
    assert np.all(np.diff(calibrated["curve"].emission_per_ion) > 0)


# --- the lookup table ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def table():
    return emission_table("tm8_1064")


def test_table_uses_the_calibrated_preset(table):
    assert table.preset == CAL


def test_table_interpolation_matches_direct_solution_within_half_a_percent(table):
    # Off-grid points over the whole table, densest around the threshold.
    intensities = np.unique(np.concatenate([
        np.logspace(-2.77, 3.93, 300), np.linspace(4.0, 7.0, 301),
    ]))
    direct = steady_state_curve(CAL, intensities).emission_per_ion
    interpolated = table.emission_per_ion(intensities)
    assert np.max(np.abs(interpolated / direct - 1.0)) <= 0.005


def test_table_s_max_is_26_4_at_5_33(table):
    s_max, i_peak = table.s_max()
    assert s_max == pytest.approx(26.4, abs=0.3)
    assert i_peak == pytest.approx(5.33, abs=0.05)


def test_table_extrapolates_below_its_range_with_slope_2(table):
    low = np.array([TABLE_MIN_KW_CM2 / 100, TABLE_MIN_KW_CM2 / 10])
    emission = table.emission_per_ion(low)
    slope = np.log(emission[1] / emission[0]) / np.log(10.0)
    assert slope == pytest.approx(2.0, abs=0.02)


def test_table_extrapolation_below_range_matches_direct_solution(table):
    low = np.array([1e-5, 1e-4])
    direct = steady_state_curve(CAL, low).emission_per_ion
    assert np.allclose(table.emission_per_ion(low), direct, rtol=0.01)


def test_table_gives_zero_emission_at_zero_intensity(table):
    assert table.emission_per_ion(0.0) == 0.0
    assert np.array_equal(table.emission_per_ion(np.array([0.0, 0.0])), [0.0, 0.0])


def test_table_scalar_input_gives_a_float(table):
    assert isinstance(table.emission_per_ion(5.0), float)


def test_table_holds_saturated_emission_above_its_range(table):
    assert table.emission_per_ion(1e6) == pytest.approx(table.emission_per_ion(1e4), rel=1e-12)


def test_table_slope_interpolates_the_exact_slope(table):
    assert table.slope(0.01) == pytest.approx(2.0, abs=0.02)
    assert table.slope(table.s_max()[1]) == pytest.approx(table.s_max()[0], rel=1e-9)


def test_unknown_preset_name_is_a_key_error_listing_the_known_ones():
    with pytest.raises(KeyError, match="tm8_1064"):
        emission_table("no_such_preset")


# --- input validation ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "intensities",
    [[1.0, 1.0, 2.0], [2.0, 1.0], [0.0, 1.0], [-1.0, 1.0], [[1.0, 2.0]]],
    ids=["repeated", "decreasing", "zero", "negative", "2-d"],
)
def test_steady_state_curve_rejects_non_increasing_or_non_positive_input(intensities):
    with pytest.raises(ValueError):
        steady_state_curve(CAL, np.array(intensities))
