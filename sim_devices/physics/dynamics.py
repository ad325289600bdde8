"""Time-dependent populations and emitted photons: switch-on, switch-off, any pump waveform.

Near threshold an avalanching particle takes a fraction of a second to settle (critical slowing
down, docs/physics.md §7.2), far longer than a pixel dwell or a counter gate, so the simulated bench
must carry the populations from one gate to the next. `ParticleDynamics` holds that state and
`advance(dt, intensity)` integrates the rate equations over a step, returning the photons
emitted per ion during the step (the integral of the emission rate, computed as an extra ODE
component so it is as accurate as the populations).

Integrator: LSODA (scipy.integrate.odeint, the ODEPACK code) with the analytic Jacobian. It
switches between non-stiff and stiff methods by itself, and calling it directly avoids the
per-step Python overhead of ``solve_ivp`` (several times faster on these 2–5-variable systems;
see benchmarks/physics_speed.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .model import RateModel, compile_model
from .preset import Preset

#: Default integration tolerances: relative, and absolute in population fractions.
RTOL = 1e-9
ATOL = 1e-16

Intensity = float | Callable[[float], float]


class IntegrationError(RuntimeError):
    """LSODA did not complete a step (too stiff or too long a step for `mxstep`)."""


def _system(model: RateModel, flux: float | Callable[[float], float]):
    """(rhs, jac) of the augmented system y = (z, photons per line) for odeint (tfirst=True)."""
    m = model.n_reduced
    H, G, L = model.H, model.G, model.line_matrix
    c1, M1 = model.c1, model.M1
    jac_buffer = np.zeros((m + L.shape[0], m + L.shape[0]))
    jac_buffer[m:, :m] = L  # d(photon rate)/dz; odeint copies the returned array
    if callable(flux):
        flux_of = flux
        c0, M0 = model.c0, model.M0

        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            phi = flux_of(t)
            z = y[:m]
            return np.concatenate((c0 + phi * c1 + (M0 + phi * M1 + H @ z) @ z, L @ z))

        def jac(t: float, y: np.ndarray) -> np.ndarray:
            jac_buffer[:m, :m] = M0 + flux_of(t) * M1 + G @ y[:m]
            return jac_buffer
    else:
        c, M = model.linear_terms(float(flux))

        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            z = y[:m]
            return np.concatenate((c + (M + H @ z) @ z, L @ z))

        def jac(t: float, y: np.ndarray) -> np.ndarray:
            jac_buffer[:m, :m] = M + G @ y[:m]
            return jac_buffer
    return rhs, jac


def integrate(model: RateModel, z0: np.ndarray, times_s: np.ndarray,
              flux: float | Callable[[float], float], *, rtol: float = RTOL, atol: float = ATOL,
              max_step_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Integrate from z0 at times_s[0]; returns (z at each time (N, m), photons per ion per line
    emitted since times_s[0] (N, lines)). `flux` is Φ in cm⁻² s⁻¹, or a function of time."""
    from scipy.integrate import odeint  # lazy: scipy is heavy

    m = model.n_reduced
    y0 = np.concatenate((np.asarray(z0, dtype=float), np.zeros(model.line_matrix.shape[0])))
    rhs, jac = _system(model, flux)
    y, info = odeint(rhs, y0, np.asarray(times_s, dtype=float), Dfun=jac, tfirst=True,
                     rtol=rtol, atol=atol, mxstep=200_000, hmax=max_step_s, full_output=True)
    if info["message"] != "Integration successful.":
        raise IntegrationError(f"{model.preset.name}: LSODA failed: {info['message']}")
    return y[:, :m], y[:, m:]


def integrate_constant(model: RateModel, z0: np.ndarray, duration_s: float, flux: float, *,
                       rtol: float = RTOL, atol: float = ATOL) -> tuple[np.ndarray, np.ndarray]:
    """State after `duration_s` at constant flux, and the photons per ion per line emitted."""
    z, photons = integrate(model, z0, np.array([0.0, duration_s]), flux, rtol=rtol, atol=atol)
    return z[-1], photons[-1]


