"""Tests for experiments.scurve.model_fit: fitting preset parameters to a simulated noisy S-curve.

Ground truth: the calibrated `tm8_1064` preset with two KNOWN modifications, built here with
`dataclasses.replace` independently of the code under test:

* β = σ_ESA/σ_GSA raised ×1.5 (3.05e3 → 4.57e3): σ_GSA × 2/3;
* surface quenching in the manner of Lee et al. (2021) with f₁ = 0.25, f₂ = 0.5 (their
  moderately quenched sample): quenching ³F₄→³H₆ at 0.25·162.6 s⁻¹ and ³H₄→³F₄ at 0.5·162.6 s⁻¹,
  i.e. the fit's ``quenching`` factor f = 0.25.

Sampling mimics experiments/scurve/ on the simulated bench: ~60 log-spaced intensities over
1–40 kW/cm² plus 20 refined points across the threshold (0.85–1.25 I_th), power-meter jitter
0.02 % (2e-3 / sqrt(100 averages)), signal = 0.15 collection × 4600 ions × photons/s per ion,
dark 25 counts/s, a gate giving 2500 counts per point (clamped to 10 ms – 60 s), Poisson counts,
ONE dark reference of 60 s subtracted from every point, sigma = counts and dark sigma in
quadrature — exactly the columns intensity_kW_cm2, signal_cps, signal_sigma_cps of a run.

Because the dark reference is common to all points, the fits free a ``background`` offset; its
truth is 25 − (measured dark rate) for each seed.

Coverage measured on 30 other seeds (scratch run, not repeated here to keep the runtime down):
pulls (fit − truth)/σ have sd 0.78 (β), 0.82 (quenching), 0.64 (background), 0.87 (signal
scale), all |pull| < 2.3 — the stated σ is slightly conservative because the instrument's
per-point sigma also carries the common dark error. Here 5 seeds must all lie within 3σ and
the mean σ must match the seed-to-seed scatter within a factor 2.5.
"""

from __future__ import annotations

import dataclasses
import math
import types

import numpy as np
import pytest

from experiments.scurve.model_fit import (
    FitParameter,
    ModelFit,
    ModelFitError,
    _Problem,
    _resolve,
    edit_preset,
    fit_scurve,
    scurve_data_from_run,
)
from sim_devices.physics import (
    compile_model,
    emission_table,
    get_preset,
    rise_half_time_s,
    steady_state_curve,
)
from sim_devices.physics.preset import Decay, LevelRef

BASE = get_preset("tm8_1064")
BETA_FACTOR = 1.5
TRUE_BETA = BETA_FACTOR * BASE.beta  # 1.5 × the calibrated 3.05e3 = 4.57e3
TRUE_QUENCHING = 0.25  # Lee f₁ (f₂ = 0.5)
W1_REF_PER_S = 162.6
COLLECTION = 0.15
IONS = 4600
TRUE_SIGNAL_SCALE = COLLECTION * IONS  # counts/s per (photon/s per ion)
DARK_CPS = 25.0
DARK_GATE_S = 60.0
TARGET_COUNTS = 2500
SEEDS = (0, 1, 2, 3, 4)
WRONG_START = [FitParameter("beta", initial=2000.0), FitParameter("quenching", initial=1.0),
               FitParameter("background")]


def _truth_preset():
    """tm8_1064 with β ×1.5 and Lee-type surface quenching f₁ = 0.25, f₂ = 0.5 (by hand)."""
    pumps = tuple(dataclasses.replace(t, cross_section_cm2=t.cross_section_cm2 / BETA_FACTOR)
                  if t.name == "GSA" else t for t in BASE.pump_transitions)
    quench = (
        Decay(LevelRef("Tm", "3F4"), LevelRef("Tm", "3H6"), TRUE_QUENCHING * W1_REF_PER_S, "quenching"),
        Decay(LevelRef("Tm", "3H4"), LevelRef("Tm", "3F4"), 2 * TRUE_QUENCHING * W1_REF_PER_S,
              "quenching"),
    )
    return dataclasses.replace(BASE, pump_transitions=pumps, decays=BASE.decays + quench)


