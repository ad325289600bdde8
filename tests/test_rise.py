"""Rise times per pump power on the simulated time-resolved bench (Tm 8 %, 1064 nm).

Expectations come from the rate equations (sim_devices.physics.dynamics.rise_half_time_s):
t½ peaks at ~0.22 s just above the threshold (~5.6 kW/cm²) and falls to ~27 ms at three times
the threshold; the S-curve's threshold (S peak) is 5.33 kW/cm².
"""

from __future__ import annotations

import math

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import load_config
from avlab.runner import Runner
from avlab.storage import read_run
from experiments.rise import Rise, ScurveRise
from sim_devices.physics.dynamics import decay_curve, rise_half_time_s

LABS = Path(experiments.__file__).parent / "labs"


def seeded(name: str, seed: int):
    config = load_config(LABS / name)
    return dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                      seed=seed))


@pytest.fixture(scope="module")
def rise_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("rise") / "rise.h5"
    with Bench(seeded("timetagger_sim.toml", 3)) as bench:
        proc = Rise(power_min_W=0.2, power_max_W=0.8, points=14, refine_points=8,
                    max_capture_s=3000.0)
        result = Runner(proc, bench, path).run()
        emitting = bench.laser().is_emitting
        # back on CW: with the modulation input on and the waveform stopped a laser on
        # hardware emits nothing, and the next run would measure darkness
        assert bench.laser().driver.analog_modulation_enabled is False
    return proc, result, read_run(path), emitting


def test_t_half_peak_matches_the_rate_equations(rise_run):
    _, result, _, _ = rise_run
    assert result.status == "completed", result.message
    scalars = result.analysis.scalars
    peak_I = scalars["threshold_dynamic_kW_cm2"][0]
    # Physics: where t½(I) of the preset peaks, and how high.
    grid = np.linspace(5.3, 6.0, 15)
    physics = np.array([rise_half_time_s("tm8_1064", i) for i in grid])
    assert peak_I == pytest.approx(grid[np.argmax(physics)], rel=0.10)
    assert scalars["t_half_peak_s"][0] == pytest.approx(physics.max(), rel=0.10)


def test_t_half_far_above_threshold_matches_the_rate_equations(rise_run):
    _, result, data, _ = rise_run
    report = result.analysis.detail
    k = int(np.argmax(report.intensity_kW_cm2))
    assert report.curves[k].reliable
    expected = rise_half_time_s("tm8_1064", float(report.intensity_kW_cm2[k]))
    assert report.curves[k].t_half_s == pytest.approx(expected, rel=0.10)
    # The 10–90 % time is reported with an uncertainty, and t10 < t½ < t90.
    c = report.curves[k]
    assert c.t10_s < c.t_half_s < c.t90_s and c.rise_10_90_sigma_s > 0


def test_each_power_streams_one_histogram_row_with_its_intensity(rise_run):
    proc, result, data, _ = rise_run
    n = data.n_points
    assert data.arrays["rise_counts"].shape == (n, proc.bins)
    assert data.arrays["decay_counts"].shape[0] == n
    np.testing.assert_allclose(data.array_axes["rise_intensity_kW_cm2"],
                               data.columns["intensity_kW_cm2"])
    assert np.all(data.arrays["rise_counts"][:].sum(axis=1) == data.columns["histogram_counts"])


def test_period_adapts_to_the_slow_rise_near_threshold(rise_run):
    _, _, data, _ = rise_run
    c = data.columns
    ok = c["reliable"] == 1
    on_over_t_half = c["on_s"][ok] / c["t_half_s"][ok]
    assert np.all(on_over_t_half > 2.0)  # every accepted rise had time to settle
    near = np.argmax(np.where(ok, c["t_half_s"], 0))
    far = np.argmax(c["intensity_kW_cm2"])
    assert c["period_s"][near] > 3 * c["period_s"][far]


def test_refinement_adds_points_around_the_peak(rise_run):
    _, result, data, _ = rise_run
    c = data.columns
    refined = c["intensity_kW_cm2"][c["rise_pass"] == 1]
    peak = result.analysis.scalars["threshold_dynamic_kW_cm2"][0]
    assert refined.size >= 2
    assert np.all(np.abs(np.log(refined / peak)) < 0.15)


