"""Analysis of a measured photon-avalanche S-curve (emission rate vs pump intensity).

Definitions follow docs/physics.md §3:

* **Local slope** ``S(I) = d ln I_em / d ln I_pump``.
* **Threshold**, convention 1 (default): the intensity where S peaks.
  Convention 2: the intersection, in log-log, of the low-power asymptote with
  the tangent to the curve at the steepest point.
* **PA gain** ``G2 = I_em(2·I_th) / I_em(I_th)`` (I_th = convention 1), and the
  gain over the extrapolated sub-threshold law at 2·I_th.

Why the local slope is estimated the way it is
----------------------------------------------
The S peak of an avalanching nanoparticle is narrow: for the calibrated Tm³⁺
preset S falls from 26.4 to half that within -7 %/+8 % in intensity, and drops
by 0.75 within ±1 %. Measured curves come from an adaptive sweep that refines the
steep region (spacing ~1-1.5 %) and is sparse (~12 %) elsewhere, with Poisson
noise of 0.3-3 % per point (much more where the signal is near the dark rate).

* Finite differences between neighbours are too noisy (a 1 % error on two
  points 1.5 % apart is ±1 in S).
* A global smoothing bandwidth either flattens the peak or leaves the sparse
  wings noisy, so the neighbourhood adapts to the sampling: each estimate uses
  the :data:`NEIGHBOURS` nearest distinct intensities (in ln I).
* Within the neighbourhood a weighted local **cubic** in (ln I, ln rate) is
  fitted (weights ``(rate/sigma)² ×`` tricube kernel) and its derivative is
  taken at the point. A local *quadratic* — the textbook choice — is biased by
  ``S''·h²``-type terms, which at the sharp Tm peak with 1.5 % sampling
  underestimates S_max by ~7 %; the cubic removes that term and leaves ~1 %
  bias for ~2x the noise (S_max ± 0.45 instead of ± 0.23 at 1e4 counts per
  point), which is the better trade when S_max is the headline number.

Every estimate is a *linear* function of the ln rates, so the uncertainty of
S_max is obtained by a fast parametric bootstrap (resampling ln rate with the
given sigmas and repeating the peak search), so it also contains the scatter
added by picking a maximum among noisy values.

The low-power asymptote is fitted in rate space (not log space) to all points
below 0.8·I_th — including rates <= 0 — with a model that removes the
pre-threshold divergence 1/(1 − I/I_th); see :func:`analyse_scurve` for why.

Points from an up-then-down sweep that share (nearly) the same intensity are
merged (inverse-variance weighted) before the analysis; a monostable sample
gives the same rate on both branches, and a hysteretic one would need a
branch-resolved analysis anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

def _golden_minimum(f: Callable[[float], float], a: float, b: float, *,
                    xatol: float) -> float:
    """Minimum of `f` on [a, b] by golden-section search.

    The bracket comes from a grid scan, so `f` is unimodal in it, and this is all that is
    needed; scipy.optimize would do the same but costs a third of a second to import, which
    every `avlab run scurve` paid at start-up before anything else of scipy was needed.
    """
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = f(c), f(d)
    while b - a > xatol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - inv_phi * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + inv_phi * (b - a)
            fd = f(d)
    return 0.5 * (a + b)


__all__ = [
    "SCurveAnalysis",
    "SCurveAnalysisError",
    "analyse_scurve",
    "local_slope",
]

FloatArray = NDArray[np.float64]

#: Number of nearest *distinct* intensities (clusters of near-duplicates count
#: once) in each local fit. 7 is the smallest neighbourhood that keeps a cubic
#: fit well conditioned with the tricube kernel while following a peak sampled
#: at ~1.5 % spacing.
NEIGHBOURS = 7
#: Degree of the local polynomial in ln I (see module docstring for why 3).
POLY_DEGREE = 3
#: Kernel radius in units of the distance to the farthest of the neighbours,
#: so that the farthest neighbour still gets a small non-zero weight.
KERNEL_RADIUS_FACTOR = 1.25
#: Points whose intensities differ by less than this (in ln I, i.e. 0.25 %) are
#: treated as repeats of the same set-point (up/down sweeps, power-meter jitter).
DUPLICATE_TOLERANCE_LN = 0.0025
#: Points with rate < MIN_SNR·sigma are excluded: ln(rate) is meaningless there.
MIN_SNR = 2.0
#: Fewest usable distinct intensities the full analysis accepts.
MIN_POINTS = 8
#: Low-power asymptote window, as a fraction of I_th (S-peak convention). The
#: critical model (see analyse_scurve) fitted to the exact Tm steady state up
#: to 0.8·I_th returns k = 2.00 ± 0.01, so the window can reach that high, which
#: matters because low-power signal is usually buried in the dark rate. A plain
#: power law is already visibly curved above ~0.6·I_th (local S = 3.5 there).
LOW_POWER_FRACTION_CRITICAL = 0.8
LOW_POWER_FRACTION_POWER_LAW = 0.6
#: Bounds for the fitted low-power exponent k.
LOW_POWER_SLOPE_BOUNDS = (0.0, 12.0)
#: Number of parametric-bootstrap replicates for s_max_sigma, and the RNG seed
#: (fixed so that an analysis of the same data is reproducible).
BOOTSTRAP_REPLICATES = 400
BOOTSTRAP_SEED = 20210113

#: Floor on the relative sigma used for weights, so that sigma = 0 (e.g.
#: simulated noiseless data) does not produce infinite weights.
_MIN_RELATIVE_SIGMA = 1e-6


#: Above this 1-sigma uncertainty of the low-power exponent k the summary says so.
POORLY_DETERMINED_K_SIGMA = 0.5


class SCurveAnalysisError(ValueError):
    """The data cannot support an S-curve analysis; the message says what is missing."""


# --------------------------------------------------------------------------- helpers


def _as_1d(values: ArrayLike, name: str, n: int | None = None) -> FloatArray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values but intensity has {n}")
    return arr


def _prepare(
    intensity_kW_cm2: ArrayLike, rate_cps: ArrayLike, rate_sigma_cps: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
    """Validate inputs; return (intensity, rate, sigma-or-None-as-nan, weights, usable mask).

    Weights are ``(rate/sigma)²`` = 1/var(ln rate), or 1 if no sigma was given.
    """
    intensity = _as_1d(intensity_kW_cm2, "intensity_kW_cm2")
    n = intensity.shape[0]
    rate = _as_1d(rate_cps, "rate_cps", n)
    if not np.all(np.isfinite(intensity)) or np.any(intensity <= 0):
        raise ValueError("pump intensity (kW/cm²) must be finite and > 0 at every point")
    usable = np.isfinite(rate) & (rate > 0)
    if rate_sigma_cps is None:
        sigma = np.full(n, np.nan)
        weights = np.ones(n)
    else:
        sigma = _as_1d(rate_sigma_cps, "rate_sigma_cps", n)
        if np.any(sigma < 0):
            raise ValueError("rate uncertainty (counts/s) must be >= 0")
        usable &= np.isfinite(sigma) & (rate >= MIN_SNR * sigma)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.maximum(sigma / rate, _MIN_RELATIVE_SIGMA)
        weights = np.where(usable, 1.0 / rel**2, 0.0)
    return intensity, rate, sigma, weights, usable


def _cluster_labels(x_sorted: FloatArray, tol: float) -> NDArray[np.intp]:
    """Group sorted ln I values into clusters no wider than ``tol``."""
    labels = np.zeros(x_sorted.shape[0], dtype=np.intp)
    start = x_sorted[0] if x_sorted.size else 0.0
    current = 0
    for i in range(1, x_sorted.shape[0]):
        if x_sorted[i] - start > tol:
            current += 1
            start = x_sorted[i]
        labels[i] = current
    return labels


class _LocalPolynomial:
    """Adaptive-bandwidth local polynomial smoother in (x = ln I, y = ln rate).

    The fit at an evaluation point x0 is linear in y, so it is represented by
    rows of a matrix: ``value(x0) = V @ y`` and ``slope(x0) = D @ y``. This makes
    error propagation and bootstrap resampling a matrix product.
    """

    def __init__(
        self,
        x: FloatArray,
        weights: FloatArray,
        *,
        neighbours: int = NEIGHBOURS,
        degree: int = POLY_DEGREE,
        radius_ln: float | None = None,
    ) -> None:
        if np.any(np.diff(x) < 0):
            raise AssertionError("_LocalPolynomial expects sorted x")  # pragma: no cover
        self.x = x
        self.w = weights
        self.degree = degree
        self.labels = _cluster_labels(x, DUPLICATE_TOLERANCE_LN)
        n_clusters = int(self.labels[-1]) + 1 if x.size else 0
        self.centres = np.array([x[self.labels == j].mean() for j in range(n_clusters)])
        # A degree-p fit needs p+1 distinct abscissae; one more keeps it from interpolating.
        self.min_clusters = degree + 2
        self.neighbours = max(neighbours, self.min_clusters)
        self.radius_ln = radius_ln

    @property
    def n_clusters(self) -> int:
        return int(self.centres.shape[0])

    def rows(self, x_eval: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Smoother rows (value, slope) for each evaluation point; NaN rows if unfittable."""
        n = self.x.shape[0]
        value_rows = np.full((x_eval.shape[0], n), np.nan)
        slope_rows = np.full((x_eval.shape[0], n), np.nan)
        if self.n_clusters < self.min_clusters:
            return value_rows, slope_rows
        for e, x0 in enumerate(x_eval):
            dist = np.abs(self.x - x0)
            cluster_dist = np.abs(self.centres - x0)
            nearest = np.argsort(cluster_dist, kind="stable")
            if self.radius_ln is not None and np.count_nonzero(cluster_dist < self.radius_ln) >= self.min_clusters:
                radius = self.radius_ln
            else:  # adaptive, or a fixed window too narrow for a cubic here
                k = min(self.neighbours if self.radius_ln is None else self.min_clusters, self.n_clusters)
                chosen = np.isin(self.labels, nearest[:k])
                radius = float(dist[chosen].max()) * KERNEL_RADIUS_FACTOR
            if radius <= 0:
                continue
            u = np.minimum(dist / radius, 1.0)
            kernel = (1.0 - u**3) ** 3
            ww = self.w * kernel
            # Polynomial in t = (x − x0)/radius ∈ [−1, 1] for a well-conditioned solve.
            design = np.vander((self.x - x0) / radius, self.degree + 1, increasing=True)
            normal = design.T @ (ww[:, None] * design)
            try:
                hat = np.linalg.solve(normal, design.T * ww)
            except np.linalg.LinAlgError:
                continue
            if not np.all(np.isfinite(hat)):
                continue
            value_rows[e] = hat[0]
            slope_rows[e] = hat[1] / radius
        return value_rows, slope_rows