TRUTH = _truth_preset()


def _measure(preset, seed: int, *, kappa: float = 1.0, n_coarse: int = 60, n_refine: int = 20):
    """A simulated S-curve run: (reported intensity, signal_cps, signal_sigma_cps, background
    truth). `kappa` = true/reported intensity (the reported numbers are off by 1/kappa)."""
    rng = np.random.default_rng(seed)
    dark_counts = rng.poisson(DARK_CPS * DARK_GATE_S)
    dark_rate, dark_sigma = dark_counts / DARK_GATE_S, math.sqrt(dark_counts) / DARK_GATE_S
    _, i_th = emission_table(preset).s_max_refined()
    true_I = np.sort(np.concatenate([np.geomspace(1.0, 40.0, n_coarse),
                                     np.geomspace(0.85 * i_th, 1.25 * i_th, n_refine)]))
    signal = steady_state_curve(preset, true_I).emission_per_ion * TRUE_SIGNAL_SCALE
    total = signal + DARK_CPS
    gate = np.clip(TARGET_COUNTS / total, 0.01, 60.0)
    counts = rng.poisson(total * gate)
    rate = counts / gate
    sigma = np.hypot(np.sqrt(np.maximum(counts, 1)) / gate, dark_sigma)
    reported = true_I / kappa * (1.0 + 2e-4 * rng.standard_normal(true_I.size))
    return reported, rate - dark_rate, sigma, DARK_CPS - dark_rate


def _truth_values(background: float, kappa: float = 1.0) -> dict[str, float]:
    return {"beta": TRUE_BETA, "quenching": TRUE_QUENCHING, "signal_scale": TRUE_SIGNAL_SCALE,
            "background": background, "intensity_scale": kappa, "cross_relaxation": 10240.0}


def _pulls(fit: ModelFit, truth: dict[str, float]) -> dict[str, float]:
    return {n: (fit.value(n) - truth[n]) / fit.sigma(n) for n in fit.names}


@pytest.fixture(scope="module")
def seed_fits():
    """Five noisy S-curves, each fitted from the same wrong start (β 2000, f 1.0)."""
    out = []
    for seed in SEEDS:
        intensity, rate, sigma, background = _measure(TRUTH, seed)
        fit = fit_scurve("tm8_1064", intensity, rate, sigma, WRONG_START)
        out.append((fit, _truth_values(background)))
    return out


# --------------------------------------------------------------------------- recovery


def test_recovers_known_parameters_within_stated_uncertainty(seed_fits):
    for fit, truth in seed_fits:
        assert fit.names == ("beta", "quenching", "background", "signal_scale")
        assert not fit.at_bound
        pulls = _pulls(fit, truth)
        assert all(abs(p) < 3.0 for p in pulls.values()), (pulls, fit.summary_lines())
        # < 1 on average: the instrument adds the dark sigma to every point although the dark
        # error is common (the background absorbs it), so low-signal points weigh ~half.
        assert 0.3 < fit.reduced_chi2 < 1.5
        # The wrong start (β 2000, f 1.0) is far outside the final uncertainty.
        assert abs(fit.initial[0] - TRUE_BETA) > 10 * fit.sigma("beta")


def test_uncertainties_match_seed_to_seed_scatter(seed_fits):
    for name, (lo, hi) in {"beta": (0.005, 0.1), "quenching": (1e-3, 0.05)}.items():
        values = np.array([fit.value(name) for fit, _ in seed_fits])
        sigmas = np.array([fit.sigma(name) for fit, _ in seed_fits])
        scatter = values.std(ddof=1)
        assert 0.4 < sigmas.mean() / scatter < 2.5, (name, sigmas.mean(), scatter)
        relative = sigmas / values
        assert np.all((relative > lo) & (relative < hi)), (name, relative)