def test_analysis_scalars_are_stored_and_the_pump_is_off(rise_run, tmp_path):
    proc, result, data, emitting = rise_run
    assert emitting is False
    stored = data.results["analysis"]
    assert "threshold_dynamic_kW_cm2" in stored and "t_half_peak_s" in stored
    png = proc.plot(data, result.analysis, tmp_path / "rise.png")
    assert png.stat().st_size > 10_000


def test_no_reliable_coarse_point_ends_the_refinement_not_the_run(rise_run):
    """A dim particle whose every coarse t½ is unreliable (NaN): the run keeps its points
    and says why it did not refine, instead of failing on an all-NaN argmax."""
    from experiments.rise.procedure import RiseSweep

    messages = []
    sweep = RiseSweep.__new__(RiseSweep)
    sweep.p = rise_run[0]
    sweep.ctx = type("Ctx", (), {"log": lambda self, m, level=20: messages.append(m)})()
    sweep.measured = {0.2: (math.nan, 1.0), 0.4: (math.nan, 2.0), 0.8: (math.nan, 3.0)}
    sweep.refine(total=3)
    assert messages and "no reliable t½" in messages[0]


def test_too_short_period_is_flagged_not_fitted(tmp_path):
    # A fixed 0.3 s period near threshold (t½ ≈ 0.22 s) cuts the rise off: every point must be
    # stored unreliable, and the analysis must refuse to locate a peak from them.
    with Bench(seeded("timetagger_sim.toml", 5)) as bench:
        proc = Rise(powers_W="0.26,0.27,0.28", adapt_period=False, period_s=0.3,
                    decay_capture_s=0.0, max_capture_s=600.0)
        result = Runner(proc, bench, tmp_path / "short.h5").run()
    assert result.status == "completed"
    report = result.analysis.detail
    assert not np.any(report.reliable)
    assert all(not c.check.settled for c in report.curves)
    assert report.peak is None
    assert any("not steady before switch-off" in line for line in result.analysis.summary)


def test_too_short_period_is_lengthened_when_adapting(tmp_path):
    with Bench(seeded("timetagger_sim.toml", 6)) as bench:
        proc = Rise(powers_W="0.27", period_s=0.2, settle_factor=1.0, decay_capture_s=0.0,
                    max_capture_s=120.0)
        result = Runner(proc, bench, tmp_path / "lengthen.h5").run()
    c = result.data.columns
    assert c["attempts"][0] > 1 and c["period_s"][0] > 0.2
    assert c["reliable"][0] == 1
    assert c["t_half_s"][0] == pytest.approx(0.224, rel=0.10)


def test_decay_after_switch_off_shows_the_emitting_level_lifetime(tmp_path):
    # Just below threshold (~5.0 kW/cm²) the fast decay after switch-off is ³H₄'s own
    # (docs/physics.md §7.2: ~92 µs); the rate equations give 92.6 µs over the first lifetimes
    # there. The fit's free pedestal absorbs the dark counts and the slow refeeding.
    with Bench(seeded("timetagger_sim.toml", 8)) as bench:
        proc = Rise(powers_W="0.24", decay_capture_s=2e6, max_capture_s=600.0)
        result = Runner(proc, bench, tmp_path / "decay.h5").run()
    report = result.analysis.detail
    intensity = float(report.intensity_kW_cm2[0])
    assert 4.8 < intensity < 5.2
    t = (np.arange(60) + 0.5) * 5e-6
    physics = decay_curve("tm8_1064", intensity, t)
    tau_physics = -1.0 / np.polyfit(t, np.log(physics), 1)[0]
    assert tau_physics == pytest.approx(92e-6, rel=0.03)
    decay = report.decays[0]
    assert decay is not None and decay.ok
    assert decay.lifetime_s == pytest.approx(tau_physics, rel=0.10)
    assert abs(decay.lifetime_s - tau_physics) < 3 * decay.lifetime_sigma_s + 0.03 * tau_physics


def test_decay_fit_ignores_a_wrong_dark_reference():
    # A pedestal 5 % above the dark reference (a short reference, or slow refeeding) bent the
    # old log-linear fit by ~30 %; with a free pedestal the fast lifetime stays put.
    from experiments.rise.analysis import fit_decay

    t = (np.arange(250) + 0.5) * 4e-6
    expected = 300.0 * np.exp(-t / 92e-6) + 262.0
    counts = np.random.default_rng(3).poisson(expected)
    decay = fit_decay(counts, 4e-6, 250.0)
    assert decay.lifetime_s == pytest.approx(92e-6, rel=0.06)


