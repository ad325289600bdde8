"""Steady state versus pump intensity, with the exact local slope S(I) of every emission line.

Method (docs/physics.md §8): Newton's method in reduced coordinates, continued along the intensity
grid. Each point is seeded with a first-order predictor from the previous solution, using the
tangent dz/dΦ that the slope computation provides anyway (J·dz/dΦ = −∂f/∂Φ), so most points
converge in one or two Newton steps. Newton from the dark state at high power can land on a
wrong root, so a sweep always starts from a known state (dark for increasing intensities, the
time-integrated state for decreasing ones); if Newton fails or leaves the physical simplex, the
rate equations are integrated in time (LSODA with the analytic Jacobian) and Newton polishes.

The slope S = d ln(emission)/d ln I of a line with rate w·z_u is Φ·(dz_u/dΦ)/z_u, exact up to
the accuracy of the steady state (no finite differences, which underestimate the narrow peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import RateModel, compile_model
from .preset import Preset

NEWTON_MAX_ITERATIONS = 60
NEWTON_RTOL = 1e-12
#: Rounding slack allowed outside the simplex during Newton steps (fractions).
SIMPLEX_SLACK = 1e-15


class SteadyStateError(RuntimeError):
    """The steady state could not be found (Newton and the time-integration fallback failed)."""


@dataclass(frozen=True)
class SteadyStateCurve:
    """Steady state on an intensity grid: populations, emission of every line and its exact slope.

    `populations` has one column per level (`level_labels`, e.g. ``"Tm:3H4"``), as fractions of
    that species' ions; `line_emission_per_ion` is photons/s per ion of the line's species.
    `emission_per_ion` and `slope` are those of `line` (the preset's main line by default).
    """

    intensity_kW_cm2: np.ndarray
    populations: np.ndarray  # (N, levels)
    level_labels: tuple[str, ...]
    line_names: tuple[str, ...]
    line_emission_per_ion: np.ndarray  # (N, lines), photons/s per ion
    line_slope: np.ndarray  # (N, lines), exact d ln(emission)/d ln(I)
    line: str
    temperature_K: float

    def _column(self, line: str | None) -> int:
        name = self.line if line is None else line
        try:
            return self.line_names.index(name)
        except ValueError:
            known = ", ".join(self.line_names)
            raise KeyError(f"no emission line {name!r}; lines: {known}") from None

    @property
    def emission_per_ion(self) -> np.ndarray:
        """Photons/s per ion on `line`."""
        return self.line_emission_per_ion[:, self._column(None)]

    @property
    def slope(self) -> np.ndarray:
        """Exact local slope S(I) of `line`."""
        return self.line_slope[:, self._column(None)]

    def emission_of(self, line: str) -> np.ndarray:
        return self.line_emission_per_ion[:, self._column(line)]

    def slope_of(self, line: str) -> np.ndarray:
        return self.line_slope[:, self._column(line)]

    def population_of(self, level: str) -> np.ndarray:
        """Fraction in one level, e.g. ``"Tm:3H4"``."""
        return self.populations[:, self.level_labels.index(level)]


def newton(model: RateModel, z0: np.ndarray, flux: float,
           max_iterations: int = NEWTON_MAX_ITERATIONS) -> np.ndarray | None:
    """Damped Newton iteration for f(z) = 0 at one flux, kept inside the physical simplex.

    Returns None if it does not converge (the caller falls back to time integration).
    """
    c, M = model.linear_terms(flux)
    H, G = model.H, model.G
    z = np.array(z0, dtype=float)
    for _ in range(max_iterations):
        f = c + (M + H @ z) @ z
        J = M + G @ z
        try:
            step = np.linalg.solve(J, -f)
        except np.linalg.LinAlgError:
            return None
        scale = 1.0
        trial = z + step
        while not model.is_physical(trial, tol=SIMPLEX_SLACK) and scale > 1e-6:
            scale *= 0.5
            trial = z + scale * step
        z = trial
        size = np.abs(scale * step)
        if np.all(size <= NEWTON_RTOL * np.abs(z)) or size.max() <= 1e-16 + 1e-13 * np.abs(z).max():
            return z
    return None


def integrate_to_steady_state(model: RateModel, z0: np.ndarray, flux: float, *,
                              numpy_only: bool = False) -> np.ndarray:
    """Time integration from z0 for many slowest-relaxation times, then Newton polish: LSODA
    (analytic Jacobian), or with `numpy_only` the batched Rosenbrock integrator of
    rise_batch (no scipy import: `avlab model`)."""
    slowest = _slowest_decay_rate_per_s(model)
    t_end = max(60.0, 2000.0 / slowest)
    if numpy_only:
        from .rise_batch import settle

        z = settle(model, z0, flux, t_end)
    else:
        from .dynamics import integrate_constant

        z, _ = integrate_constant(model, z0, t_end, flux, rtol=1e-10, atol=1e-15)
    polished = newton(model, z, flux)
    if polished is None or not model.is_physical(polished, tol=1e-12):
        raise SteadyStateError(f"{model.preset.name}: no steady state at flux {flux:.4g} cm⁻² s⁻¹")
    return polished


def _slowest_decay_rate_per_s(model: RateModel) -> float:
    """The smallest total decay rate of any excited level (sets how long relaxation takes)."""
    diag = -np.diag(model.A_decay)[model.keep_indices]
    positive = diag[diag > 0]
    return float(positive.min()) if positive.size else 1.0


def continuation(model: RateModel, intensity_kW_cm2: np.ndarray,
                 z_start: np.ndarray | None = None, *, numpy_only: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Steady states along a monotonic intensity grid: (z, dz/dΦ), each of shape (N, m).

    `z_start` seeds the first point (default: the dark state for an increasing grid, the state
    reached by time integration from the dark for a decreasing one). Where Newton finds no
    state near the last one (past a fold), time integration decides: see
    integrate_to_steady_state for `numpy_only`.
    """
    intensities = np.asarray(intensity_kW_cm2, dtype=float)
    if intensities.ndim != 1 or intensities.size == 0 or np.any(intensities <= 0):
        raise ValueError("intensity_kW_cm2 must be a non-empty 1-d array of positive values")
    steps = np.diff(intensities)
    increasing = bool(np.all(steps > 0))
    if not increasing and not np.all(steps < 0):
        raise ValueError("intensity_kW_cm2 must be strictly increasing or strictly decreasing")
    fluxes = intensities * model.flux_per_kW_cm2
    m = model.n_reduced
    Z = np.empty((len(fluxes), m))
    DZ = np.empty((len(fluxes), m))
    c1, M1, G = model.c1, model.M1, model.G
    if z_start is not None:
        z = np.array(z_start, dtype=float)
    elif increasing:
        z = np.zeros(m)
    else:
        z = integrate_to_steady_state(model, np.zeros(m), float(fluxes[0]),
                                      numpy_only=numpy_only)
    dz = np.zeros(m)
    previous_flux = float(fluxes[0])
    for k, flux in enumerate(fluxes.tolist()):
        guess = z + dz * (flux - previous_flux)
        start = guess if model.is_physical(guess, tol=SIMPLEX_SLACK) else z
        solved = newton(model, start, flux)
        if solved is None and start is guess and not np.array_equal(guess, z):
            solved = newton(model, z, flux)  # the predictor overshot: retry from the last state
        if solved is None or not model.is_physical(solved, tol=1e-12):
            solved = integrate_to_steady_state(model, z, flux, numpy_only=numpy_only)
        z = solved
        J = model.M0 + flux * M1 + G @ z
        dz = np.linalg.solve(J, -(c1 + M1 @ z))
        Z[k], DZ[k] = z, dz
        previous_flux = flux
    return Z, DZ


def steady_state_curve(preset: Preset | str | RateModel, intensity_kW_cm2: np.ndarray, *,
                       temperature_K: float | None = None, line: str | None = None,
                       z_start: np.ndarray | None = None,
                       numpy_only: bool = False) -> SteadyStateCurve:
    """Steady state on a strictly monotonic intensity grid (kW/cm²) by Newton continuation.

    `numpy_only`: past a fold, integrate without scipy (integrate_to_steady_state).
    `preset` is a Preset, a shipped preset's name or an already compiled RateModel;
    `temperature_K` defaults to the preset's reference temperature; `line` (default: the
    preset's main line) selects what `emission_per_ion` and `slope` report.
    """
    model = preset if isinstance(preset, RateModel) else compile_model(preset, temperature_K)
    intensities = np.asarray(intensity_kW_cm2, dtype=float)
    Z, DZ = continuation(model, intensities, z_start, numpy_only=numpy_only)
    fluxes = intensities * model.flux_per_kW_cm2
    emission = model.line_rates_per_ion(Z)
    d_emission = model.line_rates_per_ion(DZ)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(emission > 0, fluxes[:, None] * d_emission / emission, np.nan)
    return SteadyStateCurve(
        intensity_kW_cm2=intensities,
        populations=model.full_populations(Z),
        level_labels=model.level_labels,
        line_names=model.line_names,
        line_emission_per_ion=emission,
        line_slope=slope,
        line=model.preset.main_line if line is None else model.preset.line_named(line).name,
        temperature_K=model.temperature_K,
    )
