"""Photon counts of a scanned spot on the simulated world, a whole path at a time.

The galvo twin (and any other scanning twin) hands the engine the spot positions of a frame's
samples and a dwell; the engine answers the counts of any range of those samples (one line at a
time, as the card delivers them). The physics is `sim_devices.physics.scan`; this module ties
it to the world (pump intensity at the focus, waist, particles, temperature, collection
efficiency, random generator) and adds the counting chain (dark counts, non-paralyzable dead
time, Poisson noise), as the simulated photon counter does.

Why segments: with finite dwell the particles are independent, so a whole frame is integrated
in one lockstep pass (`ParticleStates.run_path`), far faster than line by line. The result is
only valid while the world stays as it was (the same pump intensity, temperature, particles);
every request checks that, and when the world has changed the engine rewinds the particles to
the requested sample (re-running the already delivered samples from the segment's start with
the old world, which reproduces them exactly) and integrates on from there with the new one.
After a change the next segments are short (one line, then doubling), so a world that keeps
changing (a laser warming up) costs line-by-line work, not a frame per line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instruments.photon_counter import counted_rate_cps
from .physics.model import compile_model
from .physics.preset import Preset
from .physics.scan import ParticleStates, steady_path_photons
from .world import SimWorld

#: Relative change of the peak pump intensity that counts as a new world for a scan segment.
INTENSITY_RTOL = 1e-6


@dataclass(frozen=True)
class _WorldState:
    """What a computed segment depends on."""

    peak_kW_cm2: float
    waist_um: float
    #: The sample's Preset (a shipped one, or one with the lab's overrides applied).
    preset: Preset
    temperature_K: float | None
    particles_um: np.ndarray
    collection_efficiency: float

    def same_as(self, other: _WorldState) -> bool:
        return (abs(self.peak_kW_cm2 - other.peak_kW_cm2)
                <= INTENSITY_RTOL * max(abs(other.peak_kW_cm2), 1e-300)
                and self.waist_um == other.waist_um
                and (self.preset is other.preset or self.preset == other.preset)
                and self.temperature_K == other.temperature_K
                and self.collection_efficiency == other.collection_efficiency
                and self.particles_um.shape == other.particles_um.shape
                and bool(np.array_equal(self.particles_um, other.particles_um)))


class ScanEngine:
    """Counts along a scan path on the simulated world (see the module docstring).

    `finite_dwell`: carry every particle's populations through the path (an avalanching
    particle near threshold lags the beam, so its spot streaks along the scan); False: each
    sample sees the steady-state emission of the local intensity.
    """

    def __init__(self, world: SimWorld, *, dark_count_rate_cps: float, dead_time_s: float,
                 finite_dwell: bool = True) -> None:
        self.world = world
        self.dark_count_rate_cps = dark_count_rate_cps
        self.dead_time_s = dead_time_s
        self.finite_dwell = finite_dwell
        self._path: np.ndarray | None = None
        self._dwell_s = 0.0
        self._start_s = 0.0
        self._unit = 1
        self._states: ParticleStates | None = None
        # The current segment: samples [start, stop) computed for `_segment_world`, with the
        # particle states at its start (`_segment_states`) and the photons of its samples.
        self._segment_start = 0
        self._segment_stop = 0
        self._segment_world: _WorldState | None = None
        self._segment_states: ParticleStates | None = None
        self._segment_photons = np.zeros(0)
        self._next_units = 0

    # --- the world -----------------------------------------------------------------------------
    def _world_state(self) -> _WorldState:
        world = self.world
        return _WorldState(
            peak_kW_cm2=float(world.peak_intensity_kW_cm2()),
            waist_um=float(world.optics.waist_at_um(world.preset.pump_wavelength_nm)),
            preset=world.preset, temperature_K=world.table_temperature_K(),
            particles_um=np.array(world.sample.particle_positions_um, dtype=float).reshape(-1, 2),
            collection_efficiency=float(world.detection.collection_efficiency))

    def _model_states(self, state: _WorldState) -> ParticleStates:
        """The particle states, on the model of the world's preset and temperature now."""
        n = len(state.particles_um)
        if (self._states is None or self._states.n_particles != n
                or self._states.preset != state.preset):
            self._states = ParticleStates(state.preset, n, state.temperature_K)
        else:
            self._states.use_model(compile_model(state.preset, state.temperature_K))
        return self._states

    # --- a frame -------------------------------------------------------------------------------
    def start_frame(self, path_um: np.ndarray, dwell_s: float, start_time_s: float, *,
                    samples_per_line: int = 1) -> None:
        """A new path: `path_um` (2, S) spot positions, one `dwell_s` each from bench time
        `start_time_s`. With finite dwell every particle starts in the steady state for the
        spot at the path's first position (the beam was parked there)."""
        path = np.asarray(path_um, dtype=float)
        if path.ndim != 2 or path.shape[0] != 2:
            raise ValueError(f"a scan path is (2, samples) in µm, got shape {path.shape}")
        if not dwell_s > 0:
            raise ValueError(f"dwell must be positive, got {dwell_s} s")
        self._path, self._dwell_s, self._start_s = path, float(dwell_s), float(start_time_s)
        self._unit = max(1, int(samples_per_line))
        self._segment_start = self._segment_stop = 0
        self._segment_world = None
        self._next_units = -(-path.shape[1] // self._unit)  # the whole path at first
        if self.finite_dwell:
            state = self._world_state()
            states = self._model_states(state)
            states.set_steady_state(self._intensities(state, path[:, 0]), start_time_s)

    @staticmethod
    def _intensities(state: _WorldState, beam_um: np.ndarray) -> np.ndarray:
        r2 = np.sum((state.particles_um - beam_um) ** 2, axis=1)
        return state.peak_kW_cm2 * np.exp(-2.0 * r2 / state.waist_um**2)

    def _compute(self, start: int, state: _WorldState) -> None:
        """A new segment from sample `start` (the particle states are valid there)."""
        assert self._path is not None
        stop = min(self._path.shape[1], start + self._next_units * self._unit)
        path = self._path[:, start:stop]
        if self.finite_dwell:
            states = self._model_states(state)
            self._segment_states = states.copy()
            photons = states.run_path(state.particles_um, path, state.peak_kW_cm2,
                                      state.waist_um, self._dwell_s,
                                      self._start_s + start * self._dwell_s)
        else:
            table = self.world.emission_table()
            photons = steady_path_photons(table, state.particles_um, path, state.peak_kW_cm2,
                                          state.waist_um, self._dwell_s)
        self._segment_start, self._segment_stop = start, stop
        self._segment_world = state
        self._segment_photons = photons * state.collection_efficiency

    def _rewind_to(self, sample: int) -> None:
        """Particle states at `sample` inside the current segment: from the segment's start
        states, the samples before it again under the segment's own world."""
        assert self._segment_states is not None and self._segment_world is not None
        assert self._path is not None
        self._states = self._segment_states.copy()
        old = self._segment_world
        if sample > self._segment_start:
            self._model_states(old).run_path(
                old.particles_um, self._path[:, self._segment_start:sample], old.peak_kW_cm2,
                old.waist_um, self._dwell_s, self._start_s + self._segment_start * self._dwell_s)

    def signal_photons(self, start: int, stop: int) -> np.ndarray:
        """Expected detected signal photons (collection efficiency included; no dark counts,
        no dead time) in samples [start, stop) of the current path."""
        if self._path is None:
            raise RuntimeError("no scan path: call start_frame first")
        if not 0 <= start <= stop <= self._path.shape[1]:
            raise ValueError(f"samples [{start}, {stop}) are outside the path of "
                             f"{self._path.shape[1]} samples")
        if (self.finite_dwell and start != self._segment_stop
                and not self._segment_start <= start < self._segment_stop):
            # the particle states are those at the end of the last segment: a gap or a step
            # back would integrate the samples from the wrong populations
            raise ValueError(f"with finite dwell the samples are read in order: the next is "
                             f"sample {self._segment_stop}, not {start}")
        out = np.empty(stop - start)
        k = start
        while k < stop:
            state = self._world_state()
            inside = self._segment_start <= k < self._segment_stop
            if not (inside and self._segment_world is not None
                    and state.same_as(self._segment_world)):
                if inside and self._segment_world is not None:  # the world changed under us
                    if self.finite_dwell:
                        self._rewind_to(k)
                    self._next_units = 1
                elif self._segment_world is not None:  # the segment ran out unchanged
                    self._next_units *= 2
                self._compute(k, state)
            end = min(stop, self._segment_stop)
            out[k - start:end - start] = self._segment_photons[k - self._segment_start:
                                                               end - self._segment_start]
            k = end
        return out

    # --- counting ------------------------------------------------------------------------------
    def expected_counts(self, start: int, stop: int, *, flood: bool = False) -> np.ndarray:
        """Expected counts per sample: signal and dark counts through the dead time."""
        dwell = self._dwell_s
        rate = counted_rate_cps(self.signal_photons(start, stop) / dwell,
                                self.dark_count_rate_cps, self.dead_time_s, flood=flood)
        return np.asarray(rate, dtype=float) * dwell

    def counts(self, start: int, stop: int, *, flood: bool = False) -> np.ndarray:
        """Counts per sample of [start, stop): Poisson draws from the world's generator."""
        return self.world.rng.poisson(self.expected_counts(start, stop, flood=flood))

    def park_expected_counts(self, dwell_s: float, *, flood: bool = False) -> float:
        """Expected counts in one dwell with the beam where it is now. With finite dwell and a
        previous path the particles carry their states on (relaxing in the dark since their
        last lit sample); otherwise the steady state of the local intensity."""
        state = self._world_state()
        beam = np.asarray(self.world.beam_position_um, dtype=float).reshape(2, 1)
        now = self.world.clock.now()
        if self.finite_dwell and self._states is not None:
            states = self._model_states(state)
            photons = states.run_path(state.particles_um, beam, state.peak_kW_cm2,
                                      state.waist_um, dwell_s, now)
            self._path = None  # the states moved on: a frame's segment is no longer valid
            self._segment_world = None
        else:
            photons = steady_path_photons(self.world.emission_table(), state.particles_um,
                                          beam, state.peak_kW_cm2, state.waist_um, dwell_s)
        signal_cps = float(photons[0]) * state.collection_efficiency / dwell_s
        return float(counted_rate_cps(signal_cps, self.dark_count_rate_cps, self.dead_time_s,
                                      flood=flood)) * dwell_s

    def park_counts(self, dwell_s: float, *, flood: bool = False) -> int:
        """Counts in one dwell with the beam where it is now (see `park_expected_counts`)."""
        return int(self.world.rng.poisson(self.park_expected_counts(dwell_s, flood=flood)))
