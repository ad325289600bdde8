"""Particles in a confocal image: find them, fit each with an elliptical 2-D Gaussian, summarise.

A photon-avalanche nanoparticle (ANP) is far smaller than the focus, so its image is the
excitation profile raised to the particle's nonlinearity: with emission ∝ I^S under a Gaussian
focus whose intensity FWHM is λ/(2·NA), the spot's FWHM is λ/(2·NA·√S) (`passi_fwhm_nm`,
docs/physics.md; ~70 nm at S = 26, 1064 nm, NA 1.49). Far below threshold (S ≈ 2) and in
saturation (S → 0) the spot is ~200 nm or wider. With a finite pixel dwell shorter than the
particle's rise time the emission lags the beam and the spot streaks along the fast axis, so
each spot is fitted with an *elliptical* Gaussian whose long axis and angle report the streak.

Conventions: an image is indexed [row, column] = [y, x] with pixel centres `x_um` (columns)
and `y_um` (rows), evenly spaced and ascending (as `drivers.scanning.assemble_image` gives
them). Counts are raw photon counts per pixel (Poisson). The model is sampled at the pixel
centres: a confocal pixel is one beam position, not an area average. The orientation angle is
that of the long axis, in degrees from +x towards +y, in (−90°, 90°]; a streak along a raster's
fast axis gives ≈ 0°.

Why the fit is done this way:

* **Poisson likelihood.** Counts per pixel are often a few (background ~0–10). The residuals
  handed to `scipy.optimize.least_squares` are Poisson *deviance* residuals,
  sign(d − m)·√(2·(m − d + d·ln(d/m))), so the least-squares minimum is the maximum-likelihood
  fit; Gaussian weights 1/√d would bias amplitudes and widths at low counts.
* **Uncertainties** are the Fisher-information (Jacobian) covariance at the optimum, scaled by
  the reduced deviance when that exceeds 1 (the spot is not exactly Gaussian — the wings of an
  ANP spot are broader, because S falls with intensity — and the covariance should then grow).
* **Detection** works on a lightly smoothed copy (Gaussian, 1 pixel), so that isolated Poisson
  spikes in a dark background are not taken for particles; the threshold is the background
  plus `threshold_sigma` robust standard deviations of the smoothed image, raised where counts
  are few to the Poisson quantile with the same false-alarm probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FWHM_PER_SIGMA",
    "ImageAnalysis",
    "ImageAnalysisError",
    "PassiComparison",
    "Spot",
    "analyse_image",
    "find_spots",
    "fit_spot",
    "passi_fwhm_nm",
]

#: FWHM of a Gaussian per standard deviation, 2·√(2·ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

FloatArray = NDArray[np.float64]

#: A fitted amplitude must exceed this many of its standard deviations to count as a spot.
MIN_SIGNIFICANCE = 5.0
#: Refits of a spot's core at most (each on the pixels within core_fwhm × the last FWHM).
CORE_ITERATIONS = 6


class ImageAnalysisError(ValueError):
    """The image or its axes cannot be analysed as given."""


def passi_fwhm_nm(wavelength_nm: float, numerical_aperture: float, slope: float) -> float:
    """Expected spot FWHM (nm) of a point-like particle with emission ∝ I^S under a Gaussian
    focus whose intensity FWHM is λ/(2·NA): λ/(2·NA·√S) (photon-avalanche single-beam
    super-resolution imaging, PASSI). S = 1 gives the excitation FWHM itself."""
    for name, value in (("wavelength_nm", wavelength_nm),
                        ("numerical_aperture", numerical_aperture), ("slope", slope)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value}")
    return wavelength_nm / (2.0 * numerical_aperture * math.sqrt(slope))


@dataclass(frozen=True)
class Spot:
    """One fitted particle. Lengths in µm (positions) and nm (widths), angles in degrees,
    amplitude and background in counts per pixel; every `*_sigma` is a 1-σ uncertainty."""

    x_um: float
    y_um: float
    x_sigma_um: float
    y_sigma_um: float
    fwhm_long_nm: float
    fwhm_long_sigma_nm: float
    fwhm_short_nm: float
    fwhm_short_sigma_nm: float
    #: Direction of the long axis, degrees from +x towards +y, in (−90, 90].
    angle_deg: float
    angle_sigma_deg: float
    amplitude_counts: float
    amplitude_sigma_counts: float
    background_counts: float
    background_sigma_counts: float
    #: Poisson deviance per degree of freedom (≈ 1 for a good fit).
    reduced_deviance: float
    n_pixels: int
    converged: bool

    @property
    def fwhm_mean_nm(self) -> float:
        """Geometric mean of the two axes: the FWHM of a round spot of the same area."""
        return math.sqrt(self.fwhm_long_nm * self.fwhm_short_nm)

    @property
    def elongation(self) -> float:
        """Long over short FWHM (1 for a round spot)."""
        return self.fwhm_long_nm / self.fwhm_short_nm


@dataclass(frozen=True)
class PassiComparison:
    """Measured median spot size against λ/(2·NA·√S)."""

    predicted_fwhm_nm: float
    measured_fwhm_nm: float
    slope: float

    @property
    def ratio(self) -> float:
        """Measured over predicted FWHM."""
        return self.measured_fwhm_nm / self.predicted_fwhm_nm


@dataclass(frozen=True)
class ImageAnalysis:
    """The spots of one image (brightest first) and how they were found."""

    spots: tuple[Spot, ...]
    background_counts: float
    noise_counts: float
    threshold_counts: float
    pixel_size_um: tuple[float, float]

    @property
    def n_spots(self) -> int:
        return len(self.spots)

    def _median(self, values: list[float]) -> float:
        return float(np.median(values)) if values else float("nan")

    @property
    def median_fwhm_long_nm(self) -> float:
        return self._median([s.fwhm_long_nm for s in self.spots])

    @property
    def median_fwhm_short_nm(self) -> float:
        return self._median([s.fwhm_short_nm for s in self.spots])

    @property
    def median_fwhm_nm(self) -> float:
        """Median over the spots of the geometric-mean FWHM (NaN without spots)."""
        return self._median([s.fwhm_mean_nm for s in self.spots])

    def compare_with_passi(self, wavelength_nm: float, numerical_aperture: float,
                           slope: float, *, axis: str = "mean") -> PassiComparison:
        """The median FWHM (`axis`: "mean", "long" or "short") against λ/(2·NA·√S)."""
        measured = {"mean": self.median_fwhm_nm, "long": self.median_fwhm_long_nm,
                    "short": self.median_fwhm_short_nm}.get(axis)
        if measured is None:
            raise ValueError(f"axis must be 'mean', 'long' or 'short', got {axis!r}")
        return PassiComparison(passi_fwhm_nm(wavelength_nm, numerical_aperture, slope),
                               measured, float(slope))

    def summary(self) -> dict[str, float | int]:
        """The headline numbers, for a report or a run file's attributes."""
        return {"n_spots": self.n_spots, "median_fwhm_nm": self.median_fwhm_nm,
                "median_fwhm_long_nm": self.median_fwhm_long_nm,
                "median_fwhm_short_nm": self.median_fwhm_short_nm,
                "background_counts": self.background_counts,
                "threshold_counts": self.threshold_counts}


