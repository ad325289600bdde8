"""The real Swabian Time Tagger and NI-DAQ modulator drivers over the simulated SDKs.

The rise/decay checks are those of the twins' own tests (test_timetagging.py): the lab's driver
classes, with only their SDK simulated, must measure the same physics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from drivers.errors import InstrumentConnectionError
from drivers.lasers.ipg_ylr import IPGYLR
from drivers.modulation import NIDAQPumpModulator, PumpWaveform
from drivers.timetagging import TimeTaggerConnectionError, TimeTaggerTimeoutError
from drivers.timetagging.swabian import SwabianTimeTagger
from sim_devices import sdk
from sim_devices.clock import VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.time_tagger import SimPumpModulator, SimTimeTagger
from sim_devices.transport import InProcessAdapter
from sim_devices.world import SimWorld

DETECTOR, MARKER = 1, 2
I_TH_KW_CM2 = 5.33


def assert_real_driver(driver: object, cls: type) -> None:
    """The object under test is the lab's driver class, not a twin standing in for it."""
    assert type(driver) is cls
    assert not any(c.__module__.startswith("sim_devices") for c in type(driver).__mro__)


def _laser_power_W(world: SimWorld, intensity_kW_cm2: float) -> float:
    optics = world.optics
    waist_cm = optics.waist_at_um(1064.0) * 1e-4
    power_at_sample_W = intensity_kW_cm2 * 1e3 * math.pi * waist_cm**2 / 2.0
    return power_at_sample_W / optics.attenuation_to_meter / optics.transmission_to_sample


