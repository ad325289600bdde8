"""Simulated time tagger and pump modulator (SDK-level twins) for rise and decay curves.

Like the photon counter, a time tagger has no command protocol, so the twins implement the small
interfaces of `drivers.timetagging` (`TimeResolvedCounter`) and `drivers.modulation`
(`PumpModulator`) directly; they meet the drivers only there, reusing those interfaces' pure
parts (result types, waveform, argument checks) and no hardware backend.

Wiring (as on the real bench): the detector's TTL goes to `detector_channel` (1), the modulator's
TTL — high while the pump is on — to `marker_channel` (2) and to the laser's modulation input.

**Pump.** `SimPumpModulator` square-waves the source named `pump_source_name` when that laser
listens to its modulation input (the YLR twin after `EMOD`, the CLD twin with `SOUR:AM` on;
a source without such a switch, e.g. behind an AOM, always listens). Listening and stopped, the
output idles low: no light. Not listening: CW, whatever the modulator does. The modulator is
also an element of the world's beam path whose transmission is the *time-averaged* gate (duty
cycle, 1 or 0), so the power meter reads the mean power and CW twins (power meter, gated
counter) see the mean; only the time tagger resolves the waveform.

**Emission.** The tagger integrates the rate equations in time (`physics.dynamics.integrate`,
LSODA with the analytic Jacobian — the integrator of `ParticleDynamics`) for every particle at
its own local intensity: the world's pump intensity while on, the other (unmodulated) pumps only
while off. Populations are carried from call to call: between calls the state is advanced over
the elapsed bench time under the pump as it is now (the tagger starts dark when created). A
capture of N periods integrates periods one by one until the state at the end of a period equals
the state at its start (rtol 1e-6: the periodic steady state; one period when the off-phase is
long enough to empty the reservoir, tens when it is not), then counts every later period as
that periodic one — so a 1000-s capture of 2.5-s periods costs one or two periods of
integration, and a capture that starts before the particle has settled shows its transient.
Beyond `max_profiled_periods` periods still unsettled are integrated state-only (at most
`max_settling_periods`) and the rest take the final period's profile.

**Counts.** Expected clicks per bin = starts × (signal photons in the bin × collection
efficiency, dark counts × bin width, the flood fault's rate × bin width), each bin's rate
saturated by the non-paralyzable dead time as in `SimPhotonCounter` (m = r/(1 + r·τ)), blurred by
the timing jitter (Gaussian, when it is not negligible against the bin width), then drawn
Poisson. A channel sees edges only while its trigger level lies between 0 and its pulse
amplitude.

Simplifications (documented, not hidden): every capture starts on a modulation period boundary;
clicks are counted on the detector channel only (marker edges in `count_rate_trace` too);
`histogram` ignores the few clicks a real capture loses after its last start.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instrument_data.modulation import PumpWaveform, check_waveform
from instrument_data.timetagging import (
    CountTrace,
    GatedCounts,
    TimeHistogram,
    as_ps,
    check_channel,
    check_count,
    check_duration_s,
)

from ..physics.dynamics import integrate
from ..physics.model import RateModel, compile_model
from ..world import SimWorld
from .photon_counter import counted_rate_cps
from .sdk_faults import SdkFaults

#: Faults of the tagging chain (SDK-level: no wire, so they surface as the SDK's errors).
TAGGER_FAULTS: dict[str, str] = {
    "drop_connection": "the Time Tagger disappears (USB reset): every call raises",
    "stop_answering": "the Time Tagger hangs: a measurement never finishes (timeout)",
    "flood": "room light or a laser reflection floods the detector (~50 Mcps true rate)",
}
MODULATOR_FAULTS: dict[str, str] = {
    "drop_connection": "the DAQ card disappears (USB/PCIe reset): start/stop raise",
    "stop_answering": "the DAQ driver hangs: start/stop time out",
}
#: Input range of a trigger level (V) [G: Time Tagger Ultra ±2.5 V; the TT20 0 … 2.5 V].
TRIGGER_RANGE_V = (-2.5, 2.5)
DEFAULT_TRIGGER_LEVEL_V = 0.5
#: The modulator attaches to sources whose wavelength is this close to its own source's.
_SAME_SOURCE_NM = 0.5
#: Longest stretch of constant pump integrated when catching up with the bench clock (s): every
#: preset has settled long before.
_MAX_CONSTANT_CATCH_UP_S = 1000.0

# Modulators by world and source name, so a tagger built separately (its own config role) finds
# the one that gates its pump.
_MODULATORS: weakref.WeakKeyDictionary[SimWorld, dict[str, SimPumpModulator]] = (
    weakref.WeakKeyDictionary())


# --- the modulator -------------------------------------------------------------------------------

class SimPumpModulator(SdkFaults):
    """A DAQ counter output square-waving the pump `pump_source_name`, with its TTL marker."""

    FAULTS = MODULATOR_FAULTS

    def __init__(self, world: SimWorld, *, pump_source_name: str, min_period_s: float = 1e-4,
                 max_period_s: float = 100.0,
                 name: str = "simulated NI-DAQ ctr2 pulse train") -> None:
        registry = _MODULATORS.setdefault(world, {})
        if pump_source_name in registry:
            raise ValueError(f"{pump_source_name!r} already has a modulator on this bench")
        self.world = world
        self.pump_source_name = pump_source_name
        self.min_period_s = float(min_period_s)
        self.max_period_s = float(max_period_s)
        self.name = name
        self._waveform: PumpWaveform | None = None
        self.started_at_s: float | None = None
        self._init_faults()
        registry[pump_source_name] = self
        world.add_to_beam_path(self)

    @property
    def identity(self) -> str:
        return f"avlab simulation, {self.name}, modulating {self.pump_source_name}"

    @property
    def waveform(self) -> PumpWaveform | None:
        return self._waveform

    def _check_daq(self) -> None:
        self._check_link(
            self.world.clock,
            ConnectionResetError(f"{self.name}: device not present (simulated fault)"),
            TimeoutError(f"{self.name}: the DAQ driver did not answer (simulated fault)"))

    def start(self, period_s: float, duty_cycle: float = 0.5) -> PumpWaveform:
        waveform = PumpWaveform(float(period_s), float(duty_cycle))
        check_waveform(waveform, min_period_s=self.min_period_s, max_period_s=self.max_period_s)
        self._check_daq()
        self.generate(waveform)
        return waveform

    def stop(self) -> None:
        self._check_daq()
        self.halt()

    def close(self) -> None:
        """Stop the output (even when the link is faulted: the card idles low when released)."""
        self.halt()

    # --- the output itself (shared with the simulated NI-DAQ card, `sim_devices.sdk`) ------------
    def generate(self, waveform: PumpWaveform) -> None:
        """The counter output starts the square wave now (no limit or fault checks)."""
        self._waveform = waveform
        self.started_at_s = self.world.clock.now()

    def halt(self) -> None:
        """The counter output stops and idles low."""
        self._waveform = None
        self.started_at_s = None

    # --- what the pump does ----------------------------------------------------------------------
    def source(self):
        """The modulated beam source, or None while it is not on the bench."""
        return self.world.sources.get(self.pump_source_name)

    def laser_listens(self) -> bool:
        """Whether the laser follows its modulation input (YLR: EMOD; CLD: SOUR:AM ON)."""
        source = self.source()
        if source is None:
            return False
        for flag in ("modulation", "am_enabled"):
            if hasattr(source, flag):
                return bool(getattr(source, flag))
        return True

    def gate(self) -> str:
        """'square' (modulated), 'cw' (the laser ignores its input) or 'off' (input idles low)."""
        if not self.laser_listens():
            return "cw"
        return "square" if self._waveform is not None else "off"

    def transmission(self, wavelength_nm: float) -> float:
        """Time-averaged fraction of the modulated source's light passed (beam-path element)."""
        source = self.source()
        if source is None or abs(wavelength_nm - source.wavelength_nm) > _SAME_SOURCE_NM:
            return 1.0
        gate = self.gate()
        if gate == "square":
            return self._waveform.duty_cycle
        return 1.0 if gate == "cw" else 0.0


