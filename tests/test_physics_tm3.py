"""The default sample (Tm³⁺ 8 %, 1064 nm) reproduces docs/physics.md §7, and the emission table the
simulated bench uses behaves as the bench expects.

The reference numbers were computed independently when the physics was written down; these tests
pin the general engine to them, and to `tm3.py`, a hand transcription of the §1 equations kept as
an independent reference (the engine must agree with it to rounding).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim_devices.physics import PRESETS, compile_model, emission_table, steady_state_curve
from sim_devices.physics import tm3
from sim_devices.physics.table import TABLE_MAX_KW_CM2, TABLE_MIN_KW_CM2

REF_CAL = tm3.TM_8PCT_1064_CALIBRATED
REF_LIT = tm3.TM_8PCT_1064_LITERATURE


@pytest.fixture(scope="module")
def table():
    return emission_table("tm8_1064")


@pytest.fixture(scope="module")
def literature():
    return emission_table("tm8_1064_literature")


# --- the S-curve (docs/physics.md §7.1) -----------------------------------------------------------

def test_s_max_is_26_4_at_5_33_kW_cm2(table):
    """§7.1: S_max = 26.4 at I_th = 5.33 kW/cm² (issue 3: 26 ± 2 at 5.3 ± 0.3; pinned tighter)."""
    s_max, i_th = table.s_max_refined()
    assert s_max == pytest.approx(26.4, abs=0.1)
    assert i_th == pytest.approx(5.33, abs=0.01)


def test_table_grid_s_max_is_today_s_value(table):
    """The grid maximum the bench reports (unchanged from the dedicated Tm model)."""
    s_max, i_th = table.s_max()
    assert s_max == pytest.approx(26.4409, abs=1e-3)
    assert i_th == pytest.approx(5.3270, abs=1e-3)


def test_loop_threshold_is_5_32_kW_cm2():
    """§1/§3 convention 3, from the general linear-stability computation."""
    assert PRESETS["tm8_1064"].loop_threshold_kW_cm2() == pytest.approx(5.32, abs=0.005)
    assert PRESETS["tm8_1064"].loop_threshold_kW_cm2() == pytest.approx(
        REF_CAL.loop_threshold_kW_cm2(), rel=1e-12)


def test_tangent_threshold_is_4_54_kW_cm2(table):
    """§3 convention 2: low-power asymptote meets the tangent at the steepest point."""
    assert table.threshold_tangent_kW_cm2() == pytest.approx(4.54, abs=0.02)


def test_slope_is_2_at_low_power_and_0_03_in_saturation(table):
    assert table.slope(0.01) == pytest.approx(2.0, abs=0.01)
    assert table.slope(1e3) == pytest.approx(0.03, abs=0.03)


def test_emission_rises_38_fold_between_0_9_and_1_1_threshold(table):
    i_th = table.s_max_refined()[1]
    y = steady_state_curve("tm8_1064", np.array([0.9 * i_th, 1.1 * i_th])).emission_per_ion
    assert y[1] / y[0] == pytest.approx(38.0, rel=0.05)


def test_pa_gain_g2_is_172(table):
    i_th = table.s_max_refined()[1]
    y = steady_state_curve("tm8_1064", np.array([i_th, 2.0 * i_th])).emission_per_ion
    assert y[1] / y[0] == pytest.approx(172.0, rel=0.02)


def test_literature_beta_gives_s_max_47_7_at_the_same_threshold(literature):
    s_max, i_th = literature.s_max_refined()
    assert s_max == pytest.approx(47.7, abs=0.2)
    assert i_th == pytest.approx(5.33, abs=0.01)


def test_beta_of_both_variants():
    assert PRESETS["tm8_1064_literature"].beta == pytest.approx(1.07e4, rel=0.01)
    assert PRESETS["tm8_1064"].beta == pytest.approx(3.0e3, rel=0.03)


def test_ions_per_particle_is_4600():
    assert PRESETS["tm8_1064"].ions_per_particle == 4600


# --- the engine equals the hand-written §1 equations ---------------------------------------------

@pytest.mark.parametrize(("name", "reference"), [("tm8_1064", REF_CAL),
                                                 ("tm8_1064_literature", REF_LIT)])
def test_engine_equations_equal_the_reference_transcription(name, reference):
    model = compile_model(name)
    rng = np.random.default_rng(3)
    for intensity in (0.1, 5.33, 300.0):
        flux = float(reference.photon_flux_per_cm2_s(intensity))
        for _ in range(5):
            z = rng.dirichlet(np.ones(3))[1:]
            scale = np.abs(tm3.jacobian(reference, z, flux)).max()
            assert np.allclose(model.rhs(z, flux), tm3.rates(reference, z, flux), rtol=0,
                               atol=1e-13 * scale)
            assert np.allclose(model.jacobian(z, flux), tm3.jacobian(reference, z, flux), rtol=0,
                               atol=1e-13 * scale)
            assert np.allclose(model.flux_derivative(z), tm3.flux_derivative(reference, z),
                               rtol=1e-13, atol=0)


def test_engine_s_curve_equals_the_reference_to_rounding(table):
    """Same numbers as the dedicated model the bench used before the general engine."""
    reference = tm3.steady_state_curve(REF_CAL, table.curve.intensity_kW_cm2)
    assert np.allclose(table.curve.emission_per_ion, reference.emission_per_ion, rtol=1e-11, atol=0)
    assert np.allclose(table.curve.slope, reference.slope, rtol=0, atol=1e-9)
    assert np.allclose(table.curve.populations, reference.populations, rtol=1e-10, atol=1e-16)


def test_emission_is_b_weighted_radiative_rate_of_3h4(table):
    curve = table.curve
    expected = (1.0 - 0.144) * 636.0 * curve.population_of("Tm:3H4")
    assert np.allclose(curve.emission_per_ion, expected, rtol=1e-12)


def test_exact_slope_equals_finite_differences_where_s_varies_slowly():
    for centre in (0.05, 1.0, 3.0, 50.0):
        intensities = centre * np.logspace(-0.01, 0.01, 201)
        curve = steady_state_curve("tm8_1064", intensities)
        fd = np.gradient(np.log(curve.emission_per_ion), np.log(intensities))
        assert np.allclose(curve.slope[50:151], fd[50:151], rtol=1e-4, atol=1e-4)


# --- the lookup table the bench uses ------------------------------------------------------------

def test_table_is_built_for_the_default_preset(table):
    assert table.preset is PRESETS["tm8_1064"]
    assert table.line == "Tm 800"
    assert table.temperature_K == 295.0
    assert emission_table("tm8_1064") is table  # cached


def test_table_interpolation_matches_direct_solution_within_half_a_percent(table):
    intensities = np.unique(np.concatenate([
        np.logspace(-2.77, 3.93, 300), np.linspace(4.0, 7.0, 301),
    ]))
    direct = steady_state_curve("tm8_1064", intensities).emission_per_ion
    assert np.max(np.abs(table.emission_per_ion(intensities) / direct - 1.0)) <= 0.005


def test_table_extrapolates_below_its_range_with_slope_2(table):
    low = np.array([TABLE_MIN_KW_CM2 / 100, TABLE_MIN_KW_CM2 / 10])
    emission = table.emission_per_ion(low)
    assert np.log(emission[1] / emission[0]) / np.log(10.0) == pytest.approx(2.0, abs=0.02)
    assert np.allclose(emission, steady_state_curve("tm8_1064", low).emission_per_ion, rtol=0.01)


def test_table_gives_zero_emission_at_zero_intensity(table):
    assert table.emission_per_ion(0.0) == 0.0
    assert np.array_equal(table.emission_per_ion(np.array([0.0, 0.0])), [0.0, 0.0])


def test_table_scalar_input_gives_a_float(table):
    assert isinstance(table.emission_per_ion(5.0), float)


def test_table_holds_saturated_emission_above_its_range(table):
    assert table.emission_per_ion(1e6) == pytest.approx(
        table.emission_per_ion(TABLE_MAX_KW_CM2), rel=1e-12)


def test_table_slope_interpolates_the_exact_slope(table):
    assert table.slope(table.s_max()[1]) == pytest.approx(table.s_max()[0], rel=1e-9)


def test_table_populations_interpolate_the_levels(table):
    populations = table.populations(np.array([0.01, 5.33, 100.0]))
    assert populations.shape == (3, 3)
    assert np.allclose(populations.sum(axis=1), 1.0, atol=0.01)  # interpolated, not exact
    assert populations[0, 0] > 0.999 and populations[2, 2] > 0.5


def test_other_lines_of_the_preset(table):
    """1470 nm shares ³H₄ with 800 nm (same slope); ³F₄ (1800 nm) has S ≈ 1 below threshold."""
    line_1470 = emission_table("tm8_1064", line="Tm 1470")
    assert line_1470.slope(5.0) == pytest.approx(table.slope(5.0), rel=1e-12)
    assert line_1470.emission_per_ion(5.0) / table.emission_per_ion(5.0) == pytest.approx(
        0.144 / 0.856, rel=1e-9)
    assert emission_table("tm8_1064", line="Tm 1800").slope(0.01) == pytest.approx(1.0, abs=0.01)


def test_unknown_preset_name_is_a_key_error_listing_the_known_ones():
    with pytest.raises(KeyError, match="tm8_1064"):
        emission_table("no_such_preset")


def test_unknown_line_is_a_key_error():
    with pytest.raises(KeyError, match="Tm 800"):
        emission_table("tm8_1064", line="Tm 475")


@pytest.mark.parametrize(
    "intensities",
    [[1.0, 1.0, 2.0], [1.0, 2.0, 1.5], [0.0, 1.0], [-1.0, 1.0], [[1.0, 2.0]], []],
    ids=["repeated", "not-monotonic", "zero", "negative", "2-d", "empty"],
)
def test_steady_state_curve_rejects_bad_grids(intensities):
    with pytest.raises(ValueError):
        steady_state_curve("tm8_1064", np.array(intensities))