class ParticleDynamics:
    """One particle's populations in time (mean field), carried across calls.

    The state starts dark (every ion in its ground level) unless `populations` (full level
    fractions, order `level_labels`) is given. `time_s` counts the integrated time; a callable
    intensity is evaluated at that clock, so a waveform continues across calls.
    """

    def __init__(self, preset: Preset | str, temperature_K: float | None = None, *,
                 line: str | None = None, populations: np.ndarray | None = None,
                 rtol: float = RTOL, atol: float = ATOL) -> None:
        self.model = compile_model(preset, temperature_K)
        self.preset = self.model.preset
        self.line = self.preset.main_line if line is None else self.preset.line_named(line).name
        self._line_index = self.model.line_names.index(self.line)
        self.rtol, self.atol = rtol, atol
        self.time_s = 0.0
        self._z = np.zeros(self.model.n_reduced)
        #: Photons per ion emitted on every line during the last step (order: `line_names`).
        self.last_photons_per_ion = np.zeros(len(self.model.line_names))
        if populations is not None:
            self.reset(populations)

    @property
    def level_labels(self) -> tuple[str, ...]:
        return self.model.level_labels

    @property
    def line_names(self) -> tuple[str, ...]:
        return self.model.line_names

    @property
    def populations(self) -> np.ndarray:
        """Current level fractions, one per level (`level_labels`)."""
        return self.model.full_populations(self._z)

    def emission_rate_per_ion(self, line: str | None = None) -> float:
        """Instantaneous photons/s per ion on a line (default: this object's line)."""
        index = self._line_index if line is None else self.model.line_names.index(line)
        return float(self.model.line_matrix[index] @ self._z)

    def reset(self, populations: np.ndarray | None = None) -> None:
        """Back to the dark state, or to given full level fractions (checked per species)."""
        if populations is None:
            self._z = np.zeros(self.model.n_reduced)
            return
        y = np.asarray(populations, dtype=float)
        if y.shape != (self.model.n_full,):
            raise ValueError(f"populations need {self.model.n_full} values "
                             f"({', '.join(self.level_labels)}), got shape {y.shape}")
        sums = np.bincount(self.model.species_of_level, weights=y)
        if np.any(y < 0) or not np.allclose(sums, 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"populations must be non-negative and sum to 1 per species; "
                             f"sums: {sums}")
        self._z = self.model.reduced(y)

    def set_steady_state(self, intensity_kW_cm2: float) -> None:
        """Jump to the steady state at an intensity (as after a long constant dwell).

        Newton from the cached table's interpolated populations (tens of µs once the table
        exists); Newton continuation from the dark state if that does not land on a physical
        root.
        """
        from .steady import newton, steady_state_curve
        from .table import emission_table

        if intensity_kW_cm2 < 0:
            raise ValueError(f"intensity must not be negative, got {intensity_kW_cm2}")
        if intensity_kW_cm2 == 0:
            self._z = np.zeros(self.model.n_reduced)
            return
        flux = float(intensity_kW_cm2) * self.model.flux_per_kW_cm2
        table = emission_table(self.preset, self.model.temperature_K)
        z = newton(self.model, self.model.reduced(table.populations(intensity_kW_cm2)), flux)
        if z is None or not self.model.is_physical(z, tol=1e-12):
            grid = (np.geomspace(1e-3, intensity_kW_cm2, 80) if intensity_kW_cm2 > 1e-3
                    else np.array([intensity_kW_cm2]))
            z = self.model.reduced(steady_state_curve(self.model, grid).populations[-1])
        self._z = z

    def advance(self, dt_s: float, intensity_kW_cm2: Intensity, *,
                max_step_s: float | None = None) -> float:
        """Integrate over dt_s (s) under a constant intensity (kW/cm²) or a function I(t) of the
        object's clock; return the photons emitted per ion on this object's line in the step.

        A callable's negative values count as 0 (a sine-modulated pump may dip below zero). For
        a callable with features shorter than the natural step, pass `max_step_s`; for a
        piecewise-constant pump use `advance_piecewise` (it restarts at each edge, which is exact).
        """
        if dt_s < 0:
            raise ValueError(f"dt_s must not be negative, got {dt_s}")
        if dt_s == 0:
            self.last_photons_per_ion = np.zeros(len(self.model.line_names))
            return 0.0
        flux: float | Callable[[float], float]
        if callable(intensity_kW_cm2):
            start, func, scale = self.time_s, intensity_kW_cm2, self.model.flux_per_kW_cm2

            def flux(t: float) -> float:
                return scale * max(float(func(start + t)), 0.0)
        else:
            if intensity_kW_cm2 < 0:
                raise ValueError(f"intensity must not be negative, got {intensity_kW_cm2}")
            flux = float(intensity_kW_cm2) * self.model.flux_per_kW_cm2
        z, photons = integrate(self.model, self._z, np.array([0.0, dt_s]), flux, rtol=self.rtol,
                               atol=self.atol, max_step_s=max_step_s or 0.0)
        self._z = z[-1]
        self.time_s += dt_s
        self.last_photons_per_ion = photons[-1]
        return float(photons[-1, self._line_index])

    def advance_piecewise(self, durations_s: Sequence[float] | np.ndarray,
                          intensities_kW_cm2: Sequence[float] | np.ndarray) -> np.ndarray:
        """Piecewise-constant pump: segment k lasts durations_s[k] at intensities_kW_cm2[k].
        Returns the photons per ion on this object's line emitted in each segment."""
        durations = np.asarray(durations_s, dtype=float)
        levels = np.asarray(intensities_kW_cm2, dtype=float)
        if durations.shape != levels.shape or durations.ndim != 1:
            raise ValueError("durations_s and intensities_kW_cm2 must be 1-d and of equal length")
        return np.array([self.advance(float(d), float(i)) for d, i in zip(durations, levels)])

    def sample(self, times_s: Sequence[float] | np.ndarray, intensity_kW_cm2: float) -> np.ndarray:
        """Emission rate (photons/s per ion, this object's line) at times after now (s, increasing,
        ≥ 0) under a constant intensity; the state advances to the last time."""
        times = np.asarray(times_s, dtype=float)
        if times.ndim != 1 or times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
            raise ValueError("times_s must be increasing, non-negative and non-empty")
        grid = times if times[0] == 0.0 else np.concatenate(([0.0], times))
        z, photons = integrate(self.model, self._z, grid,
                               float(intensity_kW_cm2) * self.model.flux_per_kW_cm2,
                               rtol=self.rtol, atol=self.atol)
        self._z = z[-1]
        self.time_s += float(grid[-1])
        self.last_photons_per_ion = photons[-1]
        rates = z @ self.model.line_matrix[self._line_index]
        return rates if times[0] == 0.0 else rates[1:]