def test_noiseless_curve_is_recovered_exactly_at_another_temperature():
    """No noise: the optimum is the truth itself (checks model, edits and Jacobian), also at
    150 K where the model scales the rates — the fitted values are reference-temperature ones."""
    truth = edit_preset(BASE, {"beta": TRUE_BETA, "cross_relaxation": 9000.0})
    intensity = np.geomspace(1.0, 40.0, 40)
    signal = steady_state_curve(truth, intensity, temperature_K=150.0).emission_per_ion * 700.0
    sigma = 0.01 * signal + 1.0
    fit = fit_scurve(BASE, intensity, signal, sigma,
                     ["beta", FitParameter("cross_relaxation", initial=12000.0)],
                     temperature_K=150.0)
    assert fit.value("beta") == pytest.approx(TRUE_BETA, rel=1e-5)
    assert fit.value("cross_relaxation") == pytest.approx(9000.0, rel=1e-5)
    assert fit.value("signal_scale") == pytest.approx(700.0, rel=1e-6)
    assert fit.chi2 < 1e-6 and not fit.covariance_scaled
    assert fit.temperature_K == 150.0
    np.testing.assert_allclose(fit.fitted_rate_cps, signal, rtol=1e-6)


def test_intensity_calibration_factor_is_recovered():
    """Reported intensities 25 % too high (true = 0.8 × reported): the fit finds κ = 0.8 and
    puts the threshold at the right place on both scales."""
    kappa = 0.8
    intensity, rate, sigma, background = _measure(TRUTH, 11, kappa=kappa)
    free = WRONG_START + [FitParameter("intensity_scale")]
    fit = fit_scurve("tm8_1064", intensity, rate, sigma, free)
    pulls = _pulls(fit, _truth_values(background, kappa))
    assert all(abs(p) < 3.0 for p in pulls.values()), (pulls, fit.summary_lines())
    s_true, i_true = emission_table(TRUTH).s_max_refined()
    s_fit, s_sig, _ = fit.derived["s_max"]
    assert abs(s_fit - s_true) < 3 * s_sig
    i_fit, i_sig, unit = fit.derived["threshold_s_peak_kW_cm2"]
    assert unit == "kW/cm^2" and abs(i_fit - i_true) < 3 * i_sig
    reported, reported_sigma, _ = fit.derived["threshold_s_peak_reported_kW_cm2"]
    assert abs(reported - i_true / kappa) < 3 * reported_sigma
    assert reported_sigma < i_sig  # the data fix the threshold on their own scale best


def test_rise_times_constrain_the_quenching_factor_better():
    """With β, CR, quenching and the intensity scale free, the S-curve leaves quenching and κ
    strongly correlated (the steady state only sees rates relative to σ·I); t½ measures the
    absolute time scale and roughly halves the quenching uncertainty."""
    intensity, rate, sigma, background = _measure(TRUTH, 0)
    rise_I = np.array([1.5, 2.5, 4.0, 6.0, 6.9, 9.0, 15.0])
    t_true = np.array([rise_half_time_s(TRUTH, i) for i in rise_I])
    t_meas = t_true * (1.0 + 0.03 * np.random.default_rng(100).standard_normal(t_true.size))
    free = [FitParameter("beta", initial=2000.0), FitParameter("quenching", initial=1.0),
            FitParameter("cross_relaxation", initial=8000.0), FitParameter("background"),
            FitParameter("intensity_scale")]
    alone = fit_scurve("tm8_1064", intensity, rate, sigma, free)
    joint = fit_scurve("tm8_1064", intensity, rate, sigma, free,
                       rise_times=np.stack([rise_I, t_meas, 0.03 * t_meas], axis=1))
    truth = _truth_values(background)
    for fit in (alone, joint):
        pulls = _pulls(fit, truth)
        assert all(abs(p) < 3.0 for p in pulls.values()), (pulls, fit.summary_lines())
    assert joint.sigma("quenching") < 0.7 * alone.sigma("quenching")
    assert joint.sigma("intensity_scale") < 0.7 * alone.sigma("intensity_scale")
    assert abs(alone.correlation[1, 4]) > 0.95  # quenching / intensity_scale
    assert len(joint.fitted_rise_half_time_s) == 7 and not len(alone.fitted_rise_half_time_s)
    assert np.all(np.abs(joint.fitted_rise_half_time_s - t_meas) < 3 * 0.03 * t_meas)
    assert any("rise times" in line for line in joint.summary_lines())


