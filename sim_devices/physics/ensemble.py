"""Many particles at once: particle-to-particle variation, and a film under a Gaussian beam.

Two things make a measured S-curve flatter than one ideal particle's (docs/physics.md §6, §7.1):

* **Particles differ.** Shell thickness and surface quality change the surface quenching of each
  particle, hence its threshold (docs/physics.md §2a: the Lee script fits f₁/f₂ = 0/0, 0.25/0.5 and
  3.25/6.3 to three samples; Kwock et al. relate it to the shell). A `ParticleEnsemble` is a
  weighted set of particle kinds — presets derived from one sample by `with_quenching` or
  `with_scaled_process` — whose average emission per ion is the weighted mean of their tables.
  A continuous spread (log-normal) is represented by equal-weight quantile classes, so K
  representative particles cost K cached tables (~0.1 s each, once).
* **A film sees the whole beam.** Every particle in a Gaussian focus I(r) = I₀·e^(−2r²/w²)
  emits Y(I(r)); since 2πr·dr = (πw²/2)·dI/I, the film's emission is

      (ions per area) × (πw²/2) × F(I₀),   F(I₀) = ∫₀^I₀ Y(I) dI/I   (the Lee-script integral),

  and its slope is exactly d ln F/d ln I₀ = Y(I₀)/F(I₀). `FilmResponse` tabulates F on the
  emission table's grid (exact for the table's piecewise power law), so a lookup costs
  microseconds. For the calibrated Tm preset the film's S_max is 18.8 (§7.1) against 26.4 for
  one particle.

Emission is in photons/s per ion of the main line's species, as in `EmissionTable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from .preset import Decay, LevelRef, LevelSyntaxError, Preset
from .registry import get_preset
from .table import EmissionTable, emission_table, parabola_vertex, peak_index

# --- per-particle presets ----------------------------------------------------------------------


def with_quenching(preset: Preset | str, rates_per_s: Mapping[str, float]) -> Preset:
    """The preset with extra (temperature-independent) quenching decays, e.g. a thinner shell.

    `rates_per_s` maps a channel ``"Tm:3F4 -> 3H6"`` to its added rate (s⁻¹ ≥ 0); zero rates
    add nothing, so no quenching returns an equal preset (and reuses its cached tables).
    """
    base = get_preset(preset) if isinstance(preset, str) else preset
    extra: list[Decay] = []
    for channel, rate in rates_per_s.items():
        if not (rate >= 0.0 and math.isfinite(rate)):
            raise ValueError(f"quenching rate of {channel!r} must be finite and >= 0 s⁻¹, "
                             f"got {rate!r}")
        try:
            initial, final = base.level_arrow(channel)
        except LevelSyntaxError as exc:
            raise ValueError(f"{base.name}: quenching channel {exc}") from None
        if base.energy_cm1(final) >= base.energy_cm1(initial):
            raise ValueError(f"{base.name}: {channel!r}: quenching must go down in energy")
        if rate > 0.0:
            extra.append(Decay(initial, final, float(rate), "quenching",
                               source="ensemble.with_quenching"))
    if not extra:
        return base
    label = ", ".join(f"{d.initial}->{d.final.level} {d.rate_per_s:.4g}/s" for d in extra)
    return replace(base, name=f"{base.name} [+quenching {label}]",
                   decays=base.decays + tuple(extra))


def with_scaled_process(preset: Preset | str, process: str, factor: float) -> Preset:
    """The preset with one named pump transition (cross-section) or energy transfer (rate)
    multiplied by `factor` (> 0), e.g. a particle with a different local concentration."""
    base = get_preset(preset) if isinstance(preset, str) else preset
    if not (factor > 0.0 and math.isfinite(factor)):
        raise ValueError(f"factor must be finite and > 0, got {factor!r}")
    pump = [t.name for t in base.pump_transitions]
    transfers = [t.name for t in base.transfers]
    if (process in pump) == (process in transfers):
        state = "both a pump transition and a transfer" if process in pump else "unknown"
        raise ValueError(f"{base.name}: process {process!r} is {state}; pump transitions: "
                         f"{', '.join(pump)}; transfers: {', '.join(transfers)}")
    if factor == 1.0:
        return base
    if process in pump:
        scaled = base.with_scaled_cross_sections(factor, lambda t: t.name == process)
    else:
        new_transfers = tuple(
            replace(t, rate_per_s=None if t.rate_per_s is None else t.rate_per_s * factor,
                    coefficient_cm3_per_s=(None if t.coefficient_cm3_per_s is None
                                           else t.coefficient_cm3_per_s * factor))
            if t.name == process else t for t in base.transfers)
        scaled = replace(base, transfers=new_transfers)
    return replace(scaled, name=f"{base.name} [{process} x{factor:.4g}]")


@dataclass(frozen=True)
class SurfaceQuenching:
    """Surface quenching in the form of the Lee script (docs/physics.md §2a): channel k gains
    f_k × `unit_rate_per_s` (s⁻¹); the f_k are the dimensionless fitted factors."""

    channels: tuple[str, ...]
    unit_rate_per_s: float

    @classmethod
    def of(cls, preset: Preset | str) -> SurfaceQuenching:
        """The Lee-form surface quenching of a preset's main-line species: channel 1 from the
        reservoir (lowest excited level) to the ground level, channel 2 — if the emitting level
        is higher — from the emitting level to the level below it; unit rate W_ref = the
        reservoir's own (non-quenching) decay rate at the reference temperature. For tm8_1064:
        ³F₄ → ³H₆ and ³H₄ → ³F₄ on 162.6 s⁻¹ (`TM_SURFACE_QUENCHING`)."""
        p = get_preset(preset) if isinstance(preset, str) else preset
        main = p.line_named(p.main_line).upper
        levels = p.species_named(main.species).levels
        if len(levels) < 2:  # pragma: no cover - a line needs two levels
            raise ValueError(f"{p.name}: species {main.species} has no excited level")
        reservoir = LevelRef(main.species, levels[1].name)
        w_ref = sum(d.rate_per_s for d in p.decays
                    if d.initial == reservoir and d.kind != "quenching")
        if w_ref <= 0:
            raise ValueError(f"{p.name}: the reservoir level {reservoir} has no decay to scale "
                             "the quenching factor by")
        channels = [f"{reservoir} -> {levels[0].name}"]
        emitter = [lv.name for lv in levels].index(main.level)
        if emitter >= 2:
            channels.append(f"{main} -> {levels[emitter - 1].name}")
        return cls(tuple(channels), w_ref)

    def rates_per_s(self, factors: Sequence[float]) -> dict[str, float]:
        if len(factors) != len(self.channels):
            raise ValueError(f"need {len(self.channels)} factors ({', '.join(self.channels)}), "
                             f"got {len(factors)}")
        return {c: float(f) * self.unit_rate_per_s for c, f in zip(self.channels, factors)}

    def apply(self, preset: Preset | str, factors: Sequence[float]) -> Preset:
        return with_quenching(preset, self.rates_per_s(factors))


#: Tm³⁺ (Lee script, §2a): W1 = 162.6·(1 + f₁) on ³F₄ → ³H₆ and W2nr = 6.02 + 162.6·f₂ on
#: ³H₄ → ³F₄ (non-radiative ³H₄ decay feeds the reservoir, §1).
TM_SURFACE_QUENCHING = SurfaceQuenching.of("tm8_1064")
#: The (f₁, f₂) the Lee script fits to its three samples (docs/physics.md §2a).
LEE_FITTED_FACTORS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.25, 0.5), (3.25, 6.3))


def lognormal_classes(sigma_ln: float, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(factors, weights) of `n_classes` equal-probability classes of a log-normal distribution
    with median 1 and log standard deviation `sigma_ln`: each factor is the median of its class
    (quantile (k + ½)/n), each weight 1/n. σ = 0 or n = 1 gives the single factor 1."""
    if sigma_ln < 0 or n_classes < 1:
        raise ValueError("sigma_ln must be >= 0 and n_classes >= 1")
    normal = NormalDist()
    z = np.array([normal.inv_cdf((k + 0.5) / n_classes) for k in range(n_classes)])
    return np.exp(sigma_ln * z), np.full(n_classes, 1.0 / n_classes)