# --------------------------------------------------------------------------- local slope


def local_slope(
    intensity_kW_cm2: ArrayLike,
    rate_cps: ArrayLike,
    rate_sigma_cps: ArrayLike | None = None,
    *,
    window_decades: float | None = None,
) -> FloatArray:
    """Local slope S = d ln(rate)/d ln(I) at every measured point.

    Each value is the derivative, at that point's own intensity, of a weighted
    local cubic fitted to (ln I, ln rate) over its neighbourhood. Weights are
    ``(rate/sigma)²`` (inverse variance of ln rate) times a tricube kernel in
    ln I. By default the neighbourhood is the :data:`NEIGHBOURS` nearest distinct
    intensities, so the bandwidth shrinks where the sweep refined (a narrow
    S peak is resolved) and grows where points are sparse (noise is averaged).
    Repeated / near-duplicate intensities (within 0.25 %) count as one
    neighbour but all contribute to the fit. Why a cubic and not a quadratic:
    see the module docstring.

    Args:
        intensity_kW_cm2: pump intensity at the sample, kW/cm², > 0, any order.
        rate_cps: background-subtracted emission rate, counts/s (may be <= 0).
        rate_sigma_cps: 1-sigma uncertainty of the rate, counts/s. ``None``
            means equal weights and no signal-to-noise cut.
        window_decades: if given, use a fixed kernel instead of the adaptive one:
            the full window width in decades of intensity (points farther than
            ``window_decades/2`` decades from the evaluation point get zero
            weight). It is widened where needed so that every fit has at least
            5 distinct intensities.

    Returns:
        Array aligned with the input order. NaN where the rate is <= 0, below
        2·sigma, non-finite, or where fewer than 5 distinct usable
        intensities exist.

    Raises:
        ValueError: on mismatched shapes, intensities <= 0, negative sigma or
            ``window_decades`` <= 0.
    """
    intensity, rate, _sigma, weights, usable = _prepare(intensity_kW_cm2, rate_cps, rate_sigma_cps)
    radius_ln: float | None = None
    if window_decades is not None:
        if not (math.isfinite(window_decades) and window_decades > 0):
            raise ValueError(f"window_decades must be > 0 decades of intensity, got {window_decades!r}")
        radius_ln = 0.5 * window_decades * math.log(10.0)
    out = np.full(intensity.shape[0], np.nan)
    idx = np.flatnonzero(usable)
    if idx.size == 0:
        return out
    idx = idx[np.argsort(intensity[idx], kind="stable")]
    x = np.log(intensity[idx])
    y = np.log(rate[idx])
    smoother = _LocalPolynomial(x, weights[idx], radius_ln=radius_ln)
    _, slope_rows = smoother.rows(x)
    out[idx] = slope_rows @ y
    return out