# --------------------------------------------------------------------------- results


def test_fitted_preset_runs_on_the_simulated_bench(seed_fits):
    from sim_devices.world import Sample

    fit, _ = seed_fits[0]
    preset = fit.fitted_preset
    assert preset.name == "tm8_1064_fit" and preset.beta == pytest.approx(fit.value("beta"))
    table = Sample(preset=preset).table  # what the simulated bench would use
    s_max, i_peak = table.s_max_refined()
    assert fit.derived["s_max"][0] == pytest.approx(s_max, rel=1e-4)
    assert fit.derived["threshold_s_peak_kW_cm2"][0] == pytest.approx(i_peak, rel=1e-4)
    assert fit.derived["threshold_loop_kW_cm2"][0] == pytest.approx(
        preset.loop_threshold_kW_cm2(), rel=1e-9)
    s_true, i_true = emission_table(TRUTH).s_max_refined()
    assert abs(s_max - s_true) < 3 * fit.derived["s_max"][1]
    assert abs(i_peak - i_true) < 3 * fit.derived["threshold_s_peak_kW_cm2"][1]
    efficiency, efficiency_sigma, _ = fit.derived["collection_efficiency"]
    assert abs(efficiency - COLLECTION) < 3 * efficiency_sigma
    # Quenching landed where Lee's f1/f2 put it.
    rates = compile_model(preset).rates_per_s
    assert rates["quenching Tm:3F4 -> 3H6"] == pytest.approx(fit.value("quenching") * W1_REF_PER_S)
    assert rates["quenching Tm:3H4 -> 3F4"] == pytest.approx(2 * fit.value("quenching") * W1_REF_PER_S)


def test_records_summary_and_curve(seed_fits):
    fit, _ = seed_fits[0]
    records = fit.as_records()
    assert records["fit_beta"] == (fit.value("beta"), "")
    assert records["fit_background_sigma"] == (fit.sigma("background"), "counts/s")
    assert records["fit_threshold_s_peak_kW_cm2"][1] == "kW/cm^2"
    assert records["fit_dof"][0] == len(fit.rate_cps) - 4
    assert all(isinstance(v, float) and isinstance(u, str) for v, u in records.values())
    text = "\n".join(fit.summary_lines())
    assert "beta = " in text and "quenching = " in text and "chi2/dof" in text
    assert "S" not in fit.at_bound
    assert np.allclose(np.diag(fit.correlation), 1.0)
    assert fit.curve_intensity_kW_cm2[0] == pytest.approx(fit.intensity_kW_cm2.min())
    assert np.all(np.diff(fit.curve_rate_cps) > 0)  # monotonic S-curve
    assert np.abs(fit.normalised_residuals).max() < 5
    assert fit.elapsed_s < 5.0


def test_analytic_jacobian_matches_finite_differences():
    intensity, rate, sigma, _ = _measure(TRUTH, 3, n_coarse=20, n_refine=6)
    specs = [FitParameter("beta"), FitParameter("quenching", initial=0.3),
             FitParameter("cross_relaxation"), FitParameter("background", initial=0.5),
             FitParameter("intensity_scale", initial=1.1), FitParameter("signal_scale", initial=500.0)]
    params = [_resolve(p, BASE) for p in specs]
    problem = _Problem(BASE, params, 295.0, "Tm 800", intensity, rate, sigma, None)
    u = np.array([p.to_fit(p.initial) for p in params])
    jac = problem.evaluate(u, True).jacobian
    for i in range(len(u)):
        up, down = u.copy(), u.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        numeric = (problem.evaluate(up, False).residuals - problem.evaluate(down, False).residuals) / 2e-6
        assert np.max(np.abs(numeric - jac[:, i])) < 1e-5 * np.max(np.abs(jac[:, i])), specs[i].name