def modulator_for(world: SimWorld, pump_source_name: str) -> SimPumpModulator | None:
    """The simulated modulator of a source on this bench, if there is one."""
    return _MODULATORS.get(world, {}).get(pump_source_name)


# --- periodic emission ---------------------------------------------------------------------------

@dataclass
class _PeriodicSignal:
    """Detected signal photons accumulated over a run of modulation periods.

    `explicit[j]` is the cumulative signal within period j at `phases` (from the period start);
    every period from `len(explicit)` on is `steady`. `states[j]` is the state after period j;
    `final_state` the state once settled.
    """

    period_s: float
    phases: np.ndarray
    explicit: np.ndarray
    steady: np.ndarray
    states: list[np.ndarray]
    final_state: np.ndarray

    def cumulative(self, q: np.ndarray, r_index: np.ndarray) -> np.ndarray:
        """Signal from the start of period 0 to phase `phases[r_index]` of period `q`."""
        q = np.asarray(q, dtype=np.int64)
        r_index = np.asarray(r_index, dtype=np.int64)
        n_explicit = len(self.explicit)
        prefix = np.concatenate(([0.0], np.cumsum(self.explicit[:, -1])))
        base = prefix[np.minimum(q, n_explicit)] + np.maximum(q - n_explicit, 0) * self.steady[-1]
        profile = self.steady[r_index]
        if n_explicit:
            early = q < n_explicit
            profile = np.where(early, self.explicit[np.minimum(q, n_explicit - 1), r_index],
                               profile)
        return base + profile

    def state_after(self, n_periods: int) -> np.ndarray:
        if n_periods <= 0:
            raise ValueError("no period ran")
        return self.states[n_periods - 1] if n_periods <= len(self.states) else self.final_state