# --------------------------------------------------------------------------- full analysis


@dataclass(frozen=True, eq=False)  # eq=False: ndarray fields make field-wise == ambiguous
class SCurveAnalysis:
    """Result of :func:`analyse_scurve`. Intensities are peak intensities at the sample (kW/cm²).

    Attributes:
        s_max: maximum local slope S = d ln I_em / d ln I_pump (vertex of a
            parabola through the largest local-slope value and its two
            neighbours in ln I).
        s_max_sigma: 1-sigma uncertainty of ``s_max`` from a **parametric
            bootstrap**: ln rate is resampled with the given sigmas
            (:data:`BOOTSTRAP_REPLICATES` replicates, fixed seed), and the local
            slopes and peak refinement are recomputed. It covers the statistical
            (counting) error only, not the ~1 % smoothing bias at a sharp peak.
        threshold_s_peak_kW_cm2: threshold convention 1 — intensity of the S
            peak (parabola vertex, kept within the neighbouring points).
        threshold_tangent_kW_cm2: threshold convention 2 — where the tangent at
            the steepest point (slope ``s_max`` through the smoothed ln rate at
            ``threshold_s_peak``) meets the low-power asymptote, in log-log.
        low_power_slope: exponent k of the low-power asymptote ``A·I^k``
            (≈ 2 for the Tm 800 nm line: one GSA + one ESA photon).
        high_power_slope: local slope at the highest usable intensity (local
            quadratic fit; → 0 in saturation).
        low_power_slope_sigma: 1-sigma uncertainty of k from the curvature of
            the fit's chi² (the sigmas are taken as absolute); exactly 0 when k
            was fixed by the caller (``fixed_low_power_slope``).
        low_power_model: ``"critical"`` (asymptote fitted as
            ``A·I^k/(1 − I/I_th)``, see :func:`analyse_scurve`) or
            ``"power_law"`` (plain ``A·I^k``).
        low_power_range_kW_cm2: (lowest, highest) intensity of the points in that fit.
        gain_2x: PA gain G2 = rate(2·I_th)/rate(I_th), I_th = convention 1,
            rates log-log interpolated between measured points. NaN if 2·I_th
            is beyond the highest usable intensity.
        gain_over_subthreshold_2x: rate(2·I_th) / asymptote(2·I_th); NaN as above.
        intensity_kW_cm2: sorted intensities used (usable points, near-duplicates merged).
        slope: local S at those intensities.
    """

    s_max: float
    s_max_sigma: float
    threshold_s_peak_kW_cm2: float
    threshold_tangent_kW_cm2: float
    low_power_slope: float
    high_power_slope: float
    gain_2x: float
    gain_over_subthreshold_2x: float
    intensity_kW_cm2: FloatArray = field(repr=False)
    slope: FloatArray = field(repr=False)
    # Additions to the agreed field list (defaults keep the original constructor valid).
    low_power_slope_sigma: float = math.nan
    low_power_model: str = "critical"
    low_power_range_kW_cm2: tuple[float, float] = (math.nan, math.nan)
    #: Why the low-power asymptote (and with it k, the tangent threshold and the gain over the
    #: sub-threshold law) could not be determined; "" when it was.
    low_power_note: str = ""

    def as_records(self) -> dict[str, tuple[float, str]]:
        """Scalar results as ``name -> (value, unit)`` for storage (unit "" = dimensionless)."""
        return {
            "s_max": (self.s_max, ""),
            "s_max_sigma": (self.s_max_sigma, ""),
            "threshold_s_peak_kW_cm2": (self.threshold_s_peak_kW_cm2, "kW/cm^2"),
            "threshold_tangent_kW_cm2": (self.threshold_tangent_kW_cm2, "kW/cm^2"),
            "low_power_slope": (self.low_power_slope, ""),
            "low_power_slope_sigma": (self.low_power_slope_sigma, ""),
            "high_power_slope": (self.high_power_slope, ""),
            "gain_2x": (self.gain_2x, ""),
            "gain_over_subthreshold_2x": (self.gain_over_subthreshold_2x, ""),
        }

    def summary_lines(self) -> list[str]:
        """Human-readable results for the CLI, each with the definition used."""
        i_th = self.threshold_s_peak_kW_cm2
        lo, hi = self.low_power_range_kW_cm2
        model = (
            "fitted as A·I^k/(1 − I/I_th), i.e. with the pre-threshold divergence removed"
            if self.low_power_model == "critical"
            else "fitted as a plain power law"
        )
        k_text = (
            f"{self.low_power_slope:.2f} (fixed)"
            if self.low_power_slope_sigma == 0.0
            else f"{self.low_power_slope:.2f} ± {self.low_power_slope_sigma:.2f}"
        )
        lines = [
            f"S_max = {self.s_max:.1f} ± {self.s_max_sigma:.1f} at I_th = {_fmt(i_th)} kW/cm² (S peak)"
            "  [S = d ln I_em / d ln I_pump; ± = parametric bootstrap, counting noise only]",
        ]
        if self.low_power_note:
            lines.append(f"threshold (tangent/asymptote), low-power slope: not determined "
                         f"({self.low_power_note})")
        else:
            lines += [
                f"threshold (tangent/asymptote) = {_fmt(self.threshold_tangent_kW_cm2)} kW/cm²"
                "  [log-log tangent at the S peak meets the low-power asymptote]",
                f"low-power slope k = {k_text}"
                f"  [asymptote A·I^k from {_fmt(lo)}–{_fmt(hi)} kW/cm², {model}]",
            ]
            if not self.low_power_slope_sigma <= POORLY_DETERMINED_K_SIGMA:
                lines.append("  (k, the tangent threshold and the gain over the sub-threshold law "
                             "are poorly determined: the signal below threshold is near the "
                             "dark level; integrate longer there or use "
                             "fixed_low_power_slope)")
        lines.append(
            f"high-power slope = {self.high_power_slope:.2f}"
            f"  [local S at the highest intensity, {_fmt(float(self.intensity_kW_cm2[-1]))} kW/cm²]"
        )
        if math.isnan(self.gain_2x):
            lines.append(
                f"PA gain G2: n/a (2 I_th = {_fmt(2 * i_th)} kW/cm² is beyond the highest usable "
                f"intensity {_fmt(float(self.intensity_kW_cm2[-1]))} kW/cm²)"
            )
        else:
            lines.append(f"PA gain G2 = I_em(2 I_th)/I_em(I_th) = {_fmt(self.gain_2x)}  [I_th = S peak]")
            if not self.low_power_note:
                lines.append(
                    f"gain over sub-threshold law = I_em(2 I_th)/(A·(2 I_th)^k) = "
                    f"{_fmt(self.gain_over_subthreshold_2x)}  [low-power asymptote extrapolated to 2 I_th]"
                )
        return lines