# --------------------------------------------------------------------------- parameter edits


def test_edit_preset_vocabulary_matches_hand_built_truth():
    edited = edit_preset(BASE, {"quenching": TRUE_QUENCHING, "beta": TRUE_BETA})
    assert edited.beta == pytest.approx(TRUE_BETA)
    assert compile_model(edited).rates_per_s == pytest.approx(compile_model(TRUTH).rates_per_s)
    # beta keeps the ESA, sigma_esa keeps the GSA.
    esa = next(t for t in edited.pump_transitions if t.name == "ESA")
    assert esa.cross_section_cm2 == 6.4e-21
    wider = edit_preset(BASE, {"sigma_esa": 1.28e-20})
    assert wider.beta == pytest.approx(2 * BASE.beta)
    both = edit_preset(BASE, {"sigma_esa": 1.28e-20, "beta": 1000.0})
    gsa = next(t for t in both.pump_transitions if t.name == "GSA")
    assert gsa.cross_section_cm2 == pytest.approx(1.28e-23)
    # Generic paths.
    generic = edit_preset(BASE, {"absorption:GSA": 1e-24, "transfer:CR": 5000.0,
                                 "decay:radiative:Tm:3F4": 200.0,
                                 "decay:quenching:Tm:3H4->3H6": 50.0})
    rates = compile_model(generic).rates_per_s
    assert rates["transfer CR"] == 5000.0
    assert rates["radiative Tm:3F4 -> 3H6"] == 200.0
    assert rates["quenching Tm:3H4 -> 3H6"] == 50.0
    assert generic.beta == pytest.approx(6.4e-21 / 1e-24)


def test_default_initial_values_are_the_presets():
    expected = {"beta": BASE.beta, "sigma_esa": 6.4e-21, "cross_relaxation": 10240.0,
                "quenching": 0.0, "absorption:GSA": 2.1e-24, "transfer:ETU up": 55.9,
                "decay:radiative:Tm:3F4": 162.6, "decay:multiphonon:Tm:3H4->3F4": 6.02,
                "decay:radiative:Tm:3H4": 636.0, "decay:quenching:Tm:3F4->3H6": 0.0}
    for path, value in expected.items():
        resolved = _resolve(FitParameter(path, log=False), BASE)
        assert resolved.initial == pytest.approx(value), path
        assert resolved.get(TRUTH) == pytest.approx(
            {"beta": TRUE_BETA, "quenching": TRUE_QUENCHING, "absorption:GSA": 1.4e-24,
             "decay:quenching:Tm:3F4->3H6": TRUE_QUENCHING * W1_REF_PER_S}.get(path, value)), path


def test_cross_relaxation_of_a_cm3_per_s_preset_is_a_rate_per_s():
    pryb = get_preset("pryb_852")
    k = compile_model(pryb).rates_per_s["transfer CR Pr+Yb"]
    edited = edit_preset(pryb, {"cross_relaxation": 2 * k})
    assert compile_model(edited).rates_per_s["transfer CR Pr+Yb"] == pytest.approx(2 * k)
    cr = next(t for t in edited.transfers if t.kind == "cross-relaxation")
    assert cr.rate_per_s is None and cr.coefficient_cm3_per_s == pytest.approx(2 * 1.2e-16)


# --------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def small_curve():
    intensity, rate, sigma, _ = _measure(TRUTH, 5, n_coarse=20, n_refine=0)
    return intensity, rate, sigma


def test_too_few_points(small_curve):
    intensity, rate, sigma = small_curve
    with pytest.raises(ModelFitError, match="too few points: 5 distinct"):
        fit_scurve("tm8_1064", intensity[:5], rate[:5], sigma[:5], ["beta"])
    many = ["beta", "quenching", "cross_relaxation", "background", "intensity_scale",
            "decay:radiative:Tm:3F4"]  # + signal_scale = 7 free: needs 9 points
    with pytest.raises(ModelFitError, match="too few points: 8 distinct intensities for 7 free"):
        fit_scurve("tm8_1064", intensity[:8], rate[:8], sigma[:8], many)


