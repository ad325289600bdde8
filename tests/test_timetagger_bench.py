"""Rise and decay curves on the simulated bench: modulator + time tagger roles, with photon
times from the rate equations in time (docs/physics.md §7.2)."""

from __future__ import annotations

import dataclasses

import math
from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import ConfigError, load_config, parse_config
from avlab.errors import SafetyLimitError

CONFIG = Path(experiments.__file__).parent / "labs" / "timetagger_sim.toml"


@pytest.fixture
def bench():
    config = load_config(CONFIG)  # seeded: the rise-time check is statistical
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=22))
    with Bench(config) as b:
        yield b


def laser_power_for(bench: Bench, intensity_kW_cm2: float) -> float:
    optics, world = bench.config.optics, bench.world
    waist_cm = optics.waist_um(1064.0) * 1e-4
    sample_W = intensity_kW_cm2 * 1e3 * math.pi * waist_cm**2 / 2.0
    return sample_W / (world.optics.attenuation_to_meter * optics.transmission_to_sample)


def half_rise_time_s(histogram) -> float:
    t, counts = histogram.bin_centers_s, histogram.counts.astype(float)
    on = t < 2.0
    dark = counts[~on].mean()
    final = counts[(t > 1.8) & on].mean() - dark
    rising = (counts - dark) / final
    i = int(np.argmax(rising[on] >= 0.5))
    return float(np.interp(0.5, rising[i - 1:i + 1], t[i - 1:i + 1]))


def test_rise_curve_near_threshold_shows_critical_slowing_down(bench):
    laser, modulator, tagger = bench.laser(), bench.modulator(), bench.time_tagger()
    laser.set_modulation_input(True)
    laser.set_power_W(laser_power_for(bench, 5.6))
    with laser.emitting(), modulator.modulating(period_s=2.5, duty_cycle=0.8):
        histogram = tagger.rise_histogram(binwidth_s=5e-3, n_bins=500, duration_s=300.0)
    assert half_rise_time_s(histogram) == pytest.approx(0.224, rel=0.10)


def test_the_modulation_input_cannot_change_while_emitting(bench):
    laser = bench.laser()
    laser.emission_on()
    with pytest.raises(SafetyLimitError, match="switch emission off"):
        laser.set_modulation_input(True)


def test_modulation_period_outside_the_limits_is_refused(bench):
    with pytest.raises(SafetyLimitError, match="configured range of modulator"):
        bench.modulator().start(period_s=1e-6)


def test_shutdown_stops_the_modulation_after_the_lasers(bench):
    bench.modulator().start(period_s=1.0)
    report = bench.shutdown()
    assert report.outcomes["modulator"] == "modulation stopped"
    assert list(report.outcomes)[0] == "pump_1064"


def test_pump_role_must_name_a_laser():
    text = CONFIG.read_text().replace('pump_role = "pump_1064"\n[instruments.modulator',
                                      'pump_role = "pump_852"\n[instruments.modulator')
    with pytest.raises(ConfigError, match="modulator.pump_role"):
        parse_config(text, "tt.toml")


def test_decay_curve_after_switch_off_shows_the_3H4_lifetime(bench):
    # Below threshold ETU barely refeeds ³H₄, so the decay shows its lifetime (~92 µs).
    laser, modulator, tagger = bench.laser(), bench.modulator(), bench.time_tagger()
    laser.set_modulation_input(True)
    laser.set_power_W(laser_power_for(bench, 5.0))
    with laser.emitting(), modulator.modulating(period_s=0.205, duty_cycle=0.2 / 0.205):
        histogram = tagger.decay_histogram(binwidth_s=5e-6, n_bins=400, duration_s=1e8 * 0.205)
    t, counts = histogram.bin_centers_s, histogram.counts.astype(float)
    signal = counts - counts[t > 1e-3].mean()
    fit = (t > 5e-6) & (t < 250e-6)
    slope = np.polyfit(t[fit], np.log(signal[fit]), 1, w=np.sqrt(signal[fit]))[0]
    assert -1.0 / slope == pytest.approx(92e-6, rel=0.10)