# --- input checks ------------------------------------------------------------------------------

def _axes(image: ArrayLike, x_um: ArrayLike, y_um: ArrayLike
          ) -> tuple[FloatArray, FloatArray, FloatArray, float, float]:
    data = np.asarray(image, dtype=float)
    if data.ndim != 2 or min(data.shape) < 3:
        raise ImageAnalysisError(f"an image is 2-d with at least 3 x 3 pixels, got shape "
                                 f"{data.shape}")
    if not np.all(np.isfinite(data)) or data.min() < 0:
        raise ImageAnalysisError("image counts must be finite and non-negative")
    x = np.asarray(x_um, dtype=float)
    y = np.asarray(y_um, dtype=float)
    if x.shape != (data.shape[1],) or y.shape != (data.shape[0],):
        raise ImageAnalysisError(f"axes must match the image: {data.shape[1]} x positions and "
                                 f"{data.shape[0]} y positions, got {x.shape} and {y.shape}")
    pitches = []
    for name, axis in (("x_um", x), ("y_um", y)):
        step = np.diff(axis)
        if not (np.all(step > 0) and np.allclose(step, step[0], rtol=1e-6, atol=0)):
            raise ImageAnalysisError(f"{name} must be evenly spaced and ascending")
        pitches.append(float(step[0]))
    return data, x, y, pitches[0], pitches[1]


# --- detection ---------------------------------------------------------------------------------