@pytest.mark.parametrize("bad, message", [
    (0.0, "rate_sigma_cps must be finite and > 0"),
    (-1.0, "rate_sigma_cps must be finite and > 0"),
    (math.nan, "rate_sigma_cps must be finite and > 0"),
])
def test_non_positive_sigma(small_curve, bad, message):
    intensity, rate, sigma = small_curve
    sigma = sigma.copy()
    sigma[7] = bad
    with pytest.raises(ModelFitError, match=message + ".*point 7"):
        fit_scurve("tm8_1064", intensity, rate, sigma, ["beta"])


def test_bad_data_shapes_and_values(small_curve):
    intensity, rate, sigma = small_curve
    with pytest.raises(ModelFitError, match="equal lengths"):
        fit_scurve("tm8_1064", intensity, rate[:-1], sigma, ["beta"])
    bad = intensity.copy()
    bad[2] = -1.0
    with pytest.raises(ModelFitError, match="intensity_kW_cm2 must be finite and > 0"):
        fit_scurve("tm8_1064", bad, rate, sigma, ["beta"])
    with pytest.raises(ModelFitError, match="rise_times: every t½ needs a finite 1σ > 0"):
        fit_scurve("tm8_1064", intensity, rate, sigma, ["beta"],
                   rise_times=([5.0, 6.0], [0.1, 0.2], [0.01, 0.0]))
    with pytest.raises(ModelFitError, match="rise_times must be"):
        fit_scurve("tm8_1064", intensity, rate, sigma, ["beta"], rise_times=[1.0, 2.0])


@pytest.mark.parametrize("free, message", [
    (["betta"], "unknown fit parameter 'betta'.*known names: beta, sigma_esa"),
    (["absorption:GSB"], "no pump transition 'GSB' \\(transitions: 'GSA', 'ESA'\\)"),
    (["transfer:XR"], "no transfer 'XR'"),
    (["decay:radiative:Tm:3H5"], "unknown level '3H5' of Tm"),
    (["decay:thermal:Tm:3F4"], "KIND one of radiative"),
    ([FitParameter("beta", bounds=(5000.0, 1000.0))], "bounds must satisfy lo < hi"),
    ([FitParameter("beta", initial=1e5, bounds=(100.0, 1e4))], "outside the bounds"),
    ([FitParameter("intensity_scale", prior=(1.0, 0.0)), "beta"], "prior must be"),
    (["beta", "beta"], "used twice"),
    (["beta", "absorption:GSA"], "both edit pump GSA"),
    (["beta", "sigma_esa", "intensity_scale"], "exactly degenerate"),
    (["background"], "no preset parameter is free"),
    ([], "free is empty"),
])
def test_bad_parameter_choices(small_curve, free, message):
    intensity, rate, sigma = small_curve
    with pytest.raises(ModelFitError, match=message):
        fit_scurve("tm8_1064", intensity, rate, sigma, free)


def test_cross_relaxation_needs_exactly_one_cr_transfer(small_curve):
    intensity, rate, sigma = small_curve
    no_cr = dataclasses.replace(BASE, transfers=tuple(t for t in BASE.transfers if t.name != "CR"))
    with pytest.raises(ModelFitError, match="exactly one transfer of kind cross-relaxation"):
        fit_scurve(no_cr, intensity, rate, sigma, ["cross_relaxation"])


def test_scurve_data_from_run():
    columns = {"intensity_kW_cm2": np.array([1.0, 2.0]), "signal_cps": np.array([3.0, 4.0]),
               "signal_sigma_cps": np.array([1.0, 1.0]), "direction": np.array([1, 1])}
    intensity, rate, sigma = scurve_data_from_run(types.SimpleNamespace(columns=columns))
    assert list(rate) == [3.0, 4.0]
    del columns["signal_sigma_cps"]
    with pytest.raises(ModelFitError, match="no column\\(s\\) signal_sigma_cps"):
        scurve_data_from_run(types.SimpleNamespace(columns=columns))
