"""Tabulated steady-state emission, interpolated in log–log space.

The simulated instruments ask for the emission of a particle many thousand times per run
(every gate, every pixel). Solving the rate equations each time would cost ~0.1 ms; the table is
built once per (preset, temperature) (~0.1 s for 1,500 points) and a lookup costs microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .model import RateModel, compile_model
from .preset import Preset
from .registry import get_preset
from .steady import SteadyStateCurve, steady_state_curve

TABLE_MIN_KW_CM2 = 1e-3
TABLE_MAX_KW_CM2 = 1e4
TABLE_POINTS = 1500


@dataclass(frozen=True)
class EmissionTable:
    """Steady-state emission per ion versus pump intensity for one preset, temperature and line.

    `curve` holds every line and all level populations on the table grid; the methods answer
    for `line` (default: the preset's main line, e.g. Tm 800 nm), in photons/s per ion of that
    line's species.
    """

    preset: Preset
    curve: SteadyStateCurve
    line: str = ""
    temperature_K: float = 0.0

    def __post_init__(self) -> None:
        line = self.line or self.curve.line
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "temperature_K", self.curve.temperature_K)
        object.__setattr__(self, "_log_i", np.log(self.curve.intensity_kW_cm2))
        object.__setattr__(self, "_log_y", np.log(self.curve.emission_of(line)))
        object.__setattr__(self, "_slope", self.curve.slope_of(line))
        log_p = np.log(np.clip(self.curve.populations, 1e-300, None))
        object.__setattr__(self, "_log_p", np.ascontiguousarray(log_p.T))  # one row per level

    def emission_per_ion(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """Photons/s per ion at the given local intensity (0 for zero intensity).

        Below the table the low-power power law of the first table point is extrapolated
        (S ≈ 2 for Tm); above it the emission is held at the saturated value.
        """
        intensity = np.asarray(intensity_kW_cm2, dtype=float)
        out = np.zeros_like(intensity)
        lit = intensity > 0
        log_i = np.log(np.clip(intensity[lit], None, TABLE_MAX_KW_CM2))
        log_y = np.interp(log_i, self._log_i, self._log_y)
        low = log_i < self._log_i[0]
        if np.any(low):
            log_y[low] = self._log_y[0] + self._slope[0] * (log_i[low] - self._log_i[0])
        out[lit] = np.exp(log_y)
        return out if out.ndim else float(out)

    def slope(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """Exact local slope S(I) interpolated from the table."""
        log_i = np.log(np.clip(np.asarray(intensity_kW_cm2, dtype=float), TABLE_MIN_KW_CM2,
                               TABLE_MAX_KW_CM2))
        return np.interp(log_i, self._log_i, self._slope)

    def s_max(self) -> tuple[float, float]:
        """(S_max, intensity in kW/cm² where S peaks) on the table grid — threshold convention 1."""
        k = int(np.argmax(self._slope))
        return float(self._slope[k]), float(self.curve.intensity_kW_cm2[k])

    def s_max_refined(self) -> tuple[float, float]:
        """(S_max, I at S_max) located to ~1e-4 in intensity, not just on the table grid.

        The S peak is narrow (±5 %) and sharper at low temperature, so the 1.1 % table grid can
        clip it by up to ~1 %. A dense continuation across the two grid cells around the grid
        maximum, seeded with the tabulated state, and a parabola through the top three points
        give the exact-slope maximum (`refine_s_peak`, 201 points). Cached after the first call
        (~10 ms).
        """
        cached = self.__dict__.get("_s_max_refined")
        if cached is not None:
            return cached
        result = refine_s_peak(compile_model(self.preset, self.temperature_K),
                               self.curve.intensity_kW_cm2, self._slope, self.curve.populations,
                               line=self.line, points=201)
        object.__setattr__(self, "_s_max_refined", result)
        return result

    def populations(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray:
        """Level fractions (…, levels; order `curve.level_labels`), interpolated log–log
        (clamped to the table range)."""
        log_i = np.log(np.clip(np.asarray(intensity_kW_cm2, dtype=float), TABLE_MIN_KW_CM2,
                               TABLE_MAX_KW_CM2))
        return np.exp(np.stack([np.interp(log_i, self._log_i, col) for col in self._log_p],
                               axis=-1))

    def threshold_tangent_kW_cm2(self) -> float:
        """Threshold convention 2 (docs/physics.md §3): where the log–log tangent at the S peak meets
        the low-power asymptote (the power law of the first table point)."""
        k = int(np.argmax(self._slope))
        s_peak, s_low = self._slope[k], self._slope[0]
        log_i = (self._log_y[0] - s_low * self._log_i[0]
                 - self._log_y[k] + s_peak * self._log_i[k]) / (s_peak - s_low)
        return float(np.exp(log_i))


def peak_index(values: np.ndarray) -> int:
    """Index of the largest value (NaN counts as smallest), kept off both ends so that it has
    two neighbours for `parabola_vertex`."""
    return int(np.clip(np.argmax(np.fmax(values, -np.inf)), 1, len(values) - 2))


def parabola_vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(x, y) of the vertex of the parabola through three equally spaced points, the middle one
    the highest: the vertex moves at most one spacing from x[1]; a triple that is not concave
    gives the middle point."""
    denominator = y[0] - 2.0 * y[1] + y[2]
    shift = 0.0
    if denominator < 0:
        shift = float(np.clip(0.5 * (y[0] - y[2]) / denominator, -1.0, 1.0))
    return float(x[1] + shift * (x[2] - x[1])), float(y[1] - 0.25 * (y[0] - y[2]) * shift)


def refine_s_peak(model: RateModel, intensity_kW_cm2: np.ndarray, slope: np.ndarray,
                  populations: np.ndarray, *, line: str | None = None,
                  points: int) -> tuple[float, float]:
    """(S_max, I at S_max in kW/cm²) of `line`, refined from a log-spaced grid with its exact
    slopes and level populations (a `SteadyStateCurve`'s `intensity_kW_cm2`, `slope_of(line)`,
    `populations`): a continuation of `points` log-spaced points across the two grid cells
    around the grid maximum (peak_index), seeded with the state at the first of them, and the
    parabola vertex (in ln I) through the top three exact slopes of that dense grid."""
    k = peak_index(slope)
    dense = np.geomspace(intensity_kW_cm2[k - 1], intensity_kW_cm2[k + 1], points)
    curve = steady_state_curve(model, dense, line=line,
                               z_start=model.reduced(populations[k - 1]))
    j = peak_index(curve.slope)
    x_peak, s_peak = parabola_vertex(np.log(dense[j - 1:j + 2]), curve.slope[j - 1:j + 2])
    return s_peak, float(np.exp(x_peak))


def emission_table(preset: str | Preset, temperature_K: float | None = None,
                   line: str | None = None) -> EmissionTable:
    """The emission table of a preset (shipped name or Preset object) at a temperature (K,
    default: the preset's reference temperature) for a line (default: its main line).

    Built once per process and argument set: `TABLE_POINTS` log-spaced intensities from
    `TABLE_MIN_KW_CM2` to `TABLE_MAX_KW_CM2` by Newton continuation.
    """
    if isinstance(preset, str):
        preset = get_preset(preset)
    T = float(preset.reference_temperature_K if temperature_K is None else temperature_K)
    name = preset.main_line if line is None else preset.line_named(line).name
    return _cached_table(preset, T, name)


@lru_cache(maxsize=32)
def _cached_table(preset: Preset, temperature_K: float, line: str) -> EmissionTable:
    return EmissionTable(preset=preset, curve=_cached_curve(preset, temperature_K), line=line)


@lru_cache(maxsize=32)
def _cached_curve(preset: Preset, temperature_K: float) -> SteadyStateCurve:
    """All lines and populations on the table grid; shared by the tables of every line."""
    intensities = np.logspace(np.log10(TABLE_MIN_KW_CM2), np.log10(TABLE_MAX_KW_CM2),
                              TABLE_POINTS)
    return steady_state_curve(compile_model(preset, temperature_K), intensities)