def _background_and_noise(smoothed: FloatArray) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 × median absolute deviation) of the
    smoothed image; most pixels of a sparse field are background."""
    background = float(np.median(smoothed))
    mad = float(np.median(np.abs(smoothed - background)))
    noise = 1.4826 * mad
    if noise <= 0:  # an almost empty image: fall back to the spread of all pixels
        noise = float(smoothed.std())
    return background, noise


def find_spots(image: ArrayLike, x_um: ArrayLike, y_um: ArrayLike, *,
               threshold_sigma: float = 5.0, min_separation_um: float = 0.5,
               ) -> tuple[list[tuple[int, int]], float, float, float]:
    """Candidate particles: local maxima of the 1-pixel-smoothed image above background +
    `threshold_sigma` × noise, at least `min_separation_um` apart (the brighter one wins).

    Returns ([(row, column), …] brightest first, background, noise, threshold), in counts of
    the smoothed image."""
    from scipy.ndimage import gaussian_filter, maximum_filter

    from scipy.stats import norm, poisson

    data, _, _, dx, dy = _axes(image, x_um, y_um)
    smoothed = gaussian_filter(data, sigma=1.0, mode="nearest")
    background, noise = _background_and_noise(smoothed)
    threshold = background + threshold_sigma * noise
    # At a few counts per pixel the smoothed background is far from Gaussian (a long Poisson
    # tail): also demand the same false-alarm probability from the Poisson sum over the
    # kernel's effective area, n_eff = 1/Σk² pixels.
    delta = np.zeros((9, 9))
    delta[4, 4] = 1.0
    n_eff = 1.0 / float(np.sum(gaussian_filter(delta, sigma=1.0) ** 2))
    if background > 0:
        tail = float(poisson.isf(norm.sf(threshold_sigma), background * n_eff)) / n_eff
        threshold = max(threshold, tail)
    size = (2 * max(1, int(min_separation_um / dy)) + 1,
            2 * max(1, int(min_separation_um / dx)) + 1)
    local_max = smoothed == maximum_filter(smoothed, size=size, mode="nearest")
    peaks = local_max & (smoothed > threshold)
    rows, cols = np.nonzero(peaks)
    order = np.argsort(-smoothed[rows, cols], kind="stable")
    kept: list[tuple[int, int]] = []
    for r, c in zip(rows[order], cols[order]):
        if all(math.hypot((c - kc) * dx, (r - kr) * dy) >= min_separation_um for kr, kc in kept):
            kept.append((int(r), int(c)))
    return kept, background, noise, threshold


# --- the fit -----------------------------------------------------------------------------------

def _model(params: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """Background + elliptical Gaussian; params (x0, y0, amplitude, background, σ_a, σ_b, θ),
    σ_a along the direction θ."""
    x0, y0, amplitude, background, sa, sb, theta = params
    c, s = math.cos(theta), math.sin(theta)
    u = (x - x0) * c + (y - y0) * s
    v = -(x - x0) * s + (y - y0) * c
    return background + amplitude * np.exp(-0.5 * ((u / sa) ** 2 + (v / sb) ** 2))


def _deviance_residuals(params: FloatArray, x: FloatArray, y: FloatArray,
                        counts: FloatArray) -> FloatArray:
    model = np.maximum(_model(params, x, y), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.where(counts > 0, counts * np.log(counts / model), 0.0)
    inside = np.maximum(2.0 * (model - counts + log_term), 0.0)
    return np.sign(counts - model) * np.sqrt(inside)


def _initial_guess(x: FloatArray, y: FloatArray, counts: FloatArray, x0: float, y0: float,
                   background: float, pitch_um: float) -> FloatArray:
    """Moments of the background-subtracted window: centre, widths and orientation."""
    signal = np.clip(counts - background, 0.0, None)
    peak = float(signal.max()) if signal.size else 0.0
    weights = np.where(signal >= 0.2 * peak, signal, 0.0) if peak > 0 else signal
    total = weights.sum()
    if total > 0:
        xm, ym = (weights * x).sum() / total, (weights * y).sum() / total
        cxx = (weights * (x - xm) ** 2).sum() / total
        cyy = (weights * (y - ym) ** 2).sum() / total
        cxy = (weights * (x - xm) * (y - ym)).sum() / total
        values, vectors = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
        # the moments above 20 % of the peak see a truncated Gaussian: widen ×1.6
        sa = max(1.6 * math.sqrt(max(values[1], 0.0)), 0.5 * pitch_um)
        sb = max(1.6 * math.sqrt(max(values[0], 0.0)), 0.5 * pitch_um)
        theta = math.atan2(vectors[1, 1], vectors[0, 1])
    else:
        sa = sb = 2.0 * pitch_um
        theta = 0.0
    return np.array([x0, y0, max(peak, 1.0), max(background, 0.0), sa, sb, theta])


def _wrap_angle_deg(theta_rad: float) -> float:
    """An axis direction in (−90°, 90°]."""
    angle = math.degrees(theta_rad) % 180.0
    return angle - 180.0 if angle > 90.0 else angle


def _window(data: FloatArray, xs: FloatArray, ys: FloatArray, x0: float, y0: float,
            radius_um: float, dx: float, dy: float
            ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The pixels within `radius_um` of (x0, y0) (at least the 5 × 5 around it), flattened."""
    column = int(np.clip(np.rint((x0 - xs[0]) / dx), 0, len(xs) - 1))
    row = int(np.clip(np.rint((y0 - ys[0]) / dy), 0, len(ys) - 1))
    half_r = max(2, int(math.ceil(radius_um / dy)))
    half_c = max(2, int(math.ceil(radius_um / dx)))
    r0, r1 = max(0, row - half_r), min(data.shape[0], row + half_r + 1)
    c0, c1 = max(0, column - half_c), min(data.shape[1], column + half_c + 1)
    gx, gy = np.meshgrid(xs[c0:c1], ys[r0:r1])
    inside = (gx - x0) ** 2 + (gy - y0) ** 2 <= max(radius_um, 2.0 * max(dx, dy)) ** 2
    return gx[inside], gy[inside], data[r0:r1, c0:c1][inside]


