"""Confocal image formation, whole scan paths at once (docs/physics.md, "Confocal scan engine").

A focused Gaussian spot, I(r) = I0·exp(−2r²/w0²), walks a path of sample positions (one dwell
each) over point-like particles. This module gives the photons the particles emit on the
preset's main line during every sample, either

* in **steady state** (each particle at the steady state of its local intensity; a table
  lookup per particle and sample), or
* with **finite dwell**: every particle's populations are carried through the path. Near
  threshold an avalanching particle needs ~0.2 s to settle, far longer than a pixel, so its
  emission lags the beam and the spot streaks along the fast axis.

Why it is fast (a 512 × 512 frame with 100 particles in well under a second):

* **Spatial culling.** Only (particle, sample) pairs closer than a cut-off radius are
  evaluated; the cut-off is where the particle's emission has fallen to `EMISSION_CUTOFF` of its
  emission at the spot centre (and, for the dynamics, at least `MIN_CUTOFF_WAISTS` waists, where
  the pump is ~1e-5 of its peak). The path is cut into blocks of consecutive samples whose
  bounding boxes are tested against the particles first.
* **Independent particles in lockstep.** Particles do not interact, so each one's history is a
  sequence of steps: a run of lit samples (the beam within the cut-off) is integrated sample by
  sample; between runs the particle is dark, and its state relaxes toward the dark state over
  the gap in a few growing exponential steps. The k-th step of every particle is taken at once,
  vectorised over particles, so a whole frame costs (lit samples per particle) numpy steps,
  not (samples × particles) ODE solves.
* **Exponential Rosenbrock–Euler steps.** One step of length h linearises the rate equations at
  the current state, z' ≈ f(z_n) + J·(z − z_n), and solves that exactly: z_{n+1} = z_n +
  h·φ1(hJ)·f(z_n); the emitted photons are the exact integral of the linearised emission,
  L·(h·z_n + h²·φ2(hJ)·f(z_n)). Both come from one matrix exponential of an (m+2)-square
  augmented matrix. The step is exact for linear decay of any stiffness, keeps every steady
  state fixed, and is second order in h for the quadratic (cross-relaxation / ETU) terms; a
  step whose neglected quadratic term is too large is halved. Its agreement with LSODA carried
  pixel by pixel is tested.
* **Afterglow.** When the beam has left, the emitting level keeps decaying (³H₄ of Tm: 92 µs);
  those photons belong to the following samples and are counted there, from the dark
  evolution linearised at the end of the lit run, until the next run or until the emission
  has fallen by `EMISSION_CUTOFF` (`afterglow_time_s`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .model import RateModel, compile_model
from .preset import Preset
from .table import EmissionTable, emission_table

#: A particle whose emission is below this fraction of its emission at the spot centre is
#: left out of the steady-state sum (and counts as dark for the dynamics, see below).
EMISSION_CUTOFF = 1e-10
#: The dynamics treat a particle as dark (pump off) only beyond this many 1/e² radii, where
#: the pump is e^(−2·2.5²) ≈ 4e-6 of its peak: its excited-state absorption there no longer
#: slows the decay noticeably.
MIN_CUTOFF_WAISTS = 2.5
#: Samples per block for the bounding-box culling of a path.
BLOCK_SAMPLES = 32
#: Exponential steps across one dark gap (lengths doubling: the fast levels settle in the first
#: ones, the slow tail is taken in long ones).
GAP_STEPS = 8
#: Step control: a step is halved while its neglected quadratic term exceeds this fraction
#: of the populations (plus STEP_ATOL, in population fractions); at most MAX_HALVINGS times.
STEP_RTOL = 1e-3
STEP_ATOL = 1e-15
MAX_HALVINGS = 16


#: Largest ‖A‖₁ for which the degree-d Taylor polynomial of exp(A) is accurate to ~1e-15:
#: ‖A‖^(d+1)/(d+1)! ≤ 1e-15.
_TAYLOR_THETA = {d: (1e-15 * math.factorial(d + 1)) ** (1.0 / (d + 1)) for d in range(2, 15)}


def _expm_batch(A: np.ndarray) -> np.ndarray:
    """exp(A) for a stack of small square matrices (n, k, k): scaling and squaring with a
    Taylor polynomial, the degree and the number of squarings chosen together from the
    largest 1-norm in the stack (fewest matrix products for ~1e-15 truncation). One scaling
    for the whole stack, which is harmless for its better-scaled members."""
    n, k = A.shape[0], A.shape[-1]
    norm = float(np.abs(A).sum(axis=-2).max()) if A.size else 0.0
    degree, squarings = 2, 0
    if norm > 0.0:
        best = None
        for d, theta in _TAYLOR_THETA.items():
            s = max(0, math.ceil(math.log2(norm / theta))) if norm > theta else 0
            if best is None or d + s < best:
                best, degree, squarings = d + s, d, s
    scaled = A * (0.5**squarings)
    # Horner: E = I + B·(I + B/2·(I + B/3·(…))), with the 1/j folded into B once.
    steps = scaled[None] / np.arange(1, degree + 1, dtype=float)[:, None, None, None]
    E = steps[degree - 1].copy()
    diagonal = E.reshape(n, k * k)[:, ::k + 1]
    diagonal += 1.0
    buffer = np.empty_like(E)
    for j in range(degree - 2, -1, -1):
        np.matmul(steps[j], E, out=buffer)
        E, buffer = buffer, E
        E.reshape(n, k * k)[:, ::k + 1] += 1.0
    for _ in range(squarings):
        np.matmul(E, E, out=buffer)
        E, buffer = buffer, E
    return E


@dataclass(frozen=True)
class LitPairs:
    """The (particle, sample) pairs of a path closer than a cut-off radius, ordered by particle
    then sample: `particle`, `sample` (indices), `r2_um2` (squared distance)."""

    particle: np.ndarray
    sample: np.ndarray
    r2_um2: np.ndarray


def lit_pairs(particles_um: np.ndarray, path_um: np.ndarray, radius_um: float) -> LitPairs:
    """Every (particle, sample) pair of `path_um` (2, S) closer than `radius_um` to a particle
    of `particles_um` (N, 2), found through bounding boxes of `BLOCK_SAMPLES` consecutive
    samples (a raster path is local in time, so a particle meets few blocks)."""
    path = np.asarray(path_um, dtype=float)
    pts = np.asarray(particles_um, dtype=float).reshape(-1, 2)
    n_samples = path.shape[1]
    empty = LitPairs(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    if radius_um <= 0 or n_samples == 0 or len(pts) == 0:
        return empty
    n_blocks = -(-n_samples // BLOCK_SAMPLES)
    padded = np.empty((2, n_blocks * BLOCK_SAMPLES))
    padded[:, :n_samples] = path
    padded[:, n_samples:] = path[:, -1:]  # repeat the last sample; dropped below
    blocks = padded.reshape(2, n_blocks, BLOCK_SAMPLES)
    low, high = blocks.min(axis=2), blocks.max(axis=2)  # (2, n_blocks)
    near = ((pts[:, 0, None] > low[0] - radius_um) & (pts[:, 0, None] < high[0] + radius_um)
            & (pts[:, 1, None] > low[1] - radius_um) & (pts[:, 1, None] < high[1] + radius_um))
    p_idx, b_idx = np.nonzero(near)  # ordered by particle, then block
    if p_idx.size == 0:
        return empty
    samples = b_idx[:, None] * BLOCK_SAMPLES + np.arange(BLOCK_SAMPLES)  # (pairs, B)
    dx = padded[0, samples] - pts[p_idx, 0, None]
    dy = padded[1, samples] - pts[p_idx, 1, None]
    r2 = dx * dx + dy * dy
    keep = (r2 < radius_um * radius_um) & (samples < n_samples)
    return LitPairs(np.broadcast_to(p_idx[:, None], samples.shape)[keep], samples[keep],
                    r2[keep])


def cutoff_radius_um(table: EmissionTable, peak_intensity_kW_cm2: float, waist_um: float, *,
                     relative_emission: float = EMISSION_CUTOFF) -> float:
    """Distance from the spot centre beyond which a particle emits less than
    `relative_emission` × its emission at the centre (0 for a dark spot)."""
    if peak_intensity_kW_cm2 <= 0:
        return 0.0
    r = np.linspace(0.0, 6.0 * waist_um, 601)
    emission = table.emission_per_ion(peak_intensity_kW_cm2 * np.exp(-2.0 * r**2 / waist_um**2))
    above = np.nonzero(emission >= relative_emission * emission[0])[0]
    return float(r[min(above[-1] + 1, len(r) - 1)])


def steady_path_photons(table: EmissionTable, particles_um: np.ndarray, path_um: np.ndarray,
                        peak_intensity_kW_cm2: float, waist_um: float, dwell_s: float
                        ) -> np.ndarray:
    """Photons emitted on the table's line during each sample of `path_um` (2, S), summed over
    the particles, each at the steady state of its local intensity (photons per particle =
    per ion × the preset's ions per particle)."""
    path = np.asarray(path_um, dtype=float)
    radius = cutoff_radius_um(table, peak_intensity_kW_cm2, waist_um)
    pairs = lit_pairs(particles_um, path, radius)
    intensity = peak_intensity_kW_cm2 * np.exp(-2.0 * pairs.r2_um2 / waist_um**2)
    per_ion = table.emission_per_ion(intensity)
    per_sample = np.bincount(pairs.sample, weights=per_ion, minlength=path.shape[1])
    return per_sample * (table.preset.ions_per_particle * dwell_s)


@lru_cache(maxsize=64)
def afterglow_time_s(model: RateModel, line: str) -> float:
    """How long a particle keeps emitting on `line` after the beam leaves: the time for its
    dark emission, starting from the steady state at the S peak, to fall below
    `EMISSION_CUTOFF` of its start (the linear dark system, exact exponentials)."""
    from scipy.linalg import expm

    table = emission_table(model.preset, model.temperature_K, line)
    row = model.line_matrix[model.line_names.index(line)]
    z0 = model.reduced(table.populations(table.s_max()[1]))
    start = float(z0 @ row)
    times = np.geomspace(1e-9, 1e3, 241)
    for t in times:
        if float(expm(model.M0 * t) @ z0 @ row) < EMISSION_CUTOFF * start:
            return float(t)
    return float(times[-1])


class ParticleStates:
    """The populations of N particles, each valid at its own bench time, advanced along scan
    paths with finite dwell (see the module docstring for the method).

    `z` (N, m) are reduced populations (`RateModel`), `time_s` (N,) the bench time each row is
    valid at. A particle that the beam does not reach keeps its row and time until it is next
    lit; it then first relaxes in the dark over the whole interval.
    """

    def __init__(self, preset: Preset | str, n_particles: int,
                 temperature_K: float | None = None, *, line: str | None = None) -> None:
        self.model: RateModel = compile_model(preset, temperature_K)
        self.preset = self.model.preset
        self.line = self.preset.main_line if line is None else self.preset.line_named(line).name
        self._line_row = self.model.line_matrix[self.model.line_names.index(self.line)]
        self.z = np.zeros((n_particles, self.model.n_reduced))
        self.time_s = np.zeros(n_particles)

    @property
    def n_particles(self) -> int:
        return len(self.z)

    def use_model(self, model: RateModel) -> None:
        """Carry the states on under another compiled model of the same preset (the sample
        temperature changed): the levels are the same, only the rates differ."""
        if model.level_labels != self.model.level_labels:
            raise ValueError("a new model must have the same levels as the old one")
        self.model = model
        self._line_row = model.line_matrix[model.line_names.index(self.line)]

    def copy(self) -> ParticleStates:
        other = object.__new__(ParticleStates)
        other.__dict__.update(self.__dict__)
        other.z, other.time_s = self.z.copy(), self.time_s.copy()
        return other

    def set_steady_state(self, intensities_kW_cm2: np.ndarray, time_s: float) -> None:
        """Every particle at the steady state of its intensity (as after a long park there):
        the table's interpolated populations, polished by a few batched Newton steps."""
        intensities = np.asarray(intensities_kW_cm2, dtype=float).reshape(self.n_particles)
        table = emission_table(self.preset, self.model.temperature_K)
        z = self.model.reduced(table.populations(np.maximum(intensities, 0.0)))
        z[intensities <= 0] = 0.0
        flux = intensities * self.model.flux_per_kW_cm2
        lit = intensities > 0
        if np.any(lit):
            z[lit] = self._newton(z[lit], flux[lit])
        self.z = z
        self.time_s = np.full(self.n_particles, float(time_s))

    def _rhs_jac(self, z: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.model
        Hz = np.einsum("ijl,nl->nij", m.H, z)
        M = m.M0 + flux[:, None, None] * m.M1
        f = m.c0 + flux[:, None] * m.c1 + np.einsum("nij,nj->ni", M + Hz, z)
        J = M + np.einsum("ijl,nl->nij", m.G, z)
        return f, J

    def _newton(self, z: np.ndarray, flux: np.ndarray, iterations: int = 6) -> np.ndarray:
        """Polish steady states; a row whose Newton step leaves the physical range or does not
        reduce the residual keeps its starting value."""
        start = z.copy()
        f, J = self._rhs_jac(z, flux)
        start_residual = np.abs(f).max(axis=1)
        for _ in range(iterations):
            step = np.linalg.solve(J, -f[..., None])[..., 0]
            z = z + step
            f, J = self._rhs_jac(z, flux)
        residual = np.abs(f).max(axis=1)
        sums = z @ self.model.species_sum.T
        good = ((residual <= start_residual) & (z.min(axis=1) >= -1e-12)
                & (sums.max(axis=1) <= 1.0 + 1e-12))
        return np.where(good[:, None], z, start)

    def _steps(self, rows: np.ndarray, h_s: np.ndarray, flux: np.ndarray,
               depth: int = 0) -> np.ndarray:
        """Exponential Rosenbrock–Euler steps for the given rows (each its own h and flux):
        updates their states and returns the photons per ion each emitted on the line.

        A step whose neglected quadratic term h·|H:(Δz⊗Δz)| exceeds `STEP_RTOL` of the state
        (or that is not finite: the linearisation of an avalanche above threshold grows
        exponentially) is redone as two half steps, recursively."""
        m = self.model.n_reduced
        z = self.z[rows]
        f, J = self._rhs_jac(z, flux)
        A = np.zeros((len(rows), m + 2, m + 2))
        A[:, :m, :m] = J * h_s[:, None, None]
        A[:, :m, m] = f * h_s[:, None]
        A[:, m, m + 1] = 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            E = _expm_batch(A)
            # exp(A): column m = h·φ1(hJ)·f (the increment), column m+1 = h·φ2(hJ)·f.
            dz = E[:, :m, m]
            photons = h_s * (z @ self._line_row) + h_s * (E[:, :m, m + 1] @ self._line_row)
            new = z + dz
            neglected = h_s[:, None] * np.abs(np.einsum("ijl,nj,nl->ni", self.model.H, dz, dz))
            scale = STEP_RTOL * np.maximum(np.abs(z), np.abs(new)).max(axis=1) + STEP_ATOL
            bad = ~((neglected.max(axis=1) <= scale) & np.isfinite(photons))
        if depth >= MAX_HALVINGS:
            bad[:] = False
        self.z[rows] = new
        if np.any(bad):
            b = np.nonzero(bad)[0]
            self.z[rows[b]] = z[b]
            half = 0.5 * h_s[b]
            photons[b] = (self._steps(rows[b], half, flux[b], depth + 1)
                          + self._steps(rows[b], half, flux[b], depth + 1))
        return photons

    def _afterglow(self, z_end: np.ndarray, lengths: np.ndarray, dwell_s: float) -> np.ndarray:
        """Photons per ion emitted in each of the next `lengths[r]` samples by particles that
        the beam has just left (state z_end[r], pump off): the dark evolution linearised at
        z_end, sample by sample, from powers of one augmented exponential. Returns
        (runs, max length), zero beyond each run's length."""
        m = self.model.n_reduced
        n_max = int(lengths.max()) if lengths.size else 0
        out = np.zeros((len(z_end), n_max))
        if n_max == 0:
            return out
        f, J = self._rhs_jac(z_end, np.zeros(len(z_end)))
        A = np.zeros((len(z_end), m + 2, m + 2))
        A[:, :m, :m] = J * dwell_s
        A[:, :m, m] = f * dwell_s
        A[:, m, m + 1] = 1.0
        step = _expm_batch(A)
        power = step.copy()
        base = z_end @ self._line_row
        previous = np.zeros(len(z_end))
        for j in range(1, n_max + 1):
            # exp(j·A)[:m, m+1] = j²·h·φ2(jhJ)·f; emitted up to t = jh: L·(jh·z + h·that).
            total = j * dwell_s * base + dwell_s * (power[:, :m, m + 1] @ self._line_row)
            out[:, j - 1] = total - previous
            previous = total
            if j < n_max:
                power = power @ step
        out[np.arange(n_max)[None, :] >= lengths[:, None]] = 0.0
        return np.maximum(out, 0.0)

    def _afterglow_into_path(self, pairs: LitPairs, n_samples: int, dwell_s: float,
                             start_time_s: float) -> np.ndarray:
        """Photons per ion per sample from particles lit shortly before the path starts (the
        previous segment of a frame, the previous park), up to their first lit sample here:
        their states are first relaxed in the dark to the path's start."""
        out = np.zeros(n_samples)
        age = start_time_s - self.time_s
        recent = np.nonzero((age >= 0) & (age < self.afterglow_time_s())
                            & (self.z @ self._line_row > 0))[0]
        if recent.size == 0 or n_samples == 0:
            return out
        first_lit = np.full(self.n_particles, n_samples)
        np.minimum.at(first_lit, pairs.particle, pairs.sample)
        tail = int(np.ceil(self.afterglow_time_s() / dwell_s))
        lengths = np.minimum(first_lit[recent], tail)
        rows, lengths = recent[lengths > 0], lengths[lengths > 0]
        if rows.size == 0:
            return out
        aged = age[rows] > 0
        if np.any(aged):
            self._steps(rows[aged], age[rows[aged]], np.zeros(int(aged.sum())))
        self.time_s[rows] = start_time_s
        glow = self._afterglow(self.z[rows], lengths, dwell_s)
        out[:glow.shape[1]] = glow.sum(axis=0)
        return out

    def afterglow_time_s(self) -> float:
        """How long a particle keeps emitting after the beam leaves (`afterglow_time_s`)."""
        return afterglow_time_s(self.model, self.line)

    def run_path(self, particles_um: np.ndarray, path_um: np.ndarray,
                 peak_intensity_kW_cm2: float, waist_um: float, dwell_s: float,
                 start_time_s: float) -> np.ndarray:
        """Walk the spot along `path_um` (2, S), sample k lasting [start + k·dwell,
        start + (k+1)·dwell); return the photons emitted on the line during each sample,
        summed over the particles (per particle: per ion × ions per particle).

        Each particle lit somewhere on the path relaxes in the dark from its own time to its
        first lit sample, is integrated through each run of lit samples, and relaxes in the
        dark between runs; its afterglow after each run is counted in the samples that
        follow, up to the next run (`afterglow_time_s`), and so is the afterglow of a particle
        that was lit shortly before the path. Afterwards its row is valid at the end of its
        last lit sample.
        """
        path = np.asarray(path_um, dtype=float)
        n_samples = path.shape[1]
        out = np.zeros(n_samples)
        table = emission_table(self.preset, self.model.temperature_K, self.line)
        radius = max(cutoff_radius_um(table, peak_intensity_kW_cm2, waist_um),
                     MIN_CUTOFF_WAISTS * waist_um if peak_intensity_kW_cm2 > 0 else 0.0)
        pairs = lit_pairs(particles_um, path, radius)
        out += self._afterglow_into_path(pairs, n_samples, dwell_s, start_time_s)
        if pairs.sample.size == 0:
            return out * self.preset.ions_per_particle
        part, samp = pairs.particle, pairs.sample
        flux_lit = (peak_intensity_kW_cm2 * self.model.flux_per_kW_cm2
                    * np.exp(-2.0 * pairs.r2_um2 / waist_um**2))
        # Run starts: a new particle, or a sample that does not follow the previous one.
        new_particle = np.ones(part.size, bool)
        new_particle[1:] = part[1:] != part[:-1]
        run_start = new_particle.copy()
        run_start[1:] |= samp[1:] != samp[:-1] + 1
        run_end = np.ones(part.size, bool)
        run_end[:-1] = run_start[1:]
        sample_start_s = start_time_s + samp * dwell_s
        previous_end_s = np.empty(part.size)
        previous_end_s[1:] = start_time_s + (samp[:-1] + 1) * dwell_s
        previous_end_s[new_particle] = self.time_s[part[new_particle]]
        gap_s = np.where(run_start, np.maximum(sample_start_s - previous_end_s, 0.0), 0.0)
        # Step sequence of each particle: GAP_STEPS dark steps before each run, then one step
        # per lit sample. Position of every entry's steps within its particle's sequence:
        steps_per_entry = 1 + GAP_STEPS * run_start
        ends = np.cumsum(steps_per_entry)
        first_of_particle = np.nonzero(new_particle)[0]
        particle_offset = np.repeat(ends[first_of_particle] - steps_per_entry[first_of_particle],
                                    np.diff(np.append(first_of_particle, part.size)))
        lit_pos = ends - 1 - particle_offset  # the lit step of each entry
        rows = part[first_of_particle]
        row_of = np.zeros(self.n_particles, int)
        row_of[rows] = np.arange(rows.size)
        n_steps = int(lit_pos.max()) + 1
        h = np.zeros((rows.size, n_steps))
        flux = np.zeros((rows.size, n_steps))
        target = np.full((rows.size, n_steps), -1)
        ending = np.full((rows.size, n_steps), -1)
        r = row_of[part]
        h[r, lit_pos] = dwell_s
        flux[r, lit_pos] = flux_lit
        target[r, lit_pos] = samp
        end_entries = np.nonzero(run_end)[0]
        ending[r[end_entries], lit_pos[end_entries]] = np.arange(end_entries.size)
        fractions = 2.0 ** np.arange(GAP_STEPS) / (2.0**GAP_STEPS - 1.0)
        gap_entries = np.nonzero(run_start)[0]
        for j, fraction in enumerate(fractions):
            h[r[gap_entries], lit_pos[gap_entries] - GAP_STEPS + j] = gap_s[gap_entries] * fraction
        photons = np.zeros((rows.size, n_steps))
        z_end = np.zeros((end_entries.size, self.model.n_reduced))
        for k in range(n_steps):
            active = np.nonzero(h[:, k] > 0.0)[0]
            if active.size:
                photons[active, k] = self._steps(rows[active], h[active, k], flux[active, k])
                done = ending[active, k]
                z_end[done[done >= 0]] = self.z[rows[active[done >= 0]]]
        lit = target >= 0
        out += np.bincount(target[lit], weights=photons[lit], minlength=n_samples)
        # Afterglow: from each run's end to the next run of the same particle (or the path end).
        end_samples = samp[end_entries]
        next_start = np.full(end_entries.size, n_samples)
        follows = end_entries + 1 < part.size
        same = follows.copy()
        same[follows] = part[end_entries[follows] + 1] == part[end_entries[follows]]
        next_start[same] = samp[end_entries[same] + 1]
        tail = int(np.ceil(self.afterglow_time_s() / dwell_s))
        lengths = np.minimum(next_start - end_samples - 1, tail)
        glow = self._afterglow(z_end, lengths, dwell_s)
        if glow.size:
            where = end_samples[:, None] + 1 + np.arange(glow.shape[1])[None, :]
            keep = glow > 0
            out += np.bincount(where[keep], weights=glow[keep], minlength=n_samples)
        last_sample = np.zeros(rows.size, int)
        np.maximum.at(last_sample, r, samp)
        self.time_s[rows] = start_time_s + (last_sample + 1) * dwell_s
        return out * self.preset.ions_per_particle
