"""Rise times t½ of many samples at many intensities at once, with numpy only.

`dynamics.rise_half_time_s` integrates one sample at one intensity with LSODA (scipy), which
is exact but costs a scipy import (~0.4 s) and a Python call per right-hand side. A design
series (`avlab model --series`) needs the peak of t½ over intensity for every point of the
series: dozens of switch-ons of small systems (2-5 populations). Here they are integrated
together as one batch: every system takes the same steps, and each step is a few batched
numpy operations, whatever the batch size.

Integrator: the two-stage Rosenbrock method ROS2 (Verwer, Spee, Blom & Hundsdorfer, SIAM J.
Sci. Comput. 20, 1456 (1999)): L-stable, second order, one Jacobian and two linear solves per
step — suited to the stiff rate equations (ns-µs transfers next to ms-s avalanche build-up).
The local error estimate is the difference to its embedded first-order solution; the step is
the largest that keeps every system of the batch within `rtol` (relative to each population,
`atol` below), and at most `MAX_STEP_FRACTION` of the time elapsed, so the emission is
sampled finely enough around t½ for cubic Hermite interpolation of the crossing. Agreement
with LSODA: within 0.2 % on the shipped presets (tests/test_physics_rise_batch.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .model import RateModel
from .steady import newton
from .table import parabola_vertex

RTOL = 1e-3
ATOL = 1e-10  # population fractions
#: Largest step as a fraction of the time since switch-on.
MAX_STEP_FRACTION = 0.05
FIRST_STEP_S = 1e-9
GAMMA = 1.0 + 1.0 / np.sqrt(2.0)


class _Batch:
    """B independent systems dz/dt = c + (M + H·z)·z (one model at one flux each), stepped
    together by ROS2 (see the module docstring)."""

    def __init__(self, models: Sequence[RateModel], fluxes: np.ndarray) -> None:
        m = models[0].n_reduced
        if any(model.n_reduced != m for model in models):
            raise ValueError("all models of a batch need the same number of populations")
        flux = np.asarray(fluxes, dtype=float)
        if not np.all(np.isfinite(flux)) or np.any(flux < 0):
            raise ValueError(f"fluxes must be finite and not negative, got {flux}")
        self.c = np.stack([mod.c0 + f * mod.c1 for mod, f in zip(models, flux)])
        self.M = np.stack([mod.M0 + f * mod.M1 for mod, f in zip(models, flux)])
        self.H = np.stack([mod.H for mod in models])  # (B, m, m, m)
        self.G = np.stack([mod.G for mod in models])
        self.eye = np.eye(m)

    def f(self, z: np.ndarray) -> np.ndarray:
        return self.c + np.einsum("bij,bj->bi", self.M + np.einsum("bijl,bl->bij", self.H, z),
                                  z)

    def jac(self, z: np.ndarray) -> np.ndarray:
        return self.M + np.einsum("bijl,bl->bij", self.G, z)

    def run(self, z0: np.ndarray, t_end_s: float, *, rtol: float = RTOL, atol: float = ATOL,
            on_step: Callable[[float, np.ndarray], None] | None = None) -> np.ndarray:
        """The states at `t_end_s` from `z0` (B, m); `on_step(t, z)` after every step."""
        z = np.array(z0, dtype=float)
        t, h = 0.0, FIRST_STEP_S
        while t < t_end_s:
            h = min(h, t_end_s - t, max(MAX_STEP_FRACTION * t, FIRST_STEP_S))
            W = self.eye - (GAMMA * h) * self.jac(z)
            k1 = np.linalg.solve(W, self.f(z)[..., None])[..., 0]
            k2 = np.linalg.solve(W, (self.f(z + h * k1) - 2.0 * k1)[..., None])[..., 0]
            new = z + h * (1.5 * k1 + 0.5 * k2)
            scale = atol + rtol * np.maximum(np.abs(z), np.abs(new))
            err = float(np.max(np.abs(0.5 * h * (k1 + k2)) / scale))
            if err <= 1.0:
                t += h
                z = new
                if on_step is not None:
                    on_step(t, z)
            h *= min(2.0, max(0.2, 0.9 / math.sqrt(max(err, 1e-10))))
            if not h > 1e-12 * max(t, FIRST_STEP_S):  # also NaN: a state gone non-finite
                raise FloatingPointError(f"ROS2 step collapsed at t = {t:.3g} s")
        return z


def settle(model: RateModel, z0: np.ndarray, flux: float, t_end_s: float) -> np.ndarray:
    """The state reached from `z0` after `t_end_s` at a constant flux (cm⁻² s⁻¹), numpy only:
    what a steady-state solve falls back on when Newton finds no state near the last one
    (past a fold of the S-curve), before Newton polishes it."""
    return _Batch([model], np.array([flux])).run(np.asarray(z0, dtype=float)[None, :], t_end_s,
                                                 rtol=1e-4, atol=1e-12)[0]


def rise_half_times_s(models: Sequence[RateModel], intensities_kW_cm2: np.ndarray, *,
                      t_end_s: float = 30.0, line: str | None = None) -> np.ndarray:
    """t½ (s) of every model at every intensity: shape (len(models), K) for intensities of
    shape (len(models), K) in kW/cm². All models must have the same reduced dimension (one
    preset varied in concentration or temperature). NaN where the emission has not settled
    by `t_end_s` (the caller may fall back to `dynamics.rise_half_time_s` there)."""
    intensities = np.asarray(intensities_kW_cm2, dtype=float)
    n_models, k = intensities.shape
    if n_models != len(models):
        raise ValueError("one row of intensities per model")
    # Batch layout: system b = (model i, intensity j), b = i*k + j.
    rep = np.repeat(np.arange(n_models), k)
    batch_models = [models[i] for i in rep]
    flux = intensities.ravel() * np.array([mod.flux_per_kW_cm2 for mod in batch_models])
    batch = _Batch(batch_models, flux)
    rows = np.stack([mod.line_matrix[mod.line_names.index(
        mod.preset.main_line if line is None else line)] for mod in batch_models])  # (B, m)
    z0 = np.zeros((len(flux), models[0].n_reduced))
    times = [0.0]
    emission = [np.zeros(len(flux))]
    slopes = [np.einsum("bi,bi->b", rows, batch.f(z0))]

    def record(t: float, z: np.ndarray) -> None:
        times.append(t)
        emission.append(np.einsum("bi,bi->b", rows, z))
        slopes.append(np.einsum("bi,bi->b", rows, batch.f(z)))

    z = batch.run(z0, t_end_s, on_step=record)
    times_a = np.asarray(times)
    em = np.asarray(emission)  # (steps, B)
    de = np.asarray(slopes)
    out = np.full(len(flux), np.nan)
    for b, model in enumerate(batch_models):
        final_z = newton(model, z[b], float(flux[b]))
        if final_z is None:
            continue
        final = float(rows[b] @ final_z)
        if not final > 0 or abs(em[-1, b] / final - 1.0) >= 1e-4:
            continue  # not settled by t_end_s
        half = 0.5 * final
        n = int(np.argmax(em[:, b] >= half))
        if n == 0:
            continue
        out[b] = _hermite_crossing(times_a[n - 1], times_a[n], em[n - 1, b], em[n, b],
                                   de[n - 1, b], de[n, b], half)
    return out.reshape(n_models, k)


def _hermite_crossing(t0: float, t1: float, y0: float, y1: float, d0: float, d1: float,
                      level: float) -> float:
    """Where the cubic Hermite interpolant through (t0, y0, y0'), (t1, y1, y1') reaches
    `level` (bisection; the emission rises monotonically through half its final value)."""
    dt = t1 - t0

    def value(s: float) -> float:
        h00 = 2 * s**3 - 3 * s**2 + 1
        h10 = s**3 - 2 * s**2 + s
        h01 = -2 * s**3 + 3 * s**2
        h11 = s**3 - s**2
        return h00 * y0 + h10 * dt * d0 + h01 * y1 + h11 * dt * d1

    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if value(mid) < level:
            lo = mid
        else:
            hi = mid
    return t0 + 0.5 * (lo + hi) * dt


#: The bracket of the t½-peak search, in units of the S-peak intensity: critical slowing
#: down peaks a few % above the threshold (far off for a sample that barely avalanches).
PEAK_BRACKET = (0.97, 1.3)
PEAK_GRID = 9


def rise_time_peaks(models: Sequence[RateModel], thresholds_kW_cm2: Sequence[float]
                    ) -> list[tuple[float, float]]:
    """(largest t½ in s, its intensity in kW/cm²) of every model within PEAK_BRACKET × its
    threshold, all models searched together: t½ on 9 log-spaced intensities, then 4 more
    around the largest (a third of the spacing), then at the vertex of the parabola through
    the largest and its neighbours. The peak's intensity comes out to ~0.3 % — a bounded
    Brent search to 5 % (what this replaced) cost several times as long one model at a
    time. Models of different sizes are searched in separate batches."""
    results: list[tuple[float, float]] = [(math.nan, math.nan)] * len(models)
    by_size: dict[int, list[int]] = {}
    for i, model in enumerate(models):
        by_size.setdefault(model.n_reduced, []).append(i)
    for indices in by_size.values():
        batch = [models[i] for i in indices]
        found = _peaks(batch, np.array([thresholds_kW_cm2[i] for i in indices], dtype=float))
        for i, value in zip(indices, found):
            results[i] = value
    return results


def _peaks(models: list[RateModel], thresholds: np.ndarray) -> list[tuple[float, float]]:
    lo, hi = (math.log(f) for f in PEAK_BRACKET)
    step = (hi - lo) / (PEAK_GRID - 1)
    x = np.log(thresholds)[:, None] + lo + step * np.arange(PEAK_GRID)[None, :]
    y = _half_times(models, x)
    # around the largest (kept inside the bracket): thirds of the spacing
    j = np.clip(np.nanargmax(np.where(np.isnan(y), -np.inf, y), axis=1), 1, PEAK_GRID - 2)
    centre = x[np.arange(len(models)), j]
    offsets = step * np.array([-2, -1, 1, 2]) / 3.0
    x_fine = centre[:, None] + offsets[None, :]
    y_fine = _half_times(models, x_fine)
    rows = np.arange(len(models))
    # the fine grid: x[j-1], two thirds, x[j], two thirds, x[j+1]; equally spaced
    xs = np.column_stack([x[rows, j - 1], x_fine[:, :2], centre, x_fine[:, 2:], x[rows, j + 1]])
    ys = np.column_stack([y[rows, j - 1], y_fine[:, :2], y[rows, j], y_fine[:, 2:],
                          y[rows, j + 1]])
    k = np.clip(np.nanargmax(np.where(np.isnan(ys), -np.inf, ys), axis=1), 1, xs.shape[1] - 2)
    vertex = np.array([parabola_vertex(xs[r, k[r] - 1:k[r] + 2], ys[r, k[r] - 1:k[r] + 2])[0]
                       for r in rows])
    y_vertex = _half_times(models, vertex[:, None])[:, 0]
    out = []
    for r in rows:
        candidates = [(y_vertex[r], vertex[r])] + list(zip(ys[r], xs[r]))
        best = max(((t, xi) for t, xi in candidates if math.isfinite(t)), default=None)
        out.append((math.nan, math.nan) if best is None else (float(best[0]),
                                                               float(math.exp(best[1]))))
    return out


def _half_times(models: list[RateModel], log_intensities: np.ndarray) -> np.ndarray:
    """t½ at exp(log_intensities) (rows: models); LSODA (dynamics.rise_half_time_s, which
    integrates longer when needed) where the batch did not settle within its 30 s."""
    intensities = np.exp(log_intensities)
    t = rise_half_times_s(models, intensities)
    for r, c in zip(*np.nonzero(np.isnan(t))):
        from .dynamics import rise_half_time_s

        t[r, c] = rise_half_time_s(models[r], float(intensities[r, c]))
    return t