def _fit_window(x: FloatArray, y: FloatArray, counts: FloatArray, p0: FloatArray, pitch: float,
                fixed_background: float | None):
    """Poisson maximum-likelihood fit of one window: (params, 1-σ, reduced deviance, converged).
    With `fixed_background` the background is held (its σ is returned as NaN)."""
    from scipy.optimize import least_squares

    size = max(float(np.ptp(x)), float(np.ptp(y)), pitch)
    lower = np.array([x.min() - pitch, y.min() - pitch, 0.0, 0.0, 0.05 * pitch, 0.05 * pitch,
                      -2 * math.pi])
    upper = np.array([x.max() + pitch, y.max() + pitch, np.inf, np.inf, 2.0 * size, 2.0 * size,
                      2 * math.pi])
    free = np.ones(7, bool)
    if fixed_background is not None:
        free[3] = False
    full = np.clip(p0, lower + 1e-12, upper - 1e-12)
    if fixed_background is not None:
        full[3] = fixed_background

    def residuals(q: FloatArray) -> FloatArray:
        params = full.copy()
        params[free] = q
        return _deviance_residuals(params, x, y, counts)

    result = least_squares(residuals, full[free], bounds=(lower[free], upper[free]),
                           x_scale="jac", method="trf")
    params = full.copy()
    params[free] = result.x
    dof = max(1, counts.size - int(free.sum()))
    reduced = float(2.0 * result.cost / dof)  # cost = ½ Σ r² = ½ × deviance
    sigmas = np.full(7, np.nan)
    jac = result.jac
    covariance = np.linalg.pinv(jac.T @ jac) * max(1.0, reduced)
    sigmas[free] = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return params, sigmas, reduced, bool(result.success)


