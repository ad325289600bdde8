"""Many particles: a spread of thresholds between particles, and a film under a Gaussian beam
(docs/physics.md §2a surface quenching, §6 ensembles, §7.1 "Gaussian-beam ensemble gives S_max 18.8")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim_devices.physics import compile_model, emission_table, get_preset, steady_state_curve
from sim_devices.physics.ensemble import (
    LEE_FITTED_FACTORS,
    TM_SURFACE_QUENCHING,
    FilmResponse,
    ParticleEnsemble,
    film_response,
    lognormal_classes,
    with_quenching,
    with_scaled_process,
)


def s_peak_width_ln(intensity: np.ndarray, slope: np.ndarray) -> float:
    """Full width at half maximum of S(ln I), in ln I."""
    above = intensity[slope > 0.5 * slope.max()]
    return float(math.log(above[-1] / above[0]))


# --- film under a Gaussian beam ------------------------------------------------------------------

def test_film_s_max_of_the_calibrated_preset():
    """§7.1: the Gaussian-beam ensemble gives S_max 18.8 (one particle: 26.4)."""
    s_max, i0 = film_response("tm8_1064").s_max()
    assert s_max == pytest.approx(18.8, abs=0.5)
    particle_s, particle_i = emission_table("tm8_1064").s_max_refined()
    assert particle_s == pytest.approx(26.4, abs=0.2)
    assert particle_i < i0 < 1.1 * particle_i  # the film peaks just above the particle threshold


def test_film_equals_the_beam_integral():
    """F(I₀) = ∫₀^I₀ Y dI/I is the emission of every ring of the beam, per (πw²/2)."""
    table = emission_table("tm8_1064")
    film = film_response("tm8_1064")
    r = np.linspace(0.0, 4.0, 200_001)  # radius in units of the 1/e² radius w
    for i0 in (0.02, 0.5, 5.3, 5.6, 20.0, 3e4):
        rings = table.emission_per_ion(i0 * np.exp(-2.0 * r**2)) * 2.0 * math.pi * r
        assert np.trapezoid(rings, r) / (math.pi / 2) == pytest.approx(film.emission(i0),
                                                                        rel=1e-7)


@pytest.mark.parametrize("name", ["tm8_1064", "pryb_852", "nd_1064"])
def test_film_keeps_the_low_power_slope_and_lowers_the_peak(name):
    table, film = emission_table(name), film_response(name)
    assert film.slope(1e-4) == pytest.approx(table.slope(1e-3), rel=1e-3)
    assert film.s_max()[0] < 0.8 * table.s_max()[0]


def test_film_slope_is_the_log_derivative_of_its_emission():
    film = film_response("tm8_1064")
    for i0 in (1e-4, 0.5, 5.0, 5.6, 7.0, 100.0, 2e4):
        h = 1e-5
        numeric = (math.log(film.emission(i0 * (1 + h))) - math.log(film.emission(i0 * (1 - h)))) \
            / (math.log1p(h) - math.log1p(-h))
        assert film.slope(i0) == pytest.approx(numeric, rel=2e-3)


def test_film_emission_is_positive_increasing_and_zero_in_the_dark():
    film = film_response("tm8_1064")
    i0 = np.geomspace(1e-5, 1e5, 2001)
    f = film.emission(i0)
    assert np.all(f > 0) and np.all(np.diff(f) > 0)
    assert film.emission(0.0) == 0.0
    with pytest.raises(ValueError):
        film.emission(-1.0)


def test_film_photons_scale_with_beam_area_and_particle_density():
    film = film_response("tm8_1064")
    per_ion = film.emission(6.0)
    photons = film.photons_per_s(6.0, waist_um=0.303, particles_per_um2=10.0)
    assert photons == pytest.approx(10.0 * 4600 * 0.5 * math.pi * 0.303**2 * per_ion)


def test_film_response_is_cached_and_fast():
    assert film_response("tm8_1064") is film_response("tm8_1064", 295.0)
    film = FilmResponse("tm8_1064", 295.0)
    assert film.emission(6.0) == pytest.approx(film_response("tm8_1064").emission(6.0), rel=1e-15)


# --- per-particle presets ----------------------------------------------------------------------

def test_no_quenching_is_the_same_particle():
    preset = get_preset("tm8_1064")
    assert TM_SURFACE_QUENCHING.apply(preset, (0.0, 0.0)) is preset
    assert with_scaled_process(preset, "CR", 1.0) is preset


def test_surface_quenching_adds_the_lee_terms():
    quenched = TM_SURFACE_QUENCHING.apply("tm8_1064", (0.25, 0.5))
    rates = compile_model(quenched).rates_per_s
    assert rates["quenching Tm:3F4 -> 3H6"] == pytest.approx(0.25 * 162.6)
    assert rates["quenching Tm:3H4 -> 3F4"] == pytest.approx(0.5 * 162.6)
    assert rates["radiative Tm:3F4 -> 3H6"] == pytest.approx(162.6)  # W1 = 162.6·(1 + f₁)


def test_lee_fitted_samples_have_rising_thresholds():
    ensemble = ParticleEnsemble.from_quenching("tm8_1064", LEE_FITTED_FACTORS)
    thresholds = ensemble.thresholds_kW_cm2()
    assert thresholds[0] == pytest.approx(5.33, rel=0.01)
    assert np.all(np.diff(thresholds) > 0)


def test_bad_per_particle_changes_are_rejected():
    with pytest.raises(ValueError, match="unknown level '3H5'"):
        with_quenching("tm8_1064", {"Tm:3H5 -> 3H6": 10.0})
    with pytest.raises(ValueError, match="go down in energy"):
        with_quenching("tm8_1064", {"Tm:3H6 -> 3F4": 10.0})
    with pytest.raises(ValueError, match=">= 0"):
        with_quenching("tm8_1064", {"Tm:3F4 -> 3H6": -1.0})
    with pytest.raises(ValueError, match="unknown"):
        with_scaled_process("tm8_1064", "ETU sideways", 2.0)
    with pytest.raises(ValueError, match="need 2 factors"):
        TM_SURFACE_QUENCHING.apply("tm8_1064", (1.0,))


def test_scaled_process_scales_one_rate():
    doubled = compile_model(with_scaled_process("pryb_852", "CR Pr+Yb", 2.0)).rates_per_s
    plain = compile_model("pryb_852").rates_per_s
    assert doubled["transfer CR Pr+Yb"] == pytest.approx(2.0 * plain["transfer CR Pr+Yb"])
    assert doubled["transfer ET Yb->Pr"] == plain["transfer ET Yb->Pr"]


def test_lognormal_classes_have_median_one_and_equal_weights():
    factors, weights = lognormal_classes(0.4, 7)
    assert weights.sum() == pytest.approx(1.0) and np.all(weights == weights[0])
    assert factors[3] == pytest.approx(1.0)
    assert np.allclose(np.log(factors), -np.log(factors[::-1]))
    assert np.array_equal(lognormal_classes(0.0, 5)[0], np.ones(5))


# --- ensembles ---------------------------------------------------------------------------------

def test_identical_particles_behave_as_one():
    table = emission_table("tm8_1064")
    ensemble = ParticleEnsemble(["tm8_1064"] * 3, weights=[1.0, 2.0, 3.0])
    intensity = np.geomspace(1e-4, 1e5, 400)
    assert np.allclose(ensemble.emission_per_ion(intensity), table.emission_per_ion(intensity),
                       rtol=1e-13, atol=0)
    assert np.allclose(ensemble.slope(intensity), table.slope(intensity), rtol=1e-13)
    assert ensemble.s_max() == table.s_max()
    film = FilmResponse(ensemble)
    assert film.s_max() == pytest.approx(film_response("tm8_1064").s_max(), rel=1e-13)
    no_spread = ParticleEnsemble.lognormal_quenching("tm8_1064", (0.25, 0.5), 0.0, n_classes=3)
    single = emission_table(TM_SURFACE_QUENCHING.apply("tm8_1064", (0.25, 0.5)))
    assert no_spread.s_max() == pytest.approx(single.s_max(), rel=1e-14)


def test_a_spread_of_thresholds_broadens_the_s_peak_and_lowers_s_max():
    ensemble = ParticleEnsemble.lognormal_quenching("tm8_1064", (0.25, 0.5), 0.3, n_classes=7)
    thresholds = ensemble.thresholds_kW_cm2()
    assert thresholds.max() / thresholds.min() > 1.15  # the particles really differ
    mean, slope = ensemble.emission_curve()
    grid = ensemble.intensity_kW_cm2
    members = [t.curve.slope_of(t.line) for t in ensemble.tables()]
    assert slope.max() < 0.85 * min(s.max() for s in members)
    assert s_peak_width_ln(grid, slope) > 1.3 * max(s_peak_width_ln(grid, s) for s in members)
    assert FilmResponse(ensemble).s_max()[0] < slope.max()  # a film of them flattens further


def test_ensemble_is_a_positive_weighted_mean_of_conserving_particles():
    ensemble = ParticleEnsemble.from_quenching("tm8_1064", LEE_FITTED_FACTORS,
                                               weights=[0.5, 0.3, 0.2])
    assert ensemble.weights.sum() == pytest.approx(1.0)
    mean, slope = ensemble.emission_curve()
    curves = np.array([t.curve.emission_of(t.line) for t in ensemble.tables()])
    assert np.allclose(mean, ensemble.weights @ curves, rtol=1e-14)
    assert np.all(mean > 0) and np.all(np.isfinite(slope))
    assert np.all((mean >= curves.min(axis=0) * (1 - 1e-14))
                  & (mean <= curves.max(axis=0) * (1 + 1e-14)))
    for table in ensemble.tables():
        populations = table.curve.populations
        assert np.all(populations >= -1e-15)
        assert np.allclose(populations.sum(axis=1), 1.0, atol=1e-12)


def test_ensemble_slope_is_the_log_derivative_of_the_mean_emission():
    ensemble = ParticleEnsemble.from_quenching("tm8_1064", LEE_FITTED_FACTORS)
    _, slope = ensemble.emission_curve()
    grid, h = ensemble.intensity_kW_cm2, 1e-5
    for k in (600, 810, 830, 900, 1000):
        around = grid[k] * np.array([1 - h, 1 + h])
        mean = sum(w * steady_state_curve(p, around).emission_per_ion
                   for w, p in zip(ensemble.weights, ensemble.presets))
        numeric = math.log(mean[1] / mean[0]) / (math.log1p(h) - math.log1p(-h))
        assert slope[k] == pytest.approx(numeric, rel=1e-5)


def test_sampled_particles_follow_the_weights():
    ensemble = ParticleEnsemble(["tm8_1064", "tm8_1064_literature"], weights=[0.8, 0.2])
    draws = ensemble.sample_members(20_000, np.random.default_rng(1))
    assert np.mean(draws == 1) == pytest.approx(0.2, abs=0.01)