def test_thirty_power_run_locates_the_peak(tmp_path):
    # The benchmark's run (20 coarse + 10 refined powers, tight refinement tolerance): the
    # points just below the peak, dim against the dark counts, must get enough cycles and a long
    # enough period to be reliable, so the peak is bracketed and found.
    with Bench(seeded("timetagger_sim.toml", 1)) as bench:
        proc = Rise(points=20, refine_points=10, refine_tolerance=0.002)
        result = Runner(proc, bench, tmp_path / "thirty.h5").run()
    assert result.status == "completed", result.message
    assert result.data.n_points == 30
    scalars = result.analysis.scalars
    grid = np.linspace(5.3, 6.0, 15)
    physics = np.array([rise_half_time_s("tm8_1064", i) for i in grid])
    assert scalars["threshold_dynamic_kW_cm2"][0] == pytest.approx(grid[np.argmax(physics)],
                                                                   rel=0.10)
    assert scalars["t_half_peak_s"][0] == pytest.approx(physics.max(), rel=0.10)
    c = result.data.columns
    ok = c["reliable"] == 1
    below = ok & (c["intensity_kW_cm2"] < scalars["threshold_dynamic_kW_cm2"][0])
    assert below.sum() >= 2  # the peak has reliable neighbours on its low side


def test_weak_signal_gets_more_cycles_or_an_explanation(tmp_path, caplog):
    # Below threshold the signal is a few counts/s against 25 counts/s dark: the capture grows
    # from the measured signal-to-dark ratio up to max_capture_s; what it cannot resolve there
    # is stored unreliable with the capture it would need.
    with Bench(seeded("timetagger_sim.toml", 11)) as bench:
        proc = Rise(powers_W="0.22,0.15", period_s=0.25, max_capture_s=900.0,
                    decay_capture_s=0.0)
        result = Runner(proc, bench, tmp_path / "weak.h5").run()
    c = result.data.columns
    captured_s = c["cycles"] * c["period_s"]
    assert np.all(captured_s > 0.8 * 900.0)  # topped up to the bound, not min_cycles
    assert c["reliable"][1] == 0
    assert "the steady-state check needs about" in caplog.text


def test_combined_run_compares_dynamic_and_scurve_thresholds(tmp_path):
    path = tmp_path / "both.h5"
    with Bench(seeded("rise_sim.toml", 4)) as bench:
        proc = ScurveRise(scurve_points=25)
        result = Runner(proc, bench, path).run()
    assert result.status == "completed", result.message
    scalars = result.analysis.scalars
    dynamic = scalars["threshold_dynamic_kW_cm2"][0]
    static = scalars["threshold_scurve_kW_cm2"][0]
    assert static == pytest.approx(scalars["threshold_s_peak_kW_cm2"][0])
    assert dynamic == pytest.approx(static, rel=0.10)
    assert any(line.startswith("thresholds: dynamic") for line in result.analysis.summary)
    png = proc.plot(result.data, result.analysis, tmp_path / "both.png")
    assert png.stat().st_size > 10_000


def test_rise_against_a_named_scurve_run(rise_run, tmp_path):
    with Bench(seeded("rise_sim.toml", 9)) as bench:
        from experiments.scurve import SCurve

        scurve_path = tmp_path / "scurve.h5"
        Runner(SCurve(points=25, sweep_down=False, settle_s=1.5), bench, scurve_path).run()
    _, _, data, _ = rise_run
    from experiments.rise.report import analyse_rise_file

    report = analyse_rise_file(data, scurve_run=scurve_path)
    assert report.scurve_threshold_kW_cm2 == pytest.approx(5.33, rel=0.05)
    assert report.scurve_source == "scurve.h5"


def test_procedures_are_registered_in_pyproject():
    pyproject = Path(experiments.__file__).parent.parent / "pyproject.toml"
    entries = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["avlab.procedures"]
    assert entries["rise"] == "experiments.rise:Rise"
    assert entries["scurve_rise"] == "experiments.rise:ScurveRise"
    assert Rise.name == "rise" and ScurveRise.name == "scurve_rise"
