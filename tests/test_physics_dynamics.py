"""Time-dependent populations: rise and decay times of docs/physics.md §7.2 and the bookkeeping the
simulated photon counter will rely on (photons per step, state carried across calls)."""

from __future__ import annotations

import numpy as np
import pytest

from sim_devices.physics import (
    ParticleDynamics,
    decay_curve,
    emission_table,
    rise_curve,
    rise_half_time_s,
    steady_state_curve,
)

I_TH = 5.33  # kW/cm², S peak of tm8_1064


# --- docs/physics.md §7.2 -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("intensity", "t_half_s", "rel"),
    [(5.6, 0.224, 0.02), (0.5 * I_TH, 8.8e-3, 0.03), (3 * I_TH, 27e-3, 0.03), (1.0, 5e-3, 0.1)],
    ids=["peak-5.6", "half-Ith", "three-Ith", "1-kW-cm2"],
)
def test_rise_half_time_matches_physics_reference(intensity, t_half_s, rel):
    assert rise_half_time_s("tm8_1064", intensity) == pytest.approx(t_half_s, rel=rel)


def test_rise_half_time_peaks_between_0_15_and_0_35_s_just_above_threshold():
    grid = I_TH * np.linspace(0.9, 1.2, 13)
    t_half = np.array([rise_half_time_s("tm8_1064", i) for i in grid])
    k = int(np.argmax(t_half))
    assert 0.15 <= t_half[k] <= 0.35
    assert 1.0 < grid[k] / I_TH <= 1.1


def test_literature_beta_peak_rise_time_is_410_ms_at_5_5():
    assert rise_half_time_s("tm8_1064_literature", 5.5) == pytest.approx(0.410, rel=0.03)


def test_3h4_decays_in_92_us_after_switch_off():
    """§7.2: after switch-off ³H₄ decays with 1/(W2 + s31·n0) ≈ 92 µs (n0 ≈ 1 below threshold)."""
    times = np.linspace(0.0, 300e-6, 301)
    emission = decay_curve("tm8_1064", 1.0, times)
    tau = np.interp(np.exp(-1.0), emission[::-1] / emission[0], times[::-1])
    assert tau == pytest.approx(92e-6, rel=0.02)
    early = np.polyfit(times[:21], np.log(emission[:21]), 1)[0]
    assert -1.0 / early == pytest.approx(1.0 / (642.02 + 10240.0), rel=0.01)


def test_rise_curve_starts_dark_and_ends_at_the_steady_state():
    times = np.array([0.0, 1e-3, 0.1, 1.0, 30.0])
    emission = rise_curve("tm8_1064", 8.9, times)
    steady = steady_state_curve("tm8_1064", np.geomspace(1e-3, 8.9, 60)).emission_per_ion[-1]
    assert emission[0] == 0.0
    assert np.all(np.diff(emission) > 0)
    assert emission[-1] == pytest.approx(steady, rel=1e-6)


def test_rise_half_time_is_where_the_rise_curve_crosses_half():
    t_half = rise_half_time_s("tm8_1064", 8.9)
    final = steady_state_curve("tm8_1064", np.geomspace(1e-3, 8.9, 60)).emission_per_ion[-1]
    below, above = rise_curve("tm8_1064", 8.9, np.array([0.995 * t_half, 1.005 * t_half]))
    assert below < 0.5 * final < above


# --- the state object --------------------------------------------------------------------------

def test_photons_in_a_step_at_steady_state_are_rate_times_time():
    particle = ParticleDynamics("tm8_1064")
    particle.set_steady_state(20.0)
    rate = particle.emission_rate_per_ion()
    assert particle.advance(0.5, 20.0) == pytest.approx(rate * 0.5, rel=1e-7)


def test_state_is_carried_across_calls():
    """Ten 0.1-s steps give the same state and photons as one 1-s step."""
    one, many = ParticleDynamics("tm8_1064"), ParticleDynamics("tm8_1064")
    total_one = one.advance(1.0, 6.0)
    total_many = sum(many.advance(0.1, 6.0) for _ in range(10))
    assert total_many == pytest.approx(total_one, rel=1e-6)
    assert np.allclose(many.populations, one.populations, rtol=1e-6, atol=1e-15)
    assert many.time_s == pytest.approx(1.0)