def _fmt(value: float) -> str:
    """Three significant figures, without scientific notation for lab-sized numbers."""
    if not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _parabola_peak(x3: FloatArray, s3: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vertex (x, S) of parabolas through rows of three points; x clamped to the bracket.

    Vectorised over rows (shape (m, 3)). Where the parabola is not concave the
    middle point is returned.
    """
    x0, x1, x2 = x3[:, 0], x3[:, 1], x3[:, 2]
    s0, s1, s2 = s3[:, 0], s3[:, 1], s3[:, 2]
    # Newton form: s = s1 + b·(x−x1) + c·(x−x1)(x−x0) rewritten around x1.
    d01 = (s1 - s0) / (x1 - x0)
    d12 = (s2 - s1) / (x2 - x1)
    c = (d12 - d01) / (x2 - x0)
    b = d01 + c * (x1 - x0)  # derivative at x1
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = np.where(c < 0, -b / (2 * c), 0.0)
    dx = np.clip(dx, x0 - x1, x2 - x1)
    return x1 + dx, s1 + b * dx + c * dx**2


def _merge(
    x: FloatArray, y: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Merge near-duplicate ln I (sorted input) by inverse-variance weighting of ln rate."""
    labels = _cluster_labels(x, DUPLICATE_TOLERANCE_LN)
    m = int(labels[-1]) + 1
    wsum = np.bincount(labels, weights=w, minlength=m)
    xm = np.bincount(labels, weights=w * x, minlength=m) / wsum
    ym = np.bincount(labels, weights=w * y, minlength=m) / wsum
    return xm, ym, wsum


def _find_peak(slope: FloatArray, slope_sigma: FloatArray) -> int:
    """Index of the S peak among interior points, robust to isolated noisy estimates.

    Edge estimates are one-sided extrapolations and are never candidates. The
    peak *region* is located by the largest lower confidence bound S − 2σ_S, so
    that a poorly constrained point (σ_S of several units where the sampling
    changes density or the signal is near the dark rate) cannot win by noise;
    the peak itself is then the largest S within two points of it.
    """
    m = slope.shape[0]
    score = slope - 2.0 * slope_sigma
    score[0] = score[-1] = -np.inf
    score = np.where(np.isfinite(score), score, -np.inf)
    j = int(np.argmax(score))
    lo, hi = max(1, j - 2), min(m - 2, j + 2)
    window = slope[lo : hi + 1]
    return lo + int(np.nanargmax(np.where(np.isfinite(window), window, -np.inf)))


def _bootstrap_s_max_sigma(
    x: FloatArray, y: FloatArray, w: FloatArray, slope_rows: FloatArray, i_peak: int
) -> float:
    """Std of the refined S peak over parametric-bootstrap replicates of ln rate.

    Each replicate draws ln rate ~ N(ln rate, 1/w) (w = (rate/sigma)²), recomputes
    the local slopes (a matrix product: the smoother is linear in ln rate) and
    repeats the peak search and parabola refinement within two points of the
    original peak.
    """
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    m = y.shape[0]
    lo, hi = max(1, i_peak - 2), min(m - 2, i_peak + 2)
    needed = np.arange(lo - 1, hi + 2)
    y_rep = y + rng.standard_normal((BOOTSTRAP_REPLICATES, m)) / np.sqrt(w)
    s_rep = y_rep @ slope_rows[needed].T  # (B, len(needed))
    inner = s_rep[:, 1:-1]
    i = np.argmax(inner, axis=1) + 1  # index into `needed`
    cols = np.stack([i - 1, i, i + 1], axis=1)
    rows = np.arange(s_rep.shape[0])[:, None]
    _, s_peak = _parabola_peak(x[needed][cols], s_rep[rows, cols])
    return float(np.std(s_peak, ddof=1))


@dataclass(frozen=True)
class _Asymptote:
    ln_prefactor: float  # ln A in rate = A·I^k (I in kW/cm², rate in counts/s)
    slope: float
    slope_sigma: float
    range_kW_cm2: tuple[float, float]

    def ln_rate(self, x: float) -> float:
        return self.ln_prefactor + self.slope * x


def _fit_asymptote(
    intensity: FloatArray,
    rate: FloatArray,
    sigma: FloatArray,
    usable: NDArray[np.bool_],
    i_th: float,
    model: str,
    fixed_slope: float | None,
    offset_sigma: float | None = None,
) -> _Asymptote:
    """Fit the low-power asymptote A·I^k in *rate* space (see analyse_scurve, step 4).

    With `offset_sigma` (counts/s) a common offset c is fitted along, with the prior
    c ~ N(0, offset_sigma²): the error of a dark reference subtracted from every point is one
    number for all of them, not independent noise per point, and treating it as independent
    biases k where the signal is near the dark level.

    Rate space (not log space) so that every point below the window edge can
    be used with its Gaussian sigma — including rates <= 0 and < 2 sigma.
    Dropping those, or taking logs of noisy values, biases k low by ~1 for
    typical PA data whose low-power signal is near the dark rate.
    """
    fraction = LOW_POWER_FRACTION_CRITICAL if model == "critical" else LOW_POWER_FRACTION_POWER_LAW
    i_max = fraction * i_th
    sel = (intensity <= i_max) & np.isfinite(rate) & np.isfinite(sigma)
    sig = np.maximum(np.where(sel, sigma, 0.0), _MIN_RELATIVE_SIGMA * np.abs(np.where(sel, rate, 0.0)))
    sel &= sig > 0
    n_detected = int(np.count_nonzero(sel & usable))
    needed = 1 if fixed_slope is not None else 2
    if n_detected < needed:
        raise SCurveAnalysisError(
            f"only {n_detected} point(s) with rate >= {MIN_SNR:g} sigma below {fraction:g}·I_th = "
            f"{i_max:.3g} kW/cm²; the low-power asymptote needs >= {needed} (extend the sweep to lower "
            "intensity or integrate longer there)"
        )
    u = intensity[sel] / i_th  # normalised: keeps u**k finite for any k
    r, s = rate[sel], sig[sel]
    shape = 1.0 / (1.0 - u) if model == "critical" else np.ones_like(u)

    w = 1.0 / s**2

    def profile(k: float) -> tuple[float, float]:
        g = u**k * shape
        if not offset_sigma:
            amp = float(np.sum(g * r * w) / np.sum(g**2 * w))
            return amp, float(np.sum(((r - amp * g) / s) ** 2))
        # Linear least squares in (A, c) with the prior on c as one more observation.
        normal = np.array([[np.sum(g * g * w), np.sum(g * w)],
                           [np.sum(g * w), np.sum(w) + offset_sigma**-2]])
        amp, offset = np.linalg.solve(normal, [np.sum(g * r * w), np.sum(r * w)])
        chi2 = np.sum(((r - amp * g - offset) / s) ** 2) + (offset / offset_sigma) ** 2
        return float(amp), float(chi2)

    if fixed_slope is not None:
        k, k_sigma = float(fixed_slope), 0.0
    else:
        lo_b, hi_b = LOW_POWER_SLOPE_BOUNDS
        grid = np.linspace(lo_b, hi_b, 97)
        chi = np.array([profile(k)[1] for k in grid])
        j = int(np.argmin(chi))
        a, b = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
        k = _golden_minimum(lambda k: profile(k)[1], a, b, xatol=1e-7)
        h = 1e-3
        curvature = (profile(k + h)[1] - 2.0 * profile(k)[1] + profile(k - h)[1]) / h**2
        at_bound = min(k - lo_b, hi_b - k) < 1e-3
        k_sigma = math.sqrt(2.0 / curvature) if curvature > 0 and not at_bound else math.nan
    amp, _ = profile(k)
    if not amp > 0:
        raise SCurveAnalysisError(
            f"no net signal below {fraction:g}·I_th = {i_max:.3g} kW/cm² (fitted low-power amplitude "
            f"{amp:.3g} counts/s <= 0); the low-power asymptote is undetermined"
        )
    used = intensity[sel]
    return _Asymptote(
        ln_prefactor=math.log(amp) - k * math.log(i_th),
        slope=k,
        slope_sigma=k_sigma,
        range_kW_cm2=(float(used.min()), float(used.max())),
    )


def analyse_scurve(
    intensity_kW_cm2: ArrayLike,
    rate_cps: ArrayLike,
    rate_sigma_cps: ArrayLike,
    *,
    low_power_model: Literal["critical", "power_law"] = "critical",
    fixed_low_power_slope: float | None = None,
    common_offset_sigma_cps: float | None = None,
) -> SCurveAnalysis:
    """Extract S_max, thresholds and PA gains from a measured S-curve.

    Steps (ln = natural log; I_th = S-peak threshold):

    1. Keep points with rate > 0 and rate >= 2·sigma for the slope analysis;
       merge repeats of the same intensity (within 0.25 %,
       inverse-variance weighted in ln rate); sort.
    2. Local slope at every point (the :func:`local_slope` estimator).
    3. S peak: the largest interior local slope (located robustly, see
       ``_find_peak``), refined by the vertex of the parabola through it and
       its two neighbours in ln I -> ``s_max``, ``threshold_s_peak_kW_cm2``.
       ``s_max_sigma`` by parametric bootstrap.
    4. Low-power asymptote ``A·I^k``, fitted in rate space with the given
       sigmas to **all** points below the window edge (also rates <= 0 or
       < 2 sigma, which carry information and whose omission would bias the
       fit). With ``low_power_model="critical"`` (default) the model is
       ``rate = A·I^k / (1 − I/I_th)`` on I <= 0.8·I_th. Why: below threshold the
       feedback loop amplifies the reservoir population as 1/(1 − I/I_th)
       (linear-stability / mean-field picture, docs/physics.md §1), so the local
       slope is already k + (I/I_th)/(1 − I/I_th) — 2.18 at 0.15·I_th and 3.5
       at 0.6·I_th for Tm — and a plain power law through sub-threshold points
       overestimates k (3.1 instead of 2.0 on the Tm test data) and misplaces
       the asymptote. ``"power_law"`` fits ``A·I^k`` on I <= 0.6·I_th (the
       conventional estimate, kept for comparison with papers).
       ``fixed_low_power_slope`` fixes k (e.g. 2 for the Tm 800 nm line: GSA +
       ESA) when the low-power data are too noisy to determine it; only A is
       then fitted.
    5. Tangent: slope ``s_max`` through (ln I_th, smoothed ln rate at I_th);
       its intersection with the asymptote is ``threshold_tangent_kW_cm2``.
    6. Gains at 2·I_th from log-log linear interpolation of the merged rates;
       ``high_power_slope`` from a local quadratic at the highest intensity
       (a one-sided cubic is ~3x noisier there).

    Args:
        intensity_kW_cm2: peak pump intensity at the sample, kW/cm², > 0, any order.
        rate_cps: background-subtracted emission rate, counts/s.
        rate_sigma_cps: 1-sigma rate uncertainty, counts/s (>= 0).
        low_power_model: ``"critical"`` or ``"power_law"`` (step 4).
        fixed_low_power_slope: fix the low-power exponent k instead of fitting it.
        common_offset_sigma_cps: 1-sigma error (counts/s) of a background subtracted from
            every point alike (a dark reference); the asymptote fit then allows a common
            offset with this prior instead of treating that error as independent per point.

    Raises:
        SCurveAnalysisError: if fewer than 8 distinct usable intensities remain,
            if the local slope has no peak inside the data (the sweep does not
            reach below or above the steep region, or the response is not
            superlinear). No signal in the low-power window is not an error: the
            asymptote-based results are then NaN and ``low_power_note`` says why.
        ValueError: on malformed input (shapes, intensity <= 0, sigma < 0,
            unknown model).
    """
    if low_power_model not in ("critical", "power_law"):
        raise ValueError(f"low_power_model must be 'critical' or 'power_law', got {low_power_model!r}")
    if fixed_low_power_slope is not None and not math.isfinite(fixed_low_power_slope):
        raise ValueError(f"fixed_low_power_slope must be finite, got {fixed_low_power_slope!r}")
    if rate_sigma_cps is None:
        raise ValueError("rate_sigma_cps (counts/s) is required: it sets the weights and the 2-sigma cut")
    intensity, rate, sigma, weights, usable = _prepare(intensity_kW_cm2, rate_cps, rate_sigma_cps)

    n_usable = int(np.count_nonzero(usable))
    if n_usable == 0:
        raise SCurveAnalysisError(
            "no usable points: every rate is <= 0 or below 2 sigma (no signal above the dark rate)"
        )
    order = np.flatnonzero(usable)
    order = order[np.argsort(intensity[order], kind="stable")]
    x, y, w = _merge(np.log(intensity[order]), np.log(rate[order]), weights[order])
    m = x.shape[0]
    if m < MIN_POINTS:
        raise SCurveAnalysisError(
            f"only {m} distinct usable intensities (rate > 0 and >= {MIN_SNR:g} sigma: "
            f"{n_usable} of {intensity.shape[0]} points); need at least {MIN_POINTS}"
        )
    sorted_intensity = np.exp(x)

    # ---- local slopes
    smoother = _LocalPolynomial(x, w)
    _, slope_rows = smoother.rows(x)
    slope = slope_rows @ y
    slope_sigma = np.sqrt(np.sum(slope_rows**2 / w, axis=1))
    if not np.any(np.isfinite(slope[1:-1])):
        raise SCurveAnalysisError("local slope could not be estimated (too few distinct intensities)")

    # ---- S peak
    i_peak = _find_peak(slope, slope_sigma)
    s_peak_raw = float(slope[i_peak])
    if not s_peak_raw > 1.0:
        raise SCurveAnalysisError(
            f"no superlinear region: the largest local slope is {s_peak_raw:.2f} (<= 1), so the data "
            "contain no avalanche threshold (flat or linear response)"
        )
    if not np.any(slope[:i_peak] <= 0.5 * s_peak_raw):
        raise SCurveAnalysisError(
            f"the sweep does not reach below the steep region: the local slope stays above half its "
            f"peak ({s_peak_raw:.1f} at {sorted_intensity[i_peak]:.3g} kW/cm²) down to the lowest usable "
            f"intensity {sorted_intensity[0]:.3g} kW/cm²; extend the sweep to lower intensity (or "
            "integrate longer so low-power points rise above 2 sigma)"
        )
    if not np.any(slope[i_peak + 1 :] <= 0.5 * s_peak_raw):
        raise SCurveAnalysisError(
            f"the sweep does not reach above the steep region: the local slope stays above half its "
            f"peak ({s_peak_raw:.1f} at {sorted_intensity[i_peak]:.3g} kW/cm²) up to the highest usable "
            f"intensity {sorted_intensity[-1]:.3g} kW/cm²; extend the sweep to higher intensity"
        )
    x_v, s_v = _parabola_peak(x[None, i_peak - 1 : i_peak + 2], slope[None, i_peak - 1 : i_peak + 2])
    x_th, s_max = float(x_v[0]), float(s_v[0])
    i_th = math.exp(x_th)
    s_max_sigma = _bootstrap_s_max_sigma(x, y, w, slope_rows, i_peak)

    # ---- low-power asymptote (rate space, all points in the window). When the sub-threshold
    # signal is lost in the dark counts the asymptote is undetermined; S_max, the S-peak
    # threshold and G2 still stand, so report those and say why the rest is missing.
    low_power_note = ""
    try:
        asym = _fit_asymptote(intensity, rate, sigma, usable, i_th, low_power_model,
                              fixed_low_power_slope, common_offset_sigma_cps)
    except SCurveAnalysisError as exc:
        asym, low_power_note = None, str(exc)

    # ---- tangent at the steepest point, anchored on the smoothed ln rate
    value_rows, _ = smoother.rows(np.array([x_th]))
    y_th = float(value_rows[0] @ y)
    if asym is None:
        threshold_tangent = math.nan
    elif s_max > asym.slope:
        x_cross = (y_th - s_max * x_th - asym.ln_prefactor) / (asym.slope - s_max)
        threshold_tangent = math.exp(x_cross)
    else:  # pragma: no cover - excluded by the half-maximum checks for any sane data
        threshold_tangent = math.nan

    # ---- gains at 2·I_th
    x2 = x_th + math.log(2.0)
    if x2 <= x[-1]:
        y_at_2 = float(np.interp(x2, x, y))
        gain_2x = math.exp(y_at_2 - float(np.interp(x_th, x, y)))
        gain_sub = math.exp(y_at_2 - asym.ln_rate(x2)) if asym is not None else math.nan
    else:
        gain_2x = gain_sub = math.nan

    # ---- slope at the top of the curve
    _, top_rows = _LocalPolynomial(x, w, degree=2).rows(x[-1:])
    high_power_slope = float(top_rows[0] @ y)

    sorted_intensity.setflags(write=False)
    slope.setflags(write=False)
    return SCurveAnalysis(
        s_max=s_max,
        s_max_sigma=s_max_sigma,
        threshold_s_peak_kW_cm2=i_th,
        threshold_tangent_kW_cm2=threshold_tangent,
        low_power_slope=asym.slope if asym is not None else math.nan,
        high_power_slope=high_power_slope,
        gain_2x=gain_2x,
        gain_over_subthreshold_2x=gain_sub,
        intensity_kW_cm2=sorted_intensity,
        slope=slope,
        low_power_slope_sigma=asym.slope_sigma if asym is not None else math.nan,
        low_power_model=low_power_model,
        low_power_range_kW_cm2=asym.range_kW_cm2 if asym is not None else (math.nan, math.nan),
        low_power_note=low_power_note,
    )