# --- ensembles of particles ----------------------------------------------------------------------


class ParticleEnsemble:
    """A weighted set of particle kinds (presets) at one temperature, observed on one line.

    `weights` are number fractions of particles (normalised to 1). The ensemble's emission per
    ion is the ion-weighted mean of the members' steady-state emission (their cached tables),
    and its slope is exact: S = Σ wₖNₖYₖSₖ / Σ wₖNₖYₖ (Nₖ ions per particle).
    """

    def __init__(self, presets: Sequence[Preset | str], weights: Sequence[float] | None = None,
                 *, temperature_K: float | None = None, line: str | None = None) -> None:
        members = tuple(get_preset(p) if isinstance(p, str) else p for p in presets)
        if not members:
            raise ValueError("an ensemble needs at least one particle kind")
        w = np.full(len(members), 1.0) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(members),) or np.any(w < 0) or not np.all(np.isfinite(w)) \
                or w.sum() <= 0:
            raise ValueError("weights must be one finite, non-negative value per preset, "
                             "not all zero")
        self.presets: tuple[Preset, ...] = members
        self.weights: np.ndarray = w / w.sum()
        self.temperature_K = temperature_K
        self.line = members[0].main_line if line is None else line
        ions = np.array([p.ions_of(p.line_named(self.line).upper.species) for p in members],
                        dtype=float)
        #: Mean ions per particle (of the line's species) over the ensemble.
        self.ions_per_particle = float(self.weights @ ions)
        self._ion_weights = self.weights * ions / self.ions_per_particle
        self._tables: tuple[EmissionTable, ...] | None = None

    # constructors for the usual spreads
    @classmethod
    def from_quenching(cls, preset: Preset | str, factors: Sequence[Sequence[float]], *,
                       weights: Sequence[float] | None = None,
                       quenching: SurfaceQuenching = TM_SURFACE_QUENCHING,
                       temperature_K: float | None = None) -> ParticleEnsemble:
        """One particle kind per row of surface-quenching factors, e.g. `LEE_FITTED_FACTORS`."""
        return cls([quenching.apply(preset, f) for f in factors], weights,
                   temperature_K=temperature_K)

    @classmethod
    def lognormal_quenching(cls, preset: Preset | str, median_factors: Sequence[float],
                            sigma_ln: float, *, n_classes: int = 9,
                            quenching: SurfaceQuenching = TM_SURFACE_QUENCHING,
                            temperature_K: float | None = None) -> ParticleEnsemble:
        """Surface-quenching factors q·`median_factors` with q log-normal (median 1, log
        standard deviation `sigma_ln`), in `n_classes` equal-weight classes."""
        q, w = lognormal_classes(sigma_ln, n_classes)
        rows = [[qk * f for f in median_factors] for qk in q]
        return cls.from_quenching(preset, rows, weights=w, quenching=quenching,
                                  temperature_K=temperature_K)

    # per particle
    def tables(self) -> tuple[EmissionTable, ...]:
        """Each member's emission table (built once, cached by `emission_table`)."""
        if self._tables is None:
            self._tables = tuple(emission_table(p, self.temperature_K, self.line)
                                 for p in self.presets)
        return self._tables

    def thresholds_kW_cm2(self) -> np.ndarray:
        """Each member's threshold (where its own S peaks, convention 1), kW/cm²."""
        return np.array([t.s_max()[1] for t in self.tables()])

    def sample_members(self, n_particles: int, rng: np.random.Generator) -> np.ndarray:
        """Indices into `presets` for `n_particles` particles drawn with the ensemble's weights
        (for a simulated field of distinct particles)."""
        return rng.choice(len(self.presets), size=n_particles, p=self.weights)

    # ensemble average on the common table grid
    @property
    def intensity_kW_cm2(self) -> np.ndarray:
        """The intensity grid shared by the members' tables (kW/cm²)."""
        grid = self.tables()[0].curve.intensity_kW_cm2
        if any(not np.array_equal(t.curve.intensity_kW_cm2, grid) for t in self.tables()[1:]):
            raise RuntimeError("member tables do not share one intensity grid")
        return grid

    def emission_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean emission per ion, exact slope) on the grid `intensity_kW_cm2`."""
        _ = self.intensity_kW_cm2  # the members must share the grid
        Y = np.array([t.curve.emission_of(self.line) for t in self.tables()])
        S = np.array([t.curve.slope_of(self.line) for t in self.tables()])
        mean = self._ion_weights @ Y
        return mean, (self._ion_weights @ (Y * S)) / mean

    def emission_per_ion(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """Ensemble-mean photons/s per ion at a local intensity (kW/cm²)."""
        values = [t.emission_per_ion(intensity_kW_cm2) for t in self.tables()]
        out = np.tensordot(self._ion_weights, np.asarray(values, dtype=float), axes=1)
        return out if np.ndim(out) else float(out)

    def slope(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """Exact slope d ln(mean emission)/d ln I of the ensemble (from the members' tables)."""
        Y = np.asarray([t.emission_per_ion(intensity_kW_cm2) for t in self.tables()])
        S = np.asarray([t.slope(intensity_kW_cm2) for t in self.tables()])
        w = self._ion_weights.reshape((-1,) + (1,) * (Y.ndim - 1))
        out = np.sum(w * Y * S, axis=0) / np.sum(w * Y, axis=0)
        return out if np.ndim(out) else float(out)

    def s_max(self) -> tuple[float, float]:
        """(S_max, intensity in kW/cm² where the ensemble's S peaks), on the table grid."""
        _, slope = self.emission_curve()
        k = int(np.argmax(slope))
        return float(slope[k]), float(self.intensity_kW_cm2[k])


# --- film under a Gaussian beam ------------------------------------------------------------------


def _exprel(u: np.ndarray) -> np.ndarray:
    """(eᵘ − 1)/u, 1 at u = 0, without cancellation."""
    small = np.abs(u) < 1e-8
    safe = np.where(small, 1.0, u)
    return np.where(small, 1.0 + 0.5 * u, np.expm1(safe) / safe)


class FilmResponse:
    """Emission of a film (a layer of particles much wider than the focus) versus the peak
    intensity I₀ of a Gaussian beam, F(I₀) = ∫₀^I₀ Y(I) dI/I (module docstring).

    `source` is a preset (object or shipped name) — identical particles — or a
    `ParticleEnsemble`. F is tabulated on the emission-table grid; between grid points Y is the
    table's log–log (power-law) interpolation, integrated exactly; below the grid Y follows its
    low-power power law (F = Y/S there), above it Y is held at its saturated value.
    """

    def __init__(self, source: Preset | str | ParticleEnsemble,
                 temperature_K: float | None = None, *, line: str | None = None) -> None:
        if isinstance(source, ParticleEnsemble):
            if temperature_K is not None or line is not None:
                raise ValueError("an ensemble carries its own temperature and line")
            grid = source.intensity_kW_cm2
            Y, S = source.emission_curve()
            self.ions_per_particle = source.ions_per_particle
            self.temperature_K = source.tables()[0].temperature_K
            self.line = source.line
        else:
            table = emission_table(source, temperature_K, line)
            grid = table.curve.intensity_kW_cm2
            Y, S = table.curve.emission_of(table.line), table.curve.slope_of(table.line)
            self.ions_per_particle = float(table.preset.ions_per_particle)
            self.temperature_K, self.line = table.temperature_K, table.line
        if not (S[0] > 0 and np.all(Y > 0)):
            raise ValueError("the emission must be positive and rise at the bottom of the table")
        self.intensity_kW_cm2 = np.asarray(grid, dtype=float)
        self._x = np.log(self.intensity_kW_cm2)
        self._y = np.asarray(Y, dtype=float)
        self._s0 = float(S[0])
        dx = np.diff(self._x)
        self._cell_slope = np.diff(np.log(self._y)) / dx  # power law inside each cell
        cells = dx * self._y[:-1] * _exprel(self._cell_slope * dx)
        self._F = self._y[0] / self._s0 + np.concatenate(([0.0], np.cumsum(cells)))

    def _evaluate(self, peak_intensity_kW_cm2: np.ndarray | float
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(Y(I₀), F(I₀)) as arrays; 0 where I₀ = 0."""
        i0 = np.asarray(peak_intensity_kW_cm2, dtype=float)
        if np.any(i0 < 0) or not np.all(np.isfinite(i0)):
            raise ValueError("peak intensities must be finite and >= 0 kW/cm²")
        x = np.log(np.where(i0 > 0, i0, 1.0))
        x0, x_end = self._x[0], self._x[-1]
        k = np.clip(np.searchsorted(self._x, x, side="right") - 1, 0, len(self._x) - 2)
        d = x - self._x[k]
        s = self._cell_slope[k]
        y_in = self._y[k] * np.exp(s * d)
        f_in = self._F[k] + self._y[k] * d * _exprel(s * d)
        y_low = self._y[0] * np.exp(self._s0 * (x - x0))
        y = np.where(x < x0, y_low, np.where(x > x_end, self._y[-1], y_in))
        f = np.where(x < x0, y_low / self._s0,
                     np.where(x > x_end, self._F[-1] + self._y[-1] * (x - x_end), f_in))
        lit = i0 > 0
        return np.where(lit, y, 0.0), np.where(lit, f, 0.0)

    def emission(self, peak_intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """F(I₀) = ∫₀^I₀ Y dI/I: photons/s per ion, per unit effective beam area πw²/2 of ions."""
        _, f = self._evaluate(peak_intensity_kW_cm2)
        return f if f.ndim else float(f)

    def slope(self, peak_intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """The film's exact slope d ln F/d ln I₀ = Y(I₀)/F(I₀) (NaN at I₀ = 0)."""
        y, f = self._evaluate(peak_intensity_kW_cm2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(f > 0, y / f, np.nan)
        return out if out.ndim else float(out)

    def s_max(self) -> tuple[float, float]:
        """(film S_max, I₀ in kW/cm² where it peaks): grid maximum refined by a parabola in
        ln I₀ (the film's S peak is broad, so this is accurate to ~1e-4)."""
        s = self._y / self._F
        k = peak_index(s)
        x, _ = parabola_vertex(self._x[k - 1:k + 2], s[k - 1:k + 2])
        return float(self.slope(math.exp(x))), float(math.exp(x))

    def photons_per_s(self, peak_intensity_kW_cm2: np.ndarray | float, waist_um: float,
                      particles_per_um2: float) -> np.ndarray | float:
        """Photons/s emitted by the film (on this line) under a Gaussian beam of 1/e² radius
        `waist_um` (µm) and peak intensity I₀ (kW/cm²), for an areal particle density."""
        if waist_um <= 0 or particles_per_um2 < 0:
            raise ValueError("waist_um must be > 0 and particles_per_um2 >= 0")
        area_um2 = 0.5 * math.pi * waist_um**2
        return particles_per_um2 * self.ions_per_particle * area_um2 * \
            self.emission(peak_intensity_kW_cm2)


def film_response(preset: Preset | str, temperature_K: float | None = None,
                  line: str | None = None) -> FilmResponse:
    """`FilmResponse` of identical particles, cached per (preset, temperature, line)."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    T = float(p.reference_temperature_K if temperature_K is None else temperature_K)
    return _cached_film(p, T, p.main_line if line is None else line)


@lru_cache(maxsize=32)
def _cached_film(preset: Preset, temperature_K: float, line: str) -> FilmResponse:
    return FilmResponse(preset, temperature_K, line=line)