def test_photons_are_the_integral_of_the_emission_rate():
    times = np.linspace(0.0, 0.5, 5001)
    rates = ParticleDynamics("tm8_1064").sample(times, 6.0)
    photons = ParticleDynamics("tm8_1064").advance(0.5, 6.0)
    assert photons == pytest.approx(np.trapezoid(rates, times), rel=1e-4)


def test_photons_are_counted_on_every_line():
    particle = ParticleDynamics("tm8_1064")
    particle.advance(0.2, 10.0)
    by_line = dict(zip(particle.line_names, particle.last_photons_per_ion))
    assert by_line["Tm 1470"] / by_line["Tm 800"] == pytest.approx(0.144 / 0.856, rel=1e-6)


def test_piecewise_waveform_equals_successive_steps_and_a_callable_pump():
    durations = np.array([0.05, 0.2, 0.1, 0.3])
    levels = np.array([2.0, 8.0, 0.0, 6.0])
    piecewise = ParticleDynamics("tm8_1064").advance_piecewise(durations, levels)
    stepwise = ParticleDynamics("tm8_1064")
    assert np.allclose(piecewise, [stepwise.advance(d, i) for d, i in zip(durations, levels)],
                       rtol=1e-9)
    edges = np.concatenate(([0.0], np.cumsum(durations)))

    def pump(t: float) -> float:
        return float(levels[min(np.searchsorted(edges, t, side="right") - 1, len(levels) - 1)])

    callable_particle = ParticleDynamics("tm8_1064")
    total = callable_particle.advance(edges[-1], pump, max_step_s=1e-4)
    assert total == pytest.approx(piecewise.sum(), rel=2e-3)


def test_dark_particle_stays_dark_and_zero_step_emits_nothing():
    particle = ParticleDynamics("pryb_852")
    assert particle.advance(1.0, 0.0) == 0.0
    assert particle.advance(0.0, 100.0) == 0.0
    assert np.array_equal(particle.populations, [1.0, 0.0, 0.0, 1.0, 0.0])


def test_switch_off_returns_to_the_dark_state():
    particle = ParticleDynamics("nd_1064")
    particle.set_steady_state(100.0)
    particle.advance(5.0, 0.0)
    assert particle.emission_rate_per_ion() < 1e-12


def test_set_steady_state_matches_the_table():
    particle = ParticleDynamics("tm8_1450")
    particle.set_steady_state(12.0)
    assert particle.emission_rate_per_ion() == pytest.approx(
        emission_table("tm8_1450").emission_per_ion(12.0), rel=0.005)


def test_temperature_changes_the_dynamics():
    cold = rise_half_time_s("tm8_1064", 8.0, temperature_K=10.0)
    warm = rise_half_time_s("tm8_1064", 8.0)
    assert cold > warm  # closer to the (higher) cold threshold: slower


@pytest.mark.parametrize(
    "populations",
    [np.array([1.0, 0.0]), np.array([0.5, 0.2, 0.2]), np.array([1.2, -0.2, 0.0])],
    ids=["wrong-length", "not-normalised", "negative"],
)
def test_reset_rejects_bad_populations(populations):
    with pytest.raises(ValueError):
        ParticleDynamics("tm8_1064", populations=populations)


def test_reset_accepts_full_populations():
    particle = ParticleDynamics("tm8_1064", populations=np.array([0.5, 0.3, 0.2]))
    assert np.allclose(particle.populations, [0.5, 0.3, 0.2])
    particle.reset()
    assert np.array_equal(particle.populations, [1.0, 0.0, 0.0])


def test_negative_step_or_intensity_is_rejected():
    particle = ParticleDynamics("tm8_1064")
    with pytest.raises(ValueError):
        particle.advance(-1.0, 5.0)
    with pytest.raises(ValueError):
        particle.advance(1.0, -5.0)