def _split_phases(times_s: np.ndarray, period_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(period index, phase) of absolute times after a period boundary."""
    q = np.floor(times_s / period_s).astype(np.int64)
    r = times_s - q * period_s
    wrapped = r >= period_s  # rounding
    q = np.where(wrapped, q + 1, q)
    r = np.where(wrapped, r - period_s, np.maximum(r, 0.0))
    return q, r


# --- the time tagger -----------------------------------------------------------------------------

class SimTimeTagger(SdkFaults):
    """A Time Tagger whose clicks come from the simulated sample's rate equations in time."""

    FAULTS = TAGGER_FAULTS

    def __init__(
        self,
        world: SimWorld,
        *,
        pump_source_name: str,
        detector_channel: int = 1,
        marker_channel: int = 2,
        dark_count_rate_cps: float = 25.0,
        dead_time_s: float = 22e-9,
        timing_jitter_ps: float = 350.0,
        detector_pulse_V: float = 1.6,
        marker_pulse_V: float = 2.5,
        modulator: SimPumpModulator | None = None,
        max_profiled_periods: int = 64,
        max_settling_periods: int = 5000,
        name: str = "simulated Time Tagger",
    ) -> None:
        if dark_count_rate_cps < 0 or dead_time_s < 0 or timing_jitter_ps < 0:
            raise ValueError("dark count rate, dead time and timing jitter must not be negative")
        if detector_channel < 1 or marker_channel < 1 or detector_channel == marker_channel:
            raise ValueError("detector and marker need two different physical channels (≥ 1)")
        if max_profiled_periods < 1 or max_settling_periods < 1:
            raise ValueError("max_profiled_periods and max_settling_periods must be ≥ 1")
        self.world = world
        self.pump_source_name = pump_source_name
        self.detector_channel = int(detector_channel)
        self.marker_channel = int(marker_channel)
        self.dark_count_rate_cps = float(dark_count_rate_cps)
        self.dead_time_s = float(dead_time_s)
        self.timing_jitter_ps = float(timing_jitter_ps)
        self.pulse_amplitude_V = {self.detector_channel: float(detector_pulse_V),
                                  self.marker_channel: float(marker_pulse_V)}
        self._modulator = modulator
        self.max_profiled_periods = int(max_profiled_periods)
        self.max_settling_periods = int(max_settling_periods)
        self.name = name
        self.trigger_levels_V: dict[int, float] = {}
        self.measurements_done = 0
        self._init_faults()
        self._z: np.ndarray | None = None  # reduced populations, one row per particle
        self._z_key: tuple[str, int] | None = None
        self._state_time_s = world.clock.now()

    @property
    def identity(self) -> str:
        return (f"avlab simulation, {self.name} (detector on {self.detector_channel}, "
                f"modulation marker on {self.marker_channel}, jitter "
                f"{self.timing_jitter_ps:g} ps RMS, dead time {self.dead_time_s * 1e9:.0f} ns)")

    @property
    def modulator(self) -> SimPumpModulator | None:
        return self._modulator or modulator_for(self.world, self.pump_source_name)

    @property
    def _waveform(self) -> PumpWaveform | None:
        """The modulator's waveform now (None: no modulator, or it is stopped)."""
        modulator = self.modulator
        return None if modulator is None else modulator.waveform

    # --- inputs ----------------------------------------------------------------------------------
    def set_trigger_level(self, channel: int, volts: float) -> None:
        self._check_tagger(None)
        if check_channel(channel) < 0:
            raise ValueError(f"trigger levels belong to physical inputs (positive numbers), "
                             f"got {channel!r}")
        channel = int(channel)
        low, high = TRIGGER_RANGE_V
        if not (math.isfinite(volts) and low <= volts <= high):
            raise ValueError(f"channel {channel}: trigger level {volts} V is outside the input "
                             f"range {low:g} … {high:g} V")
        self.trigger_levels_V[channel] = float(volts)

    def _sees_edges(self, channel: int) -> bool:
        """Whether the input's threshold lies inside the pulses wired to it."""
        physical = abs(channel)
        amplitude = self.pulse_amplitude_V.get(physical)
        if amplitude is None:
            return False
        level = self.trigger_levels_V.get(physical, DEFAULT_TRIGGER_LEVEL_V)
        return 0.0 < level < amplitude

    def _check_tagger(self, duration_s: float | None) -> None:
        self._check_link(
            self.world.clock,
            ConnectionResetError(f"{self.name}: device not present (simulated fault)"),
            TimeoutError(f"{self.name}: measurement did not finish (simulated fault)"),
            hang_s=duration_s)

    # --- measurements ----------------------------------------------------------------------------
    def histogram(self, start_channel: int, click_channel: int, binwidth_ps: int, n_bins: int,
                  duration_s: float) -> TimeHistogram:
        """Delays of detector clicks after each marker edge on `start_channel` (+marker: pump
        on, a rise curve; −marker: pump off, a decay curve), over `duration_s` of bench time."""
        start_channel = check_channel(start_channel, "start_channel")
        click_channel = check_channel(click_channel, "click_channel")
        binwidth_ps = as_ps(binwidth_ps, "binwidth_ps")
        n_bins = check_count(n_bins, "n_bins")
        duration_s = check_duration_s(duration_s)
        self._check_tagger(duration_s)
        return self.run_histogram(start_channel, click_channel, binwidth_ps, n_bins, duration_s)

    def run_histogram(self, start_channel: int, click_channel: int, binwidth_ps: int,
                      n_bins: int, duration_s: float) -> TimeHistogram:
        """The physics of `histogram` for checked arguments, without the fault check (shared
        with the simulated TimeTagger SDK, `sim_devices.sdk`)."""
        self._catch_up()
        binwidth_s = binwidth_ps / 1e12
        waveform = self._waveform
        counts = np.zeros(n_bins, dtype=np.int64)
        n_starts = 0 if waveform is None else int(duration_s // waveform.period_s)
        if (n_starts == 0 or abs(start_channel) != self.marker_channel
                or not self._sees_edges(start_channel)):
            self._advance(duration_s)  # no start events: nothing is histogrammed
        else:
            offset_s = 0.0 if start_channel > 0 else waveform.on_s
            edges_s = offset_s + np.arange(n_bins + 1) * binwidth_s
            q, r = _split_phases(edges_s, waveform.period_s)
            run = self._run_periods(waveform, r, n_starts, commit=n_starts)
            ri = np.searchsorted(run.phases, r)
            # Signal summed over all starts: the settling periods one by one, then the
            # periodic steady state once per remaining start.
            n_explicit = min(len(run.explicit), n_starts)
            total = np.zeros(n_bins)
            for k in range(n_explicit):
                total += np.diff(run.cumulative(k + q, ri))
            steady = np.diff(q) * run.steady[-1] + np.diff(run.steady[ri])
            total += (n_starts - n_explicit) * steady
            if abs(click_channel) == self.detector_channel and self._sees_edges(click_channel):
                expected = self._saturated_counts(total / n_starts, binwidth_s) * n_starts
                counts = self.world.rng.poisson(self._blur(expected, binwidth_ps)).astype(np.int64)
        self.world.clock.sleep(duration_s)
        self.measurements_done += 1
        return TimeHistogram(counts, binwidth_ps, start_channel, click_channel, duration_s)

    def count_rate_trace(self, channels: Sequence[int], binwidth_ps: int,
                         n_values: int) -> CountTrace:
        """Clicks per bin on each channel, continuously over binwidth · n_values of bench time
        (from a modulation period boundary when the pump is modulated)."""
        channels = tuple(check_channel(c) for c in channels)
        if not channels:
            raise ValueError("count_rate_trace needs at least one channel")
        binwidth_ps = as_ps(binwidth_ps, "binwidth_ps")
        n_values = check_count(n_values, "n_values")
        self._check_tagger(binwidth_ps / 1e12 * n_values)
        return self.run_count_trace(channels, binwidth_ps, n_values)

    def run_count_trace(self, channels: tuple[int, ...], binwidth_ps: int,
                        n_values: int) -> CountTrace:
        """The physics of `count_rate_trace` for checked arguments, without the fault check
        (shared with the simulated TimeTagger SDK, `sim_devices.sdk`)."""
        binwidth_s = binwidth_ps / 1e12
        duration_s = binwidth_s * n_values
        self._catch_up()
        edges_s = np.arange(n_values + 1) * binwidth_s
        waveform = self._waveform
        if waveform is None:
            signal = np.diff(self._advance_constant(duration_s, edges_s))
        else:
            q, r = _split_phases(edges_s, waveform.period_s)
            n_periods = max(1, math.ceil(duration_s / waveform.period_s))
            run = self._run_periods(waveform, r, n_periods,
                                    commit=int(duration_s // waveform.period_s))
            signal = np.diff(run.cumulative(q, np.searchsorted(run.phases, r)))
        rows = []
        for channel in channels:
            physical = abs(channel)
            if physical == self.detector_channel and self._sees_edges(channel):
                expected = self._saturated_counts(signal, binwidth_s)
                rows.append(self.world.rng.poisson(expected).astype(np.int64))
            elif physical == self.marker_channel and waveform is not None \
                    and self._sees_edges(channel):
                shift = 0.0 if channel > 0 else waveform.on_s
                marks = np.ceil((edges_s - shift) / waveform.period_s - 1e-12)
                rows.append(np.diff(np.maximum(marks, 0)).astype(np.int64))
            else:
                rows.append(np.zeros(n_values, dtype=np.int64))
        self.world.clock.sleep(duration_s)
        self.measurements_done += 1
        return CountTrace(np.vstack(rows), channels, binwidth_ps)

    def counts_between_markers(self, click_channel: int, begin_channel: int,
                               end_channel: int | None, n_values: int,
                               duration_s: float) -> GatedCounts:
        """Detector clicks within each gate opened by a marker edge (`begin_channel`) and closed
        by the opposite edge (`end_channel` = −begin) or the next opening edge (None or equal)."""
        click_channel = check_channel(click_channel, "click_channel")
        begin_channel = check_channel(begin_channel, "begin_channel")
        if end_channel is not None:
            end_channel = check_channel(end_channel, "end_channel")
        n_values = check_count(n_values, "n_values")
        duration_s = check_duration_s(duration_s)
        self._check_tagger(duration_s)
        return self.run_counts_between_markers(click_channel, begin_channel, end_channel,
                                               n_values, duration_s)

    def run_counts_between_markers(self, click_channel: int, begin_channel: int,
                                   end_channel: int | None, n_values: int,
                                   duration_s: float) -> GatedCounts:
        """The physics of `counts_between_markers` for checked arguments, without the fault
        check (shared with the simulated TimeTagger SDK, `sim_devices.sdk`)."""
        self._catch_up()
        waveform = self._waveform
        counts = np.zeros(n_values, dtype=np.int64)
        widths_ps = None
        filled = 0
        gated = (waveform is not None and abs(begin_channel) == self.marker_channel
                 and self._sees_edges(begin_channel)
                 and (end_channel is None or end_channel in (begin_channel, -begin_channel)))
        if not gated:
            self._advance(duration_s)
        else:
            period, on_s = waveform.period_s, waveform.on_s
            open_s = 0.0 if begin_channel > 0 else on_s
            if end_channel is None or end_channel == begin_channel:
                close_s = open_s + period
            else:
                close_s = on_s if begin_channel > 0 else period
            available = int((duration_s - close_s) // period) + 1 if duration_s >= close_s else 0
            filled = min(n_values, available)
            q, r = _split_phases(np.array([open_s, close_s]), period)
            n_periods = max(1, int(duration_s // period))
            run = self._run_periods(waveform, r, max(n_periods, filled + 1), commit=n_periods)
            ri = np.searchsorted(run.phases, r)
            gate_s = close_s - open_s
            widths_ps = np.zeros(n_values, dtype=np.int64)
            widths_ps[:filled] = int(round(gate_s * 1e12))
            if filled and abs(click_channel) == self.detector_channel \
                    and self._sees_edges(click_channel):
                k = np.arange(filled)
                signal = run.cumulative(k + q[1], ri[1]) - run.cumulative(k + q[0], ri[0])
                expected = self._saturated_counts(signal, gate_s)
                counts[:filled] = self.world.rng.poisson(expected)
        self.world.clock.sleep(duration_s)
        self.measurements_done += 1
        return GatedCounts(counts, click_channel, begin_channel, end_channel, widths_ps,
                           filled == n_values)

    def close(self) -> None:
        """Nothing to release in the simulation."""

    # --- counting --------------------------------------------------------------------------------
    def _saturated_counts(self, signal: np.ndarray, width_s: float) -> np.ndarray:
        """Expected clicks in windows of `width_s` holding `signal` detected photons each:
        dark counts and the flood added, the non-paralyzable dead time applied to the rate."""
        rate = counted_rate_cps(np.maximum(signal, 0.0) / width_s, self.dark_count_rate_cps,
                                self.dead_time_s, flood="flood" in self.active_faults)
        return rate * width_s

    def _blur(self, expected: np.ndarray, binwidth_ps: int) -> np.ndarray:
        """Timing jitter: a Gaussian of `timing_jitter_ps` RMS, when it spans ≥ 5 % of a bin."""
        sigma_bins = self.timing_jitter_ps / binwidth_ps
        if sigma_bins < 0.05 or expected.size < 3:
            return expected
        half = min(int(math.ceil(4.0 * sigma_bins)), (expected.size - 1) // 2)
        offsets = np.arange(-half, half + 1)
        kernel = np.exp(-0.5 * (offsets / sigma_bins) ** 2)
        return np.convolve(expected, kernel / kernel.sum(), mode="same")

    # --- the sample in time ----------------------------------------------------------------------
    def _model(self) -> RateModel:
        return compile_model(self.world.sample.preset, self.world.table_temperature_K())

    def _state(self, model: RateModel) -> np.ndarray:
        """The carried populations (dark for a new tagger, a new sample or new particles)."""
        key = (model.preset.name, len(self.world.sample.particle_positions_um))
        if self._z is None or self._z_key != key or self._z.shape[1] != model.n_reduced:
            self._z = np.zeros((key[1], model.n_reduced))
            self._z_key = key
        return self._z

    def _intensities(self) -> tuple[np.ndarray, np.ndarray]:
        """Local pump intensity (kW/cm²) at each particle with the modulated pump on, and with
        it off (other pumps only): the world's intensity without the modulator's time-averaged
        gate."""
        world, modulator = self.world, self.modulator
        on = off = 0.0
        for name, source in world.pump_sources().items():
            peak = world.source_peak_intensity_kW_cm2(source, skip=modulator)
            on += peak
            if modulator is None or name != self.pump_source_name or modulator.gate() == "cw":
                off += peak
        if modulator is not None and modulator.gate() == "off":
            on = off  # the modulated laser's input idles low: it emits nothing
        profile = world.spot_profile()
        return on * profile, off * profile

    def _detected_per_ion_photon(self, model: RateModel) -> float:
        return model.preset.ions_per_particle * self.world.detection.collection_efficiency

    def _advance_constant(self, duration_s: float,
                          times_s: np.ndarray | None = None) -> np.ndarray:
        """Carry the populations through `duration_s` of unmodulated pump (CW, or off with the
        laser's input idling low); the detected signal accumulated at `times_s` (from now)."""
        model = self._model()
        z = self._state(model)
        on, off = self._intensities()
        intensity = on  # unmodulated: on == off (callers exclude a running modulator)
        times = (np.array([0.0, min(duration_s, _MAX_CONSTANT_CATCH_UP_S)]) if times_s is None
                 else np.asarray(times_s, dtype=float))
        line = model.main_line_index
        total = np.zeros(times.size)
        for p in range(len(z)):
            if intensity[p] <= 0.0 and not np.any(z[p]):
                continue
            flux = float(intensity[p]) * model.flux_per_kW_cm2
            states, photons = integrate(model, z[p], times, flux)
            z[p] = states[-1]
            total += photons[:, line]
        self._state_time_s = self.world.clock.now() + duration_s
        return total * self._detected_per_ion_photon(model)

    def _advance(self, duration_s: float) -> float:
        """Carry the populations through `duration_s` under the pump as it is now (used when a
        measurement has nothing to record); the time left over (less than a period, when the
        pump is modulated)."""
        waveform = self._waveform
        if waveform is None:
            self._advance_constant(duration_s)
            return 0.0
        n_periods = int(duration_s // waveform.period_s)
        if n_periods:
            self._run_periods(waveform, np.zeros(0), n_periods, commit=n_periods)
        return duration_s - n_periods * waveform.period_s

    def _catch_up(self) -> None:
        """Advance the carried populations over the bench time since the last call, under the
        pump as it is now."""
        now = self.world.clock.now()
        gap = now - self._state_time_s
        if gap <= 0.0:
            return
        self._state_time_s = now - self._advance(gap)

    def _run_periods(self, waveform: PumpWaveform, phases_s: np.ndarray, n_periods: int, *,
                     commit: int) -> _PeriodicSignal:
        """Integrate `n_periods` modulation periods from the carried state (see the module
        docstring for the shortcut once the periodic steady state is reached); the cumulative
        detected signal at `phases_s` within each period. The carried state moves on by
        `commit` periods (the time the bench clock will advance)."""
        model = self._model()
        z0 = self._state(model)
        on_I, off_I = self._intensities()
        period, on_s = waveform.period_s, waveform.on_s
        phases = np.unique(np.concatenate((phases_s, [0.0, on_s, period])))
        phases = phases[(phases >= 0.0) & (phases <= period)]
        active = [p for p in range(len(z0)) if on_I[p] > 0.0 or np.any(z0[p])]
        z = z0.copy()
        explicit: list[np.ndarray] = []
        states: list[np.ndarray] = []
        settled = False
        while len(explicit) < min(n_periods, self.max_profiled_periods) and not settled:
            profile, z_next = self._one_period(model, z, active, on_I, off_I, on_s, phases)
            settled = _same_state(z, z_next)
            explicit.append(profile)
            states.append(z_next)
            z = z_next
        done = len(explicit)
        if settled or done >= n_periods:
            steady = explicit[-1]
        else:
            coarse = np.array([0.0, on_s, period])
            while done < min(n_periods, self.max_settling_periods) - 1:
                _, z_next = self._one_period(model, z, active, on_I, off_I, on_s, coarse)
                done += 1
                if _same_state(z, z_next):
                    z = z_next
                    break
                z = z_next
            steady, z = self._one_period(model, z, active, on_I, off_I, on_s, phases)
        scale = self._detected_per_ion_photon(model)
        run = _PeriodicSignal(period, phases, np.array(explicit) * scale, steady * scale,
                              states, z)
        if commit > 0:
            self._z = run.state_after(commit).copy()
            self._state_time_s = self.world.clock.now() + commit * period
        return run

    @staticmethod
    def _one_period(model: RateModel, z: np.ndarray, active: list[int], on_I: np.ndarray,
                    off_I: np.ndarray, on_s: float,
                    phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One period (pump on for `on_s`, then off) from states `z`: the photons per ion
        emitted since the period start at `phases`, summed over particles, and the new states."""
        line = model.main_line_index
        on_mask = phases <= on_s
        on_times = phases[on_mask]
        off_times = np.concatenate(([0.0], phases[~on_mask] - on_s))
        profile = np.zeros(phases.size)
        z_next = z.copy()
        for p in active:
            states, photons = integrate(model, z[p], on_times,
                                        float(on_I[p]) * model.flux_per_kW_cm2)
            on_photons = photons[:, line]
            states_off, photons_off = integrate(model, states[-1], off_times,
                                                float(off_I[p]) * model.flux_per_kW_cm2)
            profile += np.concatenate((on_photons, on_photons[-1] + photons_off[1:, line]))
            z_next[p] = states_off[-1]
        return profile, z_next


def _same_state(a: np.ndarray, b: np.ndarray) -> bool:
    """Populations equal to rtol 1e-6 (atol 1e-15 for levels that are practically empty)."""
    return bool(np.all(np.abs(a - b) <= 1e-15 + 1e-6 * np.abs(b)))