def fit_spot(image: ArrayLike, x_um: ArrayLike, y_um: ArrayLike, row: int, column: int, *,
             fit_radius_um: float = 0.4, core_fwhm: float | None = 0.6) -> Spot:
    """Fit the particle near pixel (row, column) with an elliptical Gaussian + constant
    background by Poisson maximum likelihood (see the module docstring).

    First the pixels within `fit_radius_um` are fitted (this fixes the background). An ANP spot
    is not a Gaussian: its wings, where the pump is weaker and S smaller, are broader than its
    core, and a fit of the whole spot reports them (+20 % at the S peak of the default sample).
    The FWHM, and the resolution λ/(2·NA·√S), are statements about the core, so with
    `core_fwhm` (default 0.6: the pixels above ~37 % of the peak, around the half maximum that
    the FWHM measures; it reproduces the exact half-maximum width of simulated ANP spots to
    ~1 % at the S peak and below threshold, and −6 % in deep saturation) the spot is
    then refitted on the pixels within `core_fwhm` × its long-axis FWHM of its centre, with the
    background held at the first fit's value, and again with the new FWHM until it changes by
    less than 1 % (at most `CORE_ITERATIONS` times); None keeps the whole-window fit."""
    data, xs, ys, dx, dy = _axes(image, x_um, y_um)
    if not (0 <= row < data.shape[0] and 0 <= column < data.shape[1]):
        raise ImageAnalysisError(f"pixel ({row}, {column}) is outside the image {data.shape}")
    pitch = min(dx, dy)
    x, y, counts = _window(data, xs, ys, float(xs[column]), float(ys[row]), fit_radius_um, dx, dy)
    p0 = _initial_guess(x, y, counts, float(xs[column]), float(ys[row]),
                        float(np.quantile(counts, 0.1)), pitch)
    params, sigmas, reduced, converged = _fit_window(x, y, counts, p0, pitch, None)
    n_pixels = counts.size
    background, background_sigma = params[3], sigmas[3]
    for _ in range(CORE_ITERATIONS if core_fwhm is not None and converged else 0):
        long_um = FWHM_PER_SIGMA * max(params[4], params[5])
        cx, cy, counts_c = _window(data, xs, ys, params[0], params[1], core_fwhm * long_um,
                                   dx, dy)
        if counts_c.size <= 7:
            break
        trial = _fit_window(cx, cy, counts_c, params, pitch, background)
        if not trial[3]:
            break
        params, sigmas, reduced, converged = trial
        sigmas[3] = background_sigma
        n_pixels = counts_c.size
        if abs(FWHM_PER_SIGMA * max(params[4], params[5]) / long_um - 1.0) < 0.01:
            break
    x0, y0, amplitude, background, sa, sb, theta = params
    s_x0, s_y0, s_amp, s_bg, s_sa, s_sb, s_theta = sigmas
    if sb > sa:  # the long axis first: swap and turn by 90°
        sa, sb, s_sa, s_sb = sb, sa, s_sb, s_sa
        theta += math.pi / 2
    return Spot(
        x_um=float(x0), y_um=float(y0), x_sigma_um=float(s_x0), y_sigma_um=float(s_y0),
        fwhm_long_nm=float(FWHM_PER_SIGMA * sa * 1e3),
        fwhm_long_sigma_nm=float(FWHM_PER_SIGMA * s_sa * 1e3),
        fwhm_short_nm=float(FWHM_PER_SIGMA * sb * 1e3),
        fwhm_short_sigma_nm=float(FWHM_PER_SIGMA * s_sb * 1e3),
        angle_deg=_wrap_angle_deg(float(theta)), angle_sigma_deg=float(math.degrees(s_theta)),
        amplitude_counts=float(amplitude), amplitude_sigma_counts=float(s_amp),
        background_counts=float(background), background_sigma_counts=float(s_bg),
        reduced_deviance=reduced, n_pixels=int(n_pixels), converged=converged)


def analyse_image(image: ArrayLike, x_um: ArrayLike, y_um: ArrayLike, *,
                  threshold_sigma: float = 5.0, min_separation_um: float = 0.5,
                  fit_radius_um: float | None = None, core_fwhm: float | None = 0.6,
                  max_spots: int | None = None) -> ImageAnalysis:
    """Find the particles of an image and fit each (see `find_spots`, `fit_spot`).

    `fit_radius_um` defaults to 0.8 × `min_separation_um`, so a window holds its own spot and
    not the core of a neighbour. A candidate is dropped when its fit did not converge, its
    centre left the fit window or is uncertain by more than half of it, or its amplitude is
    below `MIN_SIGNIFICANCE` standard deviations, or its short axis is narrower than a pixel
    (a single bright pixel is a noise spike, and a spot that small is not sampled: use finer
    pixels)."""
    data, xs, ys, dx, dy = _axes(image, x_um, y_um)
    radius = 0.8 * min_separation_um if fit_radius_um is None else fit_radius_um
    peaks, background, noise, threshold = find_spots(
        data, xs, ys, threshold_sigma=threshold_sigma, min_separation_um=min_separation_um)
    if max_spots is not None:
        peaks = peaks[:max_spots]
    spots = []
    for row, column in peaks:
        spot = fit_spot(data, xs, ys, row, column, fit_radius_um=radius, core_fwhm=core_fwhm)
        inside = (math.hypot(spot.x_um - xs[column], spot.y_um - ys[row]) <= radius
                  and xs[0] - 0.5 * dx <= spot.x_um <= xs[-1] + 0.5 * dx
                  and ys[0] - 0.5 * dy <= spot.y_um <= ys[-1] + 0.5 * dy)
        located = max(spot.x_sigma_um, spot.y_sigma_um) < 0.5 * radius  # NaN fails too
        significant = (spot.amplitude_sigma_counts > 0 and spot.amplitude_counts
                       > MIN_SIGNIFICANCE * spot.amplitude_sigma_counts)
        resolved = spot.fwhm_short_nm * 1e-3 >= min(dx, dy)
        if spot.converged and inside and located and significant and resolved:
            spots.append(spot)
    return ImageAnalysis(spots=tuple(spots), background_counts=background, noise_counts=noise,
                         threshold_counts=threshold, pixel_size_um=(dx, dy))
