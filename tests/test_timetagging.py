"""Time-resolved counting: the simulated Time Tagger and pump modulator against the physics
(docs/physics.md §3, §7.2), the Swabian and NI-DAQ backends against fake SDKs (call sequence, ps
units), the YLR's modulation input, and faults.

Statistical checks use fixed seeds and tolerances of at least 5 standard errors; rise and decay
times are read from the histograms the way a lab would (background from the dark part,
half-rise by interpolation, decay by a log-linear fit).
"""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest

from drivers.errors import BackendNotInstalledError
from drivers.lasers.ipg_ylr import IPGYLR
from drivers.modulation import (
    NIDAQPumpModulator,
    PumpModulator,
    PumpWaveform,
)
from drivers.timetagging import (
    TimeResolvedCounter,
    TimeTaggerTimeoutError,
    as_ps,
    ps_to_seconds,
    seconds_to_ps,
)
from drivers.timetagging.swabian import SwabianTimeTagger
from sim_devices.clock import VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.time_tagger import SimPumpModulator, SimTimeTagger
from sim_devices.transport import InProcessAdapter
from sim_devices.world import SimWorld

DETECTOR, MARKER = 1, 2
I_TH_KW_CM2 = 5.33  # docs/physics.md §3: where S peaks (Tm preset)
PS = 10**12


def _laser_power_W(world: SimWorld, intensity_kW_cm2: float) -> float:
    """Laser output giving `intensity_kW_cm2` peak at the focus: I0 = 2P/(π w0²) with
    P = laser × attenuation_to_meter × transmission_to_sample (docs/physics.md §6)."""
    optics = world.optics
    waist_cm = optics.waist_at_um(1064.0) * 1e-4
    power_at_sample_W = intensity_kW_cm2 * 1e3 * math.pi * waist_cm**2 / 2.0
    return power_at_sample_W / optics.attenuation_to_meter / optics.transmission_to_sample