def _bench(intensity_kW_cm2: float, *, dark_count_rate_cps: float = 25.0, seed: int = 11):
    """YLR twin (driven by its real driver) at `intensity_kW_cm2` with its modulation input
    enabled; the real modulator and tagger drivers over simulated SDKs on their twins."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=seed)
    laser_twin = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser_twin)
    laser = IPGYLR(InProcessAdapter(laser_twin))
    laser.analog_modulation_enabled = True
    assert laser_twin.handle(f"SPS {_laser_power_W(world, intensity_kW_cm2):.4f}")
    assert laser_twin.handle("EMON") == "EMON"
    clock.sleep(laser_twin.startup_s + 0.1)
    modulator_twin = SimPumpModulator(world, pump_source_name="pump_1064")
    tagger_twin = SimTimeTagger(world, pump_source_name="pump_1064",
                                dark_count_rate_cps=dark_count_rate_cps)
    modulator = sdk.open_simulated("nidaq_modulator", modulator_twin, "Dev1/ctr2",
                                   output_terminal="PFI12")
    tagger = sdk.open_simulated("swabian_time_tagger", tagger_twin, "")
    return world, modulator, tagger, modulator_twin, tagger_twin


def _half_rise_time_s(hist, on_s: float, background_from_s: float) -> float:
    t, counts = hist.bin_centers_s, hist.counts.astype(float)
    signal = counts - counts[t > background_from_s].mean()
    y = signal / signal[(t > 0.8 * on_s) & (t < on_s)].mean()
    k = int(np.argmax(y >= 0.5))
    return float(t[k - 1] + (0.5 - y[k - 1]) * (t[k] - t[k - 1]) / (y[k] - y[k - 1]))


def test_the_roles_are_the_real_drivers():
    _, modulator, tagger, _, _ = _bench(5.6)
    assert_real_driver(modulator, NIDAQPumpModulator)
    assert_real_driver(tagger, SwabianTimeTagger)


def test_rise_histogram_at_5p6_kW_cm2_has_half_rise_time_224_ms():
    _, modulator, tagger, _, _ = _bench(5.6)
    assert modulator.start(period_s=2.5, duty_cycle=0.8) == PumpWaveform(2.5, 0.8)
    hist = tagger.histogram(MARKER, DETECTOR, binwidth_ps=5 * 10**9, n_bins=500,
                            duration_s=1e5 * 2.5)
    assert hist.counts.sum() > 0
    assert _half_rise_time_s(hist, on_s=2.0, background_from_s=2.1) == pytest.approx(0.224,
                                                                                     rel=0.10)


def test_decay_after_switch_off_has_92_us_lifetime():
    _, modulator, tagger, _, _ = _bench(5.0, dark_count_rate_cps=5.0)
    modulator.start(period_s=0.205, duty_cycle=0.2 / 0.205)
    hist = tagger.histogram(-MARKER, DETECTOR, binwidth_ps=5_000_000, n_bins=400,
                            duration_s=1e8 * 0.205)
    t, counts = hist.bin_centers_s, hist.counts.astype(float)
    signal = counts - counts[t > 1e-3].mean()
    fit = (t > 5e-6) & (t < 250e-6)
    slope = np.polyfit(t[fit], np.log(signal[fit]), 1, w=np.sqrt(signal[fit]))[0]
    assert -1.0 / slope == pytest.approx(92e-6, rel=0.10)


def test_modulator_gates_the_pump_and_stop_leaves_it_dark():
    world, modulator, _, modulator_twin, _ = _bench(5.6)
    modulator.start(period_s=1.0, duty_cycle=0.25)
    assert modulator_twin.waveform == PumpWaveform(1.0, 0.25)
    assert modulator_twin.transmission(1064.0) == pytest.approx(0.25)
    modulator.stop()
    assert modulator.waveform is None and modulator_twin.waveform is None
    assert modulator_twin.transmission(1064.0) == 0.0  # input enabled, output idling low


def test_modulator_output_on_another_pin_does_not_reach_the_laser():
    world, _, _, modulator_twin, _ = _bench(5.6)
    miswired = NIDAQPumpModulator("Dev1/ctr2", output_terminal="PFI13",
                                  sdk=sdk.SimulatedNIDAQmx(_card_with(world, "PFI12",
                                                                      modulator_twin)))
    miswired.start(period_s=1.0)
    assert modulator_twin.waveform is None


def _card_with(world: SimWorld, pin: str, twin):
    card = sdk.SimDaqCard(world.clock, "Dev1")
    card.wire_output(pin, twin)
    return card


def test_count_trace_and_gated_counts_follow_the_modulation():
    _, modulator, tagger, _, _ = _bench(8.0, dark_count_rate_cps=0.0)
    modulator.start(period_s=0.5, duty_cycle=0.5)
    trace = tagger.count_rate_trace([DETECTOR, MARKER], binwidth_ps=10**10, n_values=200)
    assert trace.counts.shape == (2, 200)
    assert trace.counts[1].sum() == 4  # one rising marker edge per period, 2 s
    gated = tagger.counts_between_markers(DETECTOR, MARKER, -MARKER, n_values=3,
                                          duration_s=2.0)
    assert gated.complete and np.all(gated.counts > 0)
    assert gated.gate_widths_s == pytest.approx([0.25] * 3)


def test_trigger_level_outside_the_input_range_is_refused_by_the_driver():
    _, _, tagger, _, tagger_twin = _bench(5.6)
    tagger.set_trigger_level(DETECTOR, 0.8)
    assert tagger_twin.trigger_levels_V[DETECTOR] == 0.8
    with pytest.raises(ValueError, match="applied 2.5 V"):
        tagger.set_trigger_level(DETECTOR, 4.0)


def test_trigger_level_above_the_pulses_loses_the_clicks():
    _, modulator, tagger, _, _ = _bench(5.6)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    tagger.set_trigger_level(DETECTOR, 2.0)  # above the 1.6-V detector pulses
    hist = tagger.histogram(MARKER, DETECTOR, binwidth_ps=5 * 10**9, n_bins=500,
                            duration_s=100 * 2.5)
    assert hist.counts.sum() == 0


def test_hung_tagger_raises_the_driver_s_timeout():
    world, modulator, tagger, _, tagger_twin = _bench(5.6)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    tagger_twin.inject("stop_answering")
    before = world.clock.now()
    with pytest.raises(TimeTaggerTimeoutError):
        tagger.histogram(MARKER, DETECTOR, binwidth_ps=10**9, n_bins=10, duration_s=5.0)
    assert world.clock.now() - before == pytest.approx(5.0 + tagger.timeout_margin_s)


def test_a_tagger_that_is_not_there_raises_the_driver_s_connection_error():
    _, _, _, _, tagger_twin = _bench(5.6)
    with pytest.raises(TimeTaggerConnectionError, match="serial '1234ABC'"):
        SwabianTimeTagger("1234ABC", sdk=sdk.SimulatedTimeTaggerSDK(tagger_twin))


def test_opening_an_unplugged_tagger_raises_the_driver_s_connection_error():
    _, _, _, _, tagger_twin = _bench(5.6)
    tagger_twin.inject("drop_connection")
    with pytest.raises(TimeTaggerConnectionError):
        sdk.swabian_time_tagger(tagger_twin)


def test_dropped_tagger_raises_the_sdk_s_runtime_error():
    _, _, tagger, _, tagger_twin = _bench(5.6)
    tagger_twin.inject("drop_connection")
    with pytest.raises(TimeTaggerConnectionError, match="disconnected"):
        tagger.histogram(MARKER, DETECTOR, binwidth_ps=10**9, n_bins=10, duration_s=1.0)


def test_dropped_daq_card_refuses_to_start_the_modulation():
    _, modulator, _, modulator_twin, _ = _bench(5.6)
    modulator_twin.inject("drop_connection")
    with pytest.raises(InstrumentConnectionError) as error:
        modulator.start(period_s=1.0)
    assert error.value.__cause__.error_code == -201003
    assert modulator_twin.waveform is None


def test_closing_the_modulator_stops_the_pump_even_on_a_dropped_card():
    _, modulator, _, modulator_twin, _ = _bench(5.6)
    modulator.start(period_s=1.0)
    modulator_twin.inject("drop_connection")
    with pytest.raises(InstrumentConnectionError, match="DAQmx -201003"):
        modulator.close()
    assert modulator_twin.waveform is None  # the released counter idles low
    with pytest.raises(InstrumentConnectionError, match="DAQmx -201003"):
        modulator.start(period_s=1.0)  # every SDK call of start() is translated