# --- switch-on / switch-off ------------------------------------------------------------------

def rise_curve(preset: Preset | str, intensity_kW_cm2: float, times_s: np.ndarray, *,
               temperature_K: float | None = None, line: str | None = None) -> np.ndarray:
    """Emission (photons/s per ion) at times_s after switching the pump on at t = 0 from dark."""
    return ParticleDynamics(preset, temperature_K, line=line).sample(times_s, intensity_kW_cm2)


def decay_curve(preset: Preset | str, intensity_kW_cm2: float, times_s: np.ndarray, *,
                temperature_K: float | None = None, line: str | None = None) -> np.ndarray:
    """Emission at times_s after switching the pump off at t = 0 from the steady state at
    `intensity_kW_cm2`."""
    particle = ParticleDynamics(preset, temperature_K, line=line)
    particle.set_steady_state(intensity_kW_cm2)
    return particle.sample(times_s, 0.0)


def rise_half_time_s(preset: Preset | str | RateModel, intensity_kW_cm2: float, *,
                     temperature_K: float | None = None, line: str | None = None,
                     t_max_s: float = 30.0) -> float:
    """t½ (docs/physics.md §3): from the dark state, pump on at t = 0, the time for the emission to
    reach half its final steady value. The steady value is the Newton-polished end of the same
    trace, which is extended (×10, up to 1000·t_max_s) until it has settled.

    `preset` may be an already compiled RateModel (then `temperature_K` is its own and ignored),
    e.g. a fit's trial model, which then stays out of the `compile_model` cache."""
    from .steady import newton

    model = preset if isinstance(preset, RateModel) else compile_model(preset, temperature_K)
    index = model.line_names.index(model.preset.main_line if line is None else line)
    row = model.line_matrix[index]
    flux = float(intensity_kW_cm2) * model.flux_per_kW_cm2
    t_end = t_max_s
    while True:
        times = np.concatenate(([0.0], np.logspace(-7, np.log10(t_end), 300)))
        z, _ = integrate(model, np.zeros(model.n_reduced), times, flux)
        final_z = newton(model, z[-1], flux)
        rates = z @ row
        if final_z is not None:
            final = float(final_z @ row)
            if abs(rates[-1] / final - 1.0) < 1e-4:
                break
        if t_end >= 1000.0 * t_max_s:
            raise IntegrationError(f"{model.preset.name}: emission not settled after {t_end:g} s")
        t_end *= 10.0
    k = int(np.argmax(rates >= 0.5 * final))
    # Refine inside the bracket [t_{k-1}, t_k] with a fine linear grid from the stored state.
    fine_t = np.linspace(times[k - 1], times[k], 201)
    fine_z, _ = integrate(model, z[k - 1], fine_t, flux)
    fine = fine_z @ row
    j = int(np.argmax(fine >= 0.5 * final))
    t0, t1, r0, r1 = fine_t[j - 1], fine_t[j], fine[j - 1], fine[j]
    return float(t0 + (0.5 * final - r0) * (t1 - t0) / (r1 - r0))