def _bench(intensity_kW_cm2: float, *, dark_count_rate_cps: float = 25.0, seed: int = 11,
           listen: bool = True):
    """A bench with the YLR twin at `intensity_kW_cm2` peak (emitting, start-up over, the
    modulation input enabled), a modulator on it and a Time Tagger."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=seed)
    laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser)
    assert laser.handle(f"SPS {_laser_power_W(world, intensity_kW_cm2):.4f}").startswith("SPS")
    if listen:
        assert laser.handle("EMOD") == "EMOD"
    assert laser.handle("EMON") == "EMON"
    clock.sleep(laser.startup_s + 0.1)
    modulator = SimPumpModulator(world, pump_source_name="pump_1064")
    tagger = SimTimeTagger(world, pump_source_name="pump_1064",
                           dark_count_rate_cps=dark_count_rate_cps)
    return world, laser, modulator, tagger


def _half_rise_time_s(hist, on_s: float, background_from_s: float) -> float:
    """t½ from a rise histogram: background = mean of the bins after `background_from_s`,
    final value = mean of the last 20 % of the on-phase, first crossing of half, interpolated."""
    t, counts = hist.bin_centers_s, hist.counts.astype(float)
    signal = counts - counts[t > background_from_s].mean()
    y = signal / signal[(t > 0.8 * on_s) & (t < on_s)].mean()
    k = int(np.argmax(y >= 0.5))
    return float(t[k - 1] + (0.5 - y[k - 1]) * (t[k] - t[k - 1]) / (y[k] - y[k - 1]))


# --- physics: rise and decay (docs/physics.md §7.2) -----------------------------------------------

def test_rise_histogram_at_5p6_kW_cm2_has_half_rise_time_224_ms():
    world, _, modulator, tagger = _bench(5.6)
    modulator.start(period_s=2.5, duty_cycle=0.8)  # 2 s on from dark, 0.5 s off
    hist = tagger.histogram(MARKER, DETECTOR, binwidth_ps=5 * 10**9, n_bins=500,
                            duration_s=1e5 * 2.5)
    assert _half_rise_time_s(hist, on_s=2.0, background_from_s=2.1) == pytest.approx(0.224,
                                                                                     rel=0.10)


def test_rise_histogram_at_half_threshold_has_half_rise_time_8p8_ms():
    world, _, modulator, tagger = _bench(0.5 * I_TH_KW_CM2)
    modulator.start(period_s=0.28, duty_cycle=0.2 / 0.28)  # 200 ms on, 80 ms off (≫ τ ³F₄)
    hist = tagger.histogram(MARKER, DETECTOR, binwidth_ps=5 * 10**8, n_bins=560,
                            duration_s=1e9 * 0.28)
    assert _half_rise_time_s(hist, on_s=0.2, background_from_s=0.24) == pytest.approx(
        0.0088, rel=0.10)


def test_decay_after_switch_off_has_92_us_lifetime():
    # Below threshold ETU barely refeeds ³H₄, so the decay shows its lifetime 1/(W2 + s31·n0).
    world, _, modulator, tagger = _bench(5.0, dark_count_rate_cps=5.0)
    modulator.start(period_s=0.205, duty_cycle=0.2 / 0.205)
    hist = tagger.histogram(-MARKER, DETECTOR, binwidth_ps=5_000_000, n_bins=400,
                            duration_s=1e8 * 0.205)  # start on the falling edge: pump off
    t, counts = hist.bin_centers_s, hist.counts.astype(float)
    signal = counts - counts[t > 1e-3].mean()
    fit = (t > 5e-6) & (t < 250e-6)
    slope = np.polyfit(t[fit], np.log(signal[fit]), 1, w=np.sqrt(signal[fit]))[0]
    assert -1.0 / slope == pytest.approx(92e-6, rel=0.10)


def test_histogram_counts_scale_with_duration():
    world, _, modulator, tagger = _bench(5.6)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    short = tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 500, duration_s=2.5e3).counts.sum()
    long = tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 500, duration_s=1e4).counts.sum()
    assert long / short == pytest.approx(4.0, abs=5 * 4.0 * math.sqrt(1 / long + 1 / short))


def test_dark_counts_fill_the_off_phase():
    world, _, modulator, tagger = _bench(5.6, dark_count_rate_cps=25.0)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    n_periods = 10_000
    hist = tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 500, duration_s=n_periods * 2.5)
    off = hist.counts[hist.bin_centers_s > 2.1]  # 100 ms after switch-off: the sample is dark
    expected = n_periods * 25.0 * hist.binwidth_s
    assert off.mean() == pytest.approx(expected, abs=5 * math.sqrt(expected / off.size))


def test_histogram_advances_the_bench_clock_by_its_duration():
    world, _, modulator, tagger = _bench(5.6)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    before = world.clock.now()
    tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 500, duration_s=3600.0)
    assert world.clock.now() - before == pytest.approx(3600.0)


def test_histogram_without_a_running_modulator_has_no_starts():
    world, _, modulator, tagger = _bench(5.6)
    hist = tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 100, duration_s=100.0)
    assert hist.counts.sum() == 0


def test_laser_ignoring_its_modulation_input_stays_cw():
    world, _, modulator, tagger = _bench(5.6, listen=False, dark_count_rate_cps=0.0)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    tagger.count_rate_trace([DETECTOR], 10**12, 10)  # let the emission settle
    hist = tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 500, duration_s=2.5e3)
    on, off = hist.counts[:400].mean(), hist.counts[400:].mean()
    assert off == pytest.approx(on, abs=5 * math.sqrt(on / 100))


def test_modulator_passes_the_time_averaged_power_to_the_bench():
    world, laser, modulator, tagger = _bench(5.6)
    assert world.peak_intensity_kW_cm2() == 0.0  # listening, input idling low: no light
    modulator.start(period_s=1.0, duty_cycle=0.25)
    assert world.peak_intensity_kW_cm2() == pytest.approx(0.25 * 5.6, rel=1e-3)
    modulator.stop()
    laser.handle("DMOD")
    assert world.peak_intensity_kW_cm2() == pytest.approx(5.6, rel=1e-3)


# --- count traces and gated counts ---------------------------------------------------------------

def test_cw_count_trace_rises_from_dark_to_the_steady_rate():
    world, laser, modulator, tagger = _bench(5.6, listen=False, dark_count_rate_cps=0.0)
    trace = tagger.count_rate_trace([DETECTOR], binwidth_ps=50 * 10**9, n_values=200)
    late = trace.counts[0, 100:]  # 5 s … 10 s after start: settled
    steady_per_bin = world.detected_photon_rate_cps() * trace.binwidth_s
    assert late.mean() == pytest.approx(steady_per_bin, abs=5 * math.sqrt(steady_per_bin / 100))
    assert trace.counts[0, 0] < 0.2 * steady_per_bin  # the first 50 ms: still dark


def test_populations_carry_over_from_one_capture_to_the_next():
    world, laser, modulator, tagger = _bench(5.6, listen=False, dark_count_rate_cps=0.0)
    tagger.count_rate_trace([DETECTOR], 10**12, 10)  # 10 s of CW pump: settled
    trace = tagger.count_rate_trace([DETECTOR], 50 * 10**9, 4)
    steady_per_bin = world.detected_photon_rate_cps() * trace.binwidth_s
    assert trace.counts[0].mean() == pytest.approx(steady_per_bin,
                                                   abs=5 * math.sqrt(steady_per_bin / 4))


def test_count_trace_on_the_marker_channel_counts_modulation_edges():
    world, _, modulator, tagger = _bench(5.6)
    modulator.start(period_s=1.0, duty_cycle=0.5)
    trace = tagger.count_rate_trace([MARKER, -MARKER], binwidth_ps=10**11, n_values=30)
    assert np.flatnonzero(trace.counts[0]).tolist() == [0, 10, 20]  # rising: pump on
    assert np.flatnonzero(trace.counts[1]).tolist() == [5, 15, 25]  # falling: pump off


def test_counts_between_markers_count_each_on_phase():
    world, _, modulator, tagger = _bench(5.6, dark_count_rate_cps=25.0)
    modulator.start(period_s=1.0, duty_cycle=0.5)
    on = tagger.counts_between_markers(DETECTOR, MARKER, -MARKER, n_values=20, duration_s=25.0)
    off = tagger.counts_between_markers(DETECTOR, -MARKER, MARKER, n_values=20,
                                        duration_s=25.0)
    assert on.complete and off.complete
    assert np.all(on.gate_widths_s == pytest.approx(0.5))
    assert off.counts.mean() == pytest.approx(25.0 * 0.5, abs=5 * math.sqrt(12.5 / 20))
    assert on.counts.mean() > 5 * off.counts.mean()


def test_counts_between_markers_is_incomplete_when_the_capture_is_too_short():
    world, _, modulator, tagger = _bench(5.6)
    modulator.start(period_s=1.0, duty_cycle=0.5)
    gated = tagger.counts_between_markers(DETECTOR, MARKER, -MARKER, n_values=10,
                                          duration_s=3.0)
    assert not gated.complete
    assert gated.counts[3:].sum() == 0


def test_trigger_level_above_the_detector_pulses_sees_no_clicks():
    world, _, modulator, tagger = _bench(5.6)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    tagger.set_trigger_level(DETECTOR, 2.0)  # detector pulses are 1.6 V into 50 Ω
    assert tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 100, 250.0).counts.sum() == 0


def test_trigger_level_outside_the_input_range_is_rejected():
    world, _, modulator, tagger = _bench(5.6)
    with pytest.raises(ValueError, match="input range"):
        tagger.set_trigger_level(DETECTOR, 3.3)


def test_binwidth_in_seconds_instead_of_ps_is_rejected():
    world, _, modulator, tagger = _bench(5.6)
    with pytest.raises(ValueError, match="integer number of ps"):
        tagger.histogram(MARKER, DETECTOR, binwidth_ps=5e-3, n_bins=100, duration_s=10.0)


def test_modulator_rejects_a_period_outside_its_limits():
    world, _, modulator, tagger = _bench(5.6)
    with pytest.raises(ValueError, match="limits"):
        modulator.start(period_s=1e-6, duty_cycle=0.5)
    with pytest.raises(ValueError, match="duty cycle"):
        modulator.start(period_s=1.0, duty_cycle=1.0)


def test_twins_implement_the_driver_interfaces():
    world, _, modulator, tagger = _bench(5.6)
    assert isinstance(tagger, TimeResolvedCounter)
    assert isinstance(modulator, PumpModulator)


# --- faults --------------------------------------------------------------------------------------

def test_dropped_tagger_raises_connection_reset():
    world, _, modulator, tagger = _bench(5.6)
    tagger.inject("drop_connection")
    with pytest.raises(ConnectionResetError):
        tagger.histogram(MARKER, DETECTOR, 10**9, 10, 1.0)


def test_hung_tagger_times_out_after_the_capture_time():
    world, _, modulator, tagger = _bench(5.6)
    tagger.inject("stop_answering")
    before = world.clock.now()
    with pytest.raises(TimeoutError):
        tagger.count_rate_trace([DETECTOR], 10**12, 5)
    assert world.clock.now() - before == pytest.approx(5.0)


def test_flooded_detector_saturates_at_the_dead_time_limit():
    world, _, modulator, tagger = _bench(5.6)
    tagger.inject("flood")
    trace = tagger.count_rate_trace([DETECTOR], 10**11, 10)
    true_rate = 5e7
    measured = true_rate / (1 + true_rate * tagger.dead_time_s)
    assert trace.rates_cps.mean() == pytest.approx(measured, rel=0.01)


def test_scheduled_fault_fires_on_the_bench_clock():
    world, _, modulator, tagger = _bench(5.6)
    tagger.schedule_fault("drop_connection", world.clock.now() + 5.0, world.clock)
    tagger.count_rate_trace([DETECTOR], 10**12, 6)
    with pytest.raises(ConnectionResetError):
        tagger.count_rate_trace([DETECTOR], 10**12, 1)


def test_unknown_fault_is_rejected():
    world, _, modulator, tagger = _bench(5.6)
    with pytest.raises(ValueError, match="no fault"):
        tagger.inject("melt")


def test_dropped_modulator_card_raises_on_start():
    world, _, modulator, tagger = _bench(5.6)
    modulator.inject("drop_connection")
    with pytest.raises(ConnectionResetError):
        modulator.start(1.0, 0.5)


# --- units ---------------------------------------------------------------------------------------

def test_seconds_and_ps_convert_exactly():
    assert seconds_to_ps(2.5) == 2_500_000_000_000
    assert ps_to_seconds(5_000_000) == pytest.approx(5e-6)
    assert as_ps(np.int64(1000), "binwidth_ps") == 1000
    with pytest.raises(ValueError):
        as_ps(0.5, "binwidth_ps")


def test_histogram_bin_edges_are_in_seconds_and_ps():
    world, _, modulator, tagger = _bench(5.6)
    modulator.start(period_s=2.5, duty_cycle=0.8)
    hist = tagger.histogram(MARKER, DETECTOR, 5 * 10**9, 4, duration_s=25.0)
    assert hist.bin_edges_ps.tolist() == [0, 5 * 10**9, 10 * 10**9, 15 * 10**9, 20 * 10**9]
    assert hist.bin_edges_s == pytest.approx([0.0, 5e-3, 10e-3, 15e-3, 20e-3])


# --- Swabian backend against a fake SDK ----------------------------------------------------------

CHANNEL_UNUSED = -134217728


def _fake_sdk(calls: list, *, finished: bool = True, applied_level=None) -> types.ModuleType:
    """A stand-in for the Swabian `TimeTagger` module that records every call."""
    sdk = types.ModuleType("TimeTagger")
    sdk.CHANNEL_UNUSED = CHANNEL_UNUSED

    class Tagger:
        def __init__(self):
            self.levels = {}

        def setTriggerLevel(self, channel, volts):
            calls.append(("setTriggerLevel", channel, volts))
            self.levels[channel] = volts if applied_level is None else applied_level

        def getTriggerLevel(self, channel):
            return self.levels[channel]

        def setTestSignal(self, channels, enabled):
            calls.append(("setTestSignal", channels, enabled))

        def getSerial(self):
            return "1234ABC"

    class Measurement:
        def __init__(self, name, tagger, data, **kwargs):
            calls.append((name, kwargs))
            self._data = data

        def startFor(self, capture_ps, clear=True):
            calls.append(("startFor", capture_ps))

        def waitUntilFinished(self, timeout_ms=-1):
            calls.append(("waitUntilFinished", timeout_ms))
            return finished

        def stop(self):
            calls.append(("stop",))

        def getData(self):
            calls.append(("getData",))
            return self._data

        def ready(self):
            return True

        def getBinWidths(self):
            return np.full(len(self._data), 7_000)

    sdk.createTimeTagger = lambda *args: calls.append(("createTimeTagger", args)) or Tagger()
    sdk.freeTimeTagger = lambda tagger: calls.append(("freeTimeTagger",))
    sdk.Histogram = lambda tagger, **kw: Measurement("Histogram", tagger,
                                                     np.arange(kw["n_bins"]), **kw)
    sdk.Counter = lambda tagger, **kw: Measurement(
        "Counter", tagger, np.ones((len(kw["channels"]), kw["n_values"]), dtype=int), **kw)
    sdk.CountBetweenMarkers = lambda tagger, **kw: Measurement(
        "CountBetweenMarkers", tagger, np.full(kw["n_values"], 3), **kw)
    return sdk


@pytest.fixture
def fake_sdk(monkeypatch):
    """The fake SDK installed as the legacy `TimeTagger` module; `Swabian` absent."""
    calls: list = []
    monkeypatch.setitem(sys.modules, "Swabian", None)
    monkeypatch.setitem(sys.modules, "TimeTagger", _fake_sdk(calls))
    return calls


def test_swabian_histogram_runs_start_for_wait_get_data_in_ps(fake_sdk):
    tagger = SwabianTimeTagger()
    hist = tagger.histogram(MARKER, DETECTOR, binwidth_ps=5 * 10**9, n_bins=400,
                            duration_s=250.0)
    names = [c[0] for c in fake_sdk]
    assert names == ["createTimeTagger", "Histogram", "startFor", "waitUntilFinished",
                     "getData"]
    assert fake_sdk[1][1] == {"click_channel": DETECTOR, "start_channel": MARKER,
                              "binwidth": 5 * 10**9, "n_bins": 400}
    assert fake_sdk[2] == ("startFor", 250 * PS)
    assert isinstance(fake_sdk[2][1], int)
    assert hist.counts.tolist() == list(range(400))
    assert hist.bin_edges_s[-1] == pytest.approx(2.0)


def test_swabian_count_trace_captures_exactly_binwidth_times_n_values(fake_sdk):
    trace = SwabianTimeTagger().count_rate_trace([1, 2], binwidth_ps=10**9, n_values=1000)
    assert ("Counter", {"channels": [1, 2], "binwidth": 10**9, "n_values": 1000}) in fake_sdk
    assert ("startFor", 10**12) in fake_sdk
    assert trace.counts.shape == (2, 1000)
    assert trace.rates_cps[0, 0] == pytest.approx(1000.0)


def test_swabian_counts_between_markers_without_end_channel_uses_channel_unused(fake_sdk):
    gated = SwabianTimeTagger().counts_between_markers(DETECTOR, MARKER, None, n_values=5,
                                                       duration_s=1.0)
    created = next(c for c in fake_sdk if c[0] == "CountBetweenMarkers")
    assert created[1] == {"click_channel": DETECTOR, "begin_channel": MARKER,
                          "end_channel": CHANNEL_UNUSED, "n_values": 5}
    assert gated.complete and gated.counts.tolist() == [3] * 5
    assert gated.gate_widths_s == pytest.approx([7e-9] * 5)


def test_swabian_trigger_level_is_set_and_read_back(fake_sdk):
    SwabianTimeTagger().set_trigger_level(DETECTOR, 0.5)
    assert ("setTriggerLevel", DETECTOR, 0.5) in fake_sdk


def test_swabian_trigger_level_the_tagger_cannot_apply_raises(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "Swabian", None)
    monkeypatch.setitem(sys.modules, "TimeTagger", _fake_sdk(calls, applied_level=2.5))
    with pytest.raises(ValueError, match="applied 2.5 V"):
        SwabianTimeTagger().set_trigger_level(DETECTOR, 4.0)


def test_swabian_measurement_that_never_finishes_raises_timeout(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "Swabian", None)
    monkeypatch.setitem(sys.modules, "TimeTagger", _fake_sdk(calls, finished=False))
    with pytest.raises(TimeTaggerTimeoutError):
        SwabianTimeTagger().histogram(MARKER, DETECTOR, 10**9, 10, duration_s=1.0)
    assert ("stop",) in calls


def test_swabian_prefers_the_pip_package_module(monkeypatch):
    new_calls: list = []
    old_calls: list = []
    package = types.ModuleType("Swabian")
    package.TimeTagger = _fake_sdk(new_calls)
    monkeypatch.setitem(sys.modules, "Swabian", package)
    monkeypatch.setitem(sys.modules, "TimeTagger", _fake_sdk(old_calls))
    SwabianTimeTagger(serial="1234ABC")
    assert new_calls == [("createTimeTagger", ("1234ABC",))] and old_calls == []


def test_swabian_close_frees_the_tagger(fake_sdk):
    tagger = SwabianTimeTagger()
    tagger.close()
    tagger.close()
    assert [c for c in fake_sdk if c[0] == "freeTimeTagger"] == [("freeTimeTagger",)]


def test_swabian_without_sdk_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "Swabian", None)
    monkeypatch.setitem(sys.modules, "TimeTagger", None)
    with pytest.raises(BackendNotInstalledError, match="pip install Swabian-TimeTagger"):
        SwabianTimeTagger()


def test_swabian_backend_implements_the_interface(fake_sdk):
    assert isinstance(SwabianTimeTagger(), TimeResolvedCounter)


# --- NI-DAQ modulator against a fake nidaqmx -----------------------------------------------------

@pytest.fixture
def fake_nidaqmx(monkeypatch):
    calls: list = []
    nidaqmx = types.ModuleType("nidaqmx")
    constants = types.ModuleType("nidaqmx.constants")
    constants.Level = types.SimpleNamespace(LOW="LOW", HIGH="HIGH")
    constants.AcquisitionType = types.SimpleNamespace(CONTINUOUS="CONTINUOUS", FINITE="FINITE")
    nidaqmx.constants = constants

    class Channel:
        def __setattr__(self, name, value):
            calls.append(("set", name, value))

    class Task:
        def __init__(self):
            calls.append(("Task",))
            self.co_channels = types.SimpleNamespace(add_co_pulse_chan_time=self._add)
            self.timing = types.SimpleNamespace(cfg_implicit_timing=self._timing)

        def _add(self, counter, **kwargs):
            calls.append(("add_co_pulse_chan_time", counter, kwargs))
            return Channel()

        def _timing(self, **kwargs):
            calls.append(("cfg_implicit_timing", kwargs))

        def start(self):
            calls.append(("start",))

        def stop(self):
            calls.append(("stop",))

        def close(self):
            calls.append(("close",))

    nidaqmx.Task = Task
    monkeypatch.setitem(sys.modules, "nidaqmx", nidaqmx)
    monkeypatch.setitem(sys.modules, "nidaqmx.constants", constants)
    return calls


def test_nidaq_modulator_runs_a_continuous_pulse_train_high_while_pump_on(fake_nidaqmx):
    modulator = NIDAQPumpModulator("Dev1/ctr2", output_terminal="PFI12")
    waveform = modulator.start(period_s=2.5, duty_cycle=0.8)
    assert waveform == PumpWaveform(2.5, 0.8) and modulator.waveform == waveform
    add = next(c for c in fake_nidaqmx if c[0] == "add_co_pulse_chan_time")
    assert add[1] == "Dev1/ctr2"
    assert add[2]["idle_state"] == "LOW"
    assert add[2]["high_time"] == pytest.approx(2.0) and add[2]["low_time"] == pytest.approx(0.5)
    assert add[2]["initial_delay"] == pytest.approx(0.5)  # the first on-phase starts from dark
    assert ("set", "co_pulse_term", "/Dev1/PFI12") in fake_nidaqmx
    assert ("cfg_implicit_timing", {"sample_mode": "CONTINUOUS"}) in fake_nidaqmx
    assert fake_nidaqmx[-1] == ("start",)


def test_nidaq_modulator_stop_stops_and_releases_the_task(fake_nidaqmx):
    modulator = NIDAQPumpModulator()
    modulator.start(period_s=0.1, duty_cycle=0.5)
    modulator.stop()
    assert fake_nidaqmx[-2:] == [("stop",), ("close",)]
    assert modulator.waveform is None


def test_nidaq_modulator_rejects_a_period_below_its_minimum(fake_nidaqmx):
    with pytest.raises(ValueError, match="limits"):
        NIDAQPumpModulator(min_period_s=1e-3).start(period_s=1e-4)
    assert ("Task",) not in fake_nidaqmx


def test_nidaq_modulator_without_nidaqmx_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nidaqmx", None)
    with pytest.raises(BackendNotInstalledError, match="pip install nidaqmx"):
        NIDAQPumpModulator()


# --- the YLR's modulation input ------------------------------------------------------------------

def test_ylr_driver_makes_the_simulated_laser_follow_the_modulator():
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=1)
    twin = SimIPGYLR(clock)
    world.attach_source("pump_1064", twin)
    modulator = SimPumpModulator(world, pump_source_name="pump_1064")
    laser = IPGYLR(InProcessAdapter(twin), max_power_W=5)
    laser.analog_modulation_enabled = True
    assert twin.modulation and modulator.gate() == "off"
    modulator.start(period_s=1.0, duty_cycle=0.5)
    assert modulator.gate() == "square"
