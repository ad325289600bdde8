"""Rise-time analysis: t½, 10–90 % rise time and decay lifetime from modulation histograms.

Definitions (docs/physics.md §3, §7): the pump is switched on at t = 0 from the dark state;
**t½** is the time the emission needs to reach half its steady value, **t10–90** the time
from 10 % to 90 % of it. Near the avalanche threshold t½ rises by orders of magnitude
(critical slowing down) and peaks slightly above the threshold, so the position of the t½
peak versus pump intensity is a threshold measured from the *dynamics*, independent of the
steady-state S-curve.

One histogram covers one modulation period: clicks versus time since the pump went on,
summed over many cycles. Everything here works on counts, so every uncertainty comes from
Poisson statistics: t½ and t10–90 by a parametric bootstrap (the histogram redrawn as Poisson
counts and analysed again), the steady level and the checks from √N.

**Truncation is never fitted silently.** Before any time is read off a curve, two checks run
(`check_rise`): the emission must have reached its steady state before switch-off (the two
halves of the last part of the on-phase agree), and it must have decayed before switch-on
(the end of the off-phase and the first bins after switch-on are at the dark level — a jump
at switch-on means the ions kept excitation from the previous cycle, so the rise did not
start from dark). A curve that fails is returned with `reliable = False` and its reasons;
the peak search ignores it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DecayFit", "RiseAnalysisError", "RiseCheck", "RiseCurve", "RisePeak", "RiseReport",
           "analyse_rise", "analyse_rise_run", "check_rise", "cycles_to_resolve", "fit_decay",
           "locate_peak", "row_seed"]

#: A check fails beyond this many sigmas AND beyond its tolerance (relative to the steady
#: signal), so neither Poisson noise alone nor a negligible systematic trips it.
CHECK_SIGMAS = 3.0
#: Largest relative drift of the steady level over the last part of the on-phase.
STEADY_TOLERANCE = 0.02
#: Largest left-over signal at switch-on / end of the off-phase, relative to the steady level.
DARK_TOLERANCE = 0.02
#: Fraction of the on-phase (its end) that must be flat; also the steady-level window.
STEADY_WINDOW = 0.3
#: The flatness test must be able to see a drift this large (3 sigma), else it is unconfirmed.
MAX_UNRESOLVED_DRIFT = 0.10
#: Fraction of the off-phase (its end) that must be dark.
DARK_WINDOW = 0.2
#: Bootstrap redraws for the uncertainties of t½ and t10–90: the spread of 100 redraws is
#: itself known to ~7 % (1/√(2·100)), plenty for an error bar, at half the cost of 200.
BOOTSTRAP = 100


class RiseAnalysisError(ValueError):
    """Too little data for an analysis (no reliable curve, no peak)."""


@dataclass(frozen=True)
class RiseCheck:
    """Outcome of the truncation checks of one histogram (levels in counts per bin)."""

    settled: bool
    decayed: bool
    steady_drift: float  # (late − early) / steady over the end of the on-phase
    leftover_on: float  # signal in the first bins after switch-on / steady
    leftover_off: float  # signal at the end of the off-phase / steady
    has_signal: bool
    reasons: tuple[str, ...] = ()
    #: Enough counts to have seen a drift of MAX_UNRESOLVED_DRIFT (False: the remedy is more
    #: cycles, not a longer period).
    resolved: bool = True

    @property
    def ok(self) -> bool:
        return self.settled and self.decayed and self.has_signal


@dataclass(frozen=True)
class RiseCurve:
    """Figures of one rise histogram (times in s from switch-on)."""

    period_s: float
    on_s: float
    binwidth_s: float
    steady_counts_per_bin: float
    steady_sigma: float
    dark_counts_per_bin: float
    t_half_s: float
    t_half_sigma_s: float
    t10_s: float
    t90_s: float
    rise_10_90_s: float
    rise_10_90_sigma_s: float
    check: RiseCheck

    @property
    def reliable(self) -> bool:
        return self.check.ok and math.isfinite(self.t_half_s)


def _window_mean(counts: np.ndarray, start: int, stop: int) -> tuple[float, float]:
    """Mean counts per bin over [start, stop) and its Poisson sigma."""
    stop = max(stop, start + 1)
    part = counts[start:stop]
    total = float(part.sum())
    return total / part.size, math.sqrt(max(total, 1.0)) / part.size


def check_rise(counts: np.ndarray, on_bins: int, dark_per_bin: float,
               dark_sigma_per_bin: float = 0.0) -> RiseCheck:
    """The truncation checks of one histogram whose first `on_bins` bins are the on-phase.

    `dark_per_bin`: the dark level in counts per bin (from a reference with the pump off).
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.size
    reasons: list[str] = []
    w = max(2, int(round(STEADY_WINDOW * on_bins)))
    half = w // 2
    early, s_early = _window_mean(counts, on_bins - w, on_bins - half)
    late, s_late = _window_mean(counts, on_bins - half, on_bins)
    steady = 0.5 * (early + late) - dark_per_bin
    has_signal = steady > CHECK_SIGMAS * math.hypot(s_early, s_late, dark_sigma_per_bin)
    if not has_signal:
        reasons.append("no signal above the dark level")
    scale = max(steady, 1e-300)
    drift = (late - early) / scale
    drift_sigma = math.hypot(s_early, s_late) / scale
    # Steady needs positive evidence: no drift beyond noise and tolerance, AND counts enough
    # to have seen a drift of MAX_UNRESOLVED_DRIFT (a dim truncated rise cannot pass as flat).
    resolved = CHECK_SIGMAS * drift_sigma <= MAX_UNRESOLVED_DRIFT
    settled = resolved and not (abs(drift) > CHECK_SIGMAS * drift_sigma
                                and abs(drift) > STEADY_TOLERANCE)
    if not resolved and has_signal:
        reasons.append(f"too few counts to confirm the steady state (drift {drift:+.1%} ± "
                       f"{drift_sigma:.1%})")
    elif not settled:
        reasons.append(f"not steady before switch-off (level drifts {drift:+.1%} over the "
                       f"last {STEADY_WINDOW:.0%} of the on-phase)")
    # First bins after switch-on: a rise from dark starts at the dark level.
    m = max(1, on_bins // 200)
    first, s_first = _window_mean(counts, 0, m)
    leftover_on = (first - dark_per_bin) / scale
    jump = (first - dark_per_bin > CHECK_SIGMAS * math.hypot(s_first, dark_sigma_per_bin)
            and leftover_on > DARK_TOLERANCE)
    leftover_off = 0.0
    tail_dark = True
    off_bins = n - on_bins
    if off_bins >= 2:
        k = max(1, int(round(DARK_WINDOW * off_bins)))
        tail, s_tail = _window_mean(counts, n - k, n)
        leftover_off = (tail - dark_per_bin) / scale
        tail_dark = not (tail - dark_per_bin > CHECK_SIGMAS * math.hypot(s_tail,
                                                                           dark_sigma_per_bin)
                         and leftover_off > DARK_TOLERANCE)
    decayed = tail_dark and not jump
    if jump:
        reasons.append(f"emission at switch-on is {leftover_on:.1%} of steady: the rise did "
                       "not start from dark (off-phase too short)")
    if not tail_dark:
        reasons.append(f"emission at the end of the off-phase is {leftover_off:.1%} of steady "
                       "(not decayed before switch-on)")
    return RiseCheck(settled, decayed, float(drift), float(leftover_on), float(leftover_off),
                     bool(has_signal), tuple(reasons), bool(resolved))


def cycles_to_resolve(steady_per_bin_cycle: float, dark_per_bin_cycle: float,
                      on_bins: int, margin: float = 1.3) -> float:
    """Modulation periods needed before `check_rise` can confirm a steady state: the drift
    between the two halves of the steady window (h = STEADY_WINDOW·on_bins/2 bins each) has
    σ = √(2(s + d)/(h·N))/s for s signal and d dark counts per bin and cycle, and it must be
    ≤ MAX_UNRESOLVED_DRIFT / CHECK_SIGMAS (with `margin` to spare). Infinite without signal."""
    if not steady_per_bin_cycle > 0:
        return math.inf
    h = max(1.0, 0.5 * max(2, round(STEADY_WINDOW * on_bins)))
    target = MAX_UNRESOLVED_DRIFT / CHECK_SIGMAS / margin
    return 2.0 * (steady_per_bin_cycle + max(dark_per_bin_cycle, 0.0)) / (
        h * steady_per_bin_cycle**2 * target**2)


def _rise_times(on_counts: np.ndarray, t: np.ndarray, dark: float,
                steady: float) -> tuple[float, float, float]:
    """(t½, t10, t90) of one on-phase histogram.

    The rise from dark is monotonic, so the counts are replaced by their isotonic
    (non-decreasing) least-squares fit — no smoothing width to choose, and at low counts the
    noise cannot create spurious early crossings. The fit is a staircase; crossings are read
    by linear interpolation between the centres of its steps.
    """
    from scipy.optimize import isotonic_regression

    y = (on_counts - dark) / steady
    fit = isotonic_regression(y).x
    starts = np.flatnonzero(np.concatenate(([True], np.diff(fit) != 0.0)))
    stops = np.concatenate((starts[1:], [fit.size]))
    values = fit[starts]
    centres = 0.5 * (t[starts] + t[stops - 1])
    out = []
    for level in (0.5, 0.1, 0.9):
        if values[-1] < level:
            out.append(math.nan)
        elif values[0] >= level:
            out.append(float(t[0]))
        else:
            out.append(float(np.interp(level, values, centres)))
    return out[0], out[1], out[2]


#: Curves already analysed with their bootstrap, by content (see `analyse_rise`).
_MEMO: dict[bytes, RiseCurve] = {}
_MEMO_SIZE = 512


def analyse_rise(counts: Sequence[float] | np.ndarray, *, period_s: float, on_s: float,
                 dark_cps: float, cycles: int, dark_sigma_cps: float = 0.0,
                 seed: int = 12345, bootstrap: bool = True) -> RiseCurve:
    """t½, t10–90 and the checks of one rise histogram covering one period from switch-on.

    `dark_cps`: detector dark rate (measured with the pump off); `cycles`: modulation periods
    summed, so the dark level per bin is dark_cps × bin width × cycles. `seed` seeds the
    parametric bootstrap; `bootstrap=False` skips it (uncertainties NaN) for quick decisions
    during a run.

    The result is a pure function of the arguments, so bootstrapped curves are remembered by
    content: the live analysis of a point (seeded by its row) and the analysis of the stored
    file afterwards do the bootstrap once.
    """
    counts = np.asarray(counts, dtype=float)
    key = b""
    if bootstrap:
        import hashlib

        digest = hashlib.blake2b(counts.tobytes(), digest_size=16)
        digest.update(repr((counts.size, period_s, on_s, dark_cps, cycles, dark_sigma_cps,
                            seed)).encode())
        key = digest.digest()
        hit = _MEMO.get(key)
        if hit is not None:
            return hit
    curve = _analyse_rise(counts, period_s, on_s, dark_cps, cycles, dark_sigma_cps, seed,
                          bootstrap)
    if bootstrap:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = curve
    return curve


def _analyse_rise(counts: np.ndarray, period_s: float, on_s: float, dark_cps: float,
                  cycles: int, dark_sigma_cps: float, seed: int, bootstrap: bool) -> RiseCurve:
    n = counts.size
    binwidth = period_s / n
    on_bins = int(round(on_s / binwidth))
    if on_bins < 10:
        raise RiseAnalysisError(f"the on-phase spans only {on_bins} bins")
    dark = dark_cps * binwidth * cycles
    dark_sigma = dark_sigma_cps * binwidth * cycles
    check = check_rise(counts, on_bins, dark, dark_sigma)
    w = max(2, int(round(STEADY_WINDOW * on_bins)))
    total = float(counts[on_bins - w:on_bins].sum())
    steady = total / w - dark
    steady_sigma = math.hypot(math.sqrt(max(total, 1.0)) / w, dark_sigma)
    t = (np.arange(on_bins) + 0.5) * binwidth
    nan = math.nan
    if not check.has_signal or steady <= 0:
        return RiseCurve(period_s, on_s, binwidth, steady, steady_sigma, dark, nan, nan, nan,
                         nan, nan, nan, check)
    t_half, t10, t90 = _rise_times(counts[:on_bins], t, dark, steady)
    draws = []
    if bootstrap:
        # Only the on-phase enters t½, t10–90 and the steady level: redraw just those bins,
        # and the dark level each replicate subtracts within its own error (common to all
        # bins of a replicate), so a weak signal over a large dark shows its full spread.
        rng = np.random.default_rng(seed)
        redrawn = rng.poisson(np.maximum(counts[:on_bins], 0.0),
                              size=(BOOTSTRAP, on_bins)).astype(float)
        darks = dark + dark_sigma * rng.standard_normal(BOOTSTRAP)
        levels = redrawn[:, on_bins - w:].sum(axis=1) / w - darks
        for row, d, s in zip(redrawn, darks, levels):
            if s > 0:
                draws.append(_rise_times(row, t, float(d), float(s)))
        if len(draws) < BOOTSTRAP // 2:  # most replicates lost their signal: no honest spread
            draws = []
    d = np.array(draws)
    spread = np.nanstd(d, axis=0) if len(draws) > 2 else np.full(3, nan)
    rise = t90 - t10
    rise_sigma = float(np.nanstd(d[:, 2] - d[:, 1])) if len(draws) > 2 else nan
    return RiseCurve(period_s, on_s, binwidth, steady, steady_sigma, dark, t_half,
                     float(spread[0]), t10, t90, rise, rise_sigma, check)


def row_seed(k: int) -> int:
    """Bootstrap seed of stored row k (live and file analyses agree, see `analyse_rise`)."""
    return 1000 + int(k)


@dataclass(frozen=True)
class DecayFit:
    """Lifetime of the emission after switch-off (initial single-exponential part)."""

    lifetime_s: float
    lifetime_sigma_s: float
    counts: int

    @property
    def ok(self) -> bool:
        return (math.isfinite(self.lifetime_s) and self.lifetime_s > 0
                and self.lifetime_sigma_s < 0.5 * self.lifetime_s)


def fit_decay(counts: Sequence[float] | np.ndarray, binwidth_s: float, dark_per_bin: float,
              *, skip_s: float = 5e-6) -> DecayFit:
    """Lifetime of the fast decay after switch-off: a weighted least-squares fit of
    A·exp(−t/τ) + B to the histogram (time since switch-off) from `skip_s` (timing jitter,
    switching edge) to its end.

    Why a free pedestal B rather than subtracting the dark reference: the pedestal holds the
    dark counts *and* the slow refeeding of the emitting level from the reservoir (³F₄ lives
    ms, the window is ~1 ms), and a dark reference taken over a much shorter time than a long
    decay capture leaves an offset of several % of the dark level — either one, subtracted
    wrongly, bends the log-linear decay and reads the lifetime 30 % long. With B free the fast
    component is the emitting level's own decay (³H₄: ~92 µs below threshold, docs/physics.md
    §7.2). `dark_per_bin` (the dark reference, counts per bin) is therefore not subtracted; it
    stays in the signature so callers need not know how the pedestal is handled.
    """
    from scipy.optimize import curve_fit

    counts = np.asarray(counts, dtype=float)
    total = int(counts.sum())
    nan = math.nan
    start = int(math.ceil(skip_s / binwidth_s))
    if counts.size - start < 8:
        return DecayFit(nan, nan, total)
    c = counts[start:]
    t = (np.arange(start, counts.size) + 0.5) * binwidth_s
    # Rebin so that the tail bins hold ~20 counts (Gaussian weights stay unbiased enough).
    tail_mean = max(float(c[-max(3, c.size // 5):].mean()), 1e-9)
    factor = max(1, int(math.ceil(20.0 / tail_mean)))
    n = c.size // factor
    if n < 8:
        return DecayFit(nan, nan, total)
    c = c[:n * factor].reshape(n, factor).sum(axis=1)
    t = t[:n * factor].reshape(n, factor).mean(axis=1)
    bw = binwidth_s * factor
    pedestal0 = float(np.median(c[-max(3, n // 5):]))
    head = float(c[:3].mean()) - pedestal0
    noise = math.sqrt(max(float(c[:3].mean()), 1.0) / 3.0)
    if not head > 3.0 * noise or head <= 0:
        return DecayFit(nan, nan, total)
    # Start: the 1/e point of the head above the pedestal.
    below = np.flatnonzero(c - pedestal0 < head / math.e)
    tau0 = float(t[below[0]] - t[0]) if below.size and below[0] > 0 else 10 * bw
    sigma = np.sqrt(np.maximum(c, 1.0))

    def model(tt: np.ndarray, a: float, tau: float, b: float) -> np.ndarray:
        return a * np.exp(-(tt - t[0]) / tau) + b

    try:
        popt, pcov = curve_fit(model, t, c, p0=(head, max(tau0, bw), pedestal0), sigma=sigma,
                               absolute_sigma=True, bounds=([0.0, 0.1 * bw, 0.0],
                                                            [np.inf, 100.0 * t[-1], np.inf]))
    except (RuntimeError, ValueError):
        return DecayFit(nan, nan, total)
    tau = float(popt[1])
    chi2 = float((((c - model(t, *popt)) / sigma) ** 2).sum()) / max(n - 3, 1)
    tau_sigma = math.sqrt(max(float(pcov[1, 1]), 0.0) * max(chi2, 1.0))
    if not math.isfinite(tau_sigma):
        return DecayFit(nan, nan, total)
    return DecayFit(tau, tau_sigma, total)


@dataclass(frozen=True)
class RisePeak:
    """Where t½ peaks versus intensity: the threshold from the dynamics."""

    intensity_kW_cm2: float
    intensity_sigma_kW_cm2: float
    t_half_s: float
    t_half_sigma_s: float
    n_points: int


def locate_peak(intensity: np.ndarray, t_half: np.ndarray, sigma: np.ndarray) -> RisePeak:
    """The maximum of t½(I): a weighted parabola in (ln I, ln t½) through the highest point
    and its neighbours that exceed half its t½ (three at least), so the peak falls between
    samples instead of on one of them. Uncertainties from the fit covariance."""
    order = np.argsort(intensity)
    x_all = np.log(intensity[order])
    y_all = np.log(t_half[order])
    s_all = np.maximum(sigma[order] / t_half[order], 1e-4)
    if x_all.size < 3:
        raise RiseAnalysisError("fewer than three reliable rise times; no peak to locate")
    k = int(np.argmax(y_all))
    if k == 0 or k == x_all.size - 1:
        raise RiseAnalysisError("t½ is largest at the end of the intensity range; the peak "
                                "lies outside it")
    lo, hi = k - 1, k + 1
    while lo > 0 and y_all[lo - 1] > y_all[k] - math.log(2.0) and k - lo < 3:
        lo -= 1
    while hi < x_all.size - 1 and y_all[hi + 1] > y_all[k] - math.log(2.0) and hi - k < 3:
        hi += 1
    x, y, s = x_all[lo:hi + 1], y_all[lo:hi + 1], s_all[lo:hi + 1]
    x0 = x_all[k]
    coef, cov = np.polyfit(x - x0, y, 2, w=1.0 / s, cov="unscaled") if x.size > 3 else \
        (np.polyfit(x - x0, y, 2, w=1.0 / s), np.full((3, 3), np.nan))
    a, b, c = coef
    if not a < 0:
        raise RiseAnalysisError("t½ around its maximum is not peaked")
    xp = -b / (2 * a)
    if not (x[0] - x0 <= xp <= x[-1] - x0):
        xp = 0.0  # the parabola's vertex left the bracket: keep the highest point
    yp = c - b * b / (4 * a)
    # Error propagation of the vertex (gradients of xp and yp with respect to a, b, c).
    gx = np.array([b / (2 * a * a), -1 / (2 * a), 0.0])
    gy = np.array([b * b / (4 * a * a), -b / (2 * a), 1.0])
    sx = math.sqrt(max(float(gx @ cov @ gx), 0.0)) if np.all(np.isfinite(cov)) else math.nan
    sy = math.sqrt(max(float(gy @ cov @ gy), 0.0)) if np.all(np.isfinite(cov)) else math.nan
    ip = math.exp(x0 + xp)
    tp = math.exp(yp)
    return RisePeak(ip, ip * sx, tp, tp * sy, int(x.size))


@dataclass
class RiseReport:
    """Figures of a rise-time run: one curve per pump intensity, the t½ peak, the decay."""

    intensity_kW_cm2: np.ndarray
    curves: list[RiseCurve]
    decays: list[DecayFit | None]
    peak: RisePeak | None
    decay_lifetime_s: float
    decay_lifetime_sigma_s: float
    scurve_threshold_kW_cm2: float | None = None
    scurve_source: str = ""
    problems: list[str] = field(default_factory=list)
    #: The S-curve report of a combined run (for its plot), else None.
    scurve: Any = None

    def column(self, name: str) -> np.ndarray:
        return np.array([getattr(c, name) for c in self.curves], dtype=float)

    @property
    def reliable(self) -> np.ndarray:
        return np.array([c.reliable for c in self.curves], dtype=bool)

    def as_records(self) -> dict[str, tuple[Any, str]]:
        rec: dict[str, tuple[Any, str]] = {
            "rise_points": (len(self.curves), ""),
            "rise_points_reliable": (int(self.reliable.sum()), ""),
        }
        if self.peak is not None:
            rec["threshold_dynamic_kW_cm2"] = (self.peak.intensity_kW_cm2, "kW/cm^2")
            rec["threshold_dynamic_sigma_kW_cm2"] = (self.peak.intensity_sigma_kW_cm2,
                                                     "kW/cm^2")
            rec["t_half_peak_s"] = (self.peak.t_half_s, "s")
            rec["t_half_peak_sigma_s"] = (self.peak.t_half_sigma_s, "s")
        if math.isfinite(self.decay_lifetime_s):
            rec["decay_lifetime_s"] = (self.decay_lifetime_s, "s")
            rec["decay_lifetime_sigma_s"] = (self.decay_lifetime_sigma_s, "s")
        if self.scurve_threshold_kW_cm2 is not None:
            rec["threshold_scurve_kW_cm2"] = (self.scurve_threshold_kW_cm2, "kW/cm^2")
            if self.peak is not None:
                rec["threshold_dynamic_over_scurve"] = (
                    self.peak.intensity_kW_cm2 / self.scurve_threshold_kW_cm2, "")
        return rec

    def as_arrays(self) -> dict[str, tuple[np.ndarray, str]]:
        lifetimes = np.array([d.lifetime_s if d is not None else math.nan
                              for d in self.decays])
        return {
            "rise_intensity_kW_cm2": (self.intensity_kW_cm2, "kW/cm^2"),
            "t_half_s": (self.column("t_half_s"), "s"),
            "t_half_sigma_s": (self.column("t_half_sigma_s"), "s"),
            "rise_10_90_s": (self.column("rise_10_90_s"), "s"),
            "rise_10_90_sigma_s": (self.column("rise_10_90_sigma_s"), "s"),
            "rise_reliable": (self.reliable.astype(np.int8), ""),
            "decay_lifetime_per_point_s": (lifetimes, "s"),
        }

    def summary_lines(self) -> list[str]:
        n_ok = int(self.reliable.sum())
        lines = [f"rise times: {n_ok} of {len(self.curves)} points reliable"]
        if self.peak is not None:
            p = self.peak
            lines.append(f"t½ peaks at {p.t_half_s * 1e3:.0f} ± {p.t_half_sigma_s * 1e3:.0f} ms "
                         f"at {p.intensity_kW_cm2:.2f} ± {p.intensity_sigma_kW_cm2:.2f} kW/cm² "
                         "(dynamic threshold)")
        if math.isfinite(self.decay_lifetime_s):
            lines.append(f"decay lifetime after switch-off (below the t½ peak): {self.decay_lifetime_s * 1e6:.1f} ± "
                         f"{self.decay_lifetime_sigma_s * 1e6:.1f} µs")
        if self.scurve_threshold_kW_cm2 is not None and self.peak is not None:
            ratio = self.peak.intensity_kW_cm2 / self.scurve_threshold_kW_cm2
            lines.append(f"thresholds: dynamic (t½ peak) {self.peak.intensity_kW_cm2:.2f} | "
                         f"S-curve (S peak{', ' + self.scurve_source if self.scurve_source else ''})"
                         f" {self.scurve_threshold_kW_cm2:.2f} kW/cm² (ratio {ratio:.3f})")
        lines.extend(self.problems)
        return lines


def analyse_rise_run(rows: Mapping[str, np.ndarray], rise_counts: np.ndarray,
                     decay_counts: np.ndarray | None, *, dark_cps: float,
                     dark_sigma_cps: float = 0.0, decay_binwidth_s: float = 0.0,
                     scurve_threshold_kW_cm2: float | None = None,
                     scurve_source: str = "") -> RiseReport:
    """Analyse every stored histogram of a rise run.

    `rows`: per-point columns (intensity_kW_cm2, period_s, on_s, cycles, decay_cycles), one
    entry per histogram row; `rise_counts` (points, bins); `decay_counts` (points, bins) or
    None. Each curve is re-checked here: a file written with a too-short period is flagged
    however it was recorded.
    """
    intensity = np.asarray(rows["intensity_kW_cm2"], dtype=float)
    n = min(intensity.size, rise_counts.shape[0])
    curves: list[RiseCurve] = []
    decays: list[DecayFit | None] = []
    problems: list[str] = []
    for k in range(n):
        curve = analyse_rise(rise_counts[k], period_s=float(rows["period_s"][k]),
                             on_s=float(rows["on_s"][k]), dark_cps=dark_cps,
                             dark_sigma_cps=dark_sigma_cps, cycles=int(rows["cycles"][k]),
                             seed=row_seed(k))
        curves.append(curve)
        if not curve.reliable:
            line = (f"point {k} at {intensity[k]:.3g} kW/cm² unreliable: "
                    + "; ".join(curve.check.reasons or ("no t½",)))
            if not (curve.check.resolved and curve.check.has_signal):
                # Counting statistics, not the period: say what capture would resolve it.
                cycles = int(rows["cycles"][k])
                on_bins = int(round(curve.on_s / curve.binwidth_s))
                signal = max(curve.steady_counts_per_bin, curve.steady_sigma) / cycles
                need_s = cycles_to_resolve(signal, curve.dark_counts_per_bin / cycles,
                                           on_bins) * curve.period_s
                line += (f" (signal ≈ {signal / curve.binwidth_s:.2g} counts/s against "
                         f"{dark_cps:.2g} dark: ≈ {need_s / 3600:.2g} h of capture would "
                         "resolve it)")
            problems.append(line)
        decay = None
        if decay_counts is not None and decay_binwidth_s > 0 and k < decay_counts.shape[0]:
            cycles = int(rows["decay_cycles"][k])
            if cycles > 0:
                decay = fit_decay(decay_counts[k], decay_binwidth_s,
                                  dark_cps * decay_binwidth_s * cycles)
        decays.append(decay)
    report_curves = curves
    ok = np.array([c.reliable for c in report_curves], dtype=bool)
    t_half = np.array([c.t_half_s for c in report_curves])
    sigma = np.array([c.t_half_sigma_s for c in report_curves])
    sigma = np.where(np.isfinite(sigma), sigma, 0.05 * t_half)
    peak = None
    try:
        peak = locate_peak(intensity[:n][ok], t_half[ok], sigma[ok])
    except RiseAnalysisError as exc:
        problems.append(f"no t½ peak: {exc}")
    # Above threshold the reservoir refeeds the emitting level after switch-off and the decay
    # slows down; the run's lifetime is the emitting level's own, from points below the peak.
    below = intensity[:n] < (peak.intensity_kW_cm2 if peak is not None else math.inf)
    good = [d for d, b in zip(decays, below) if d is not None and d.ok and b]
    if good:
        w = np.array([1.0 / d.lifetime_sigma_s**2 for d in good])
        tau = np.array([d.lifetime_s for d in good])
        lifetime = float((w * tau).sum() / w.sum())
        lifetime_sigma = float(1.0 / math.sqrt(w.sum()))
    else:
        lifetime = lifetime_sigma = math.nan
    return RiseReport(intensity[:n], report_curves, decays, peak, lifetime, lifetime_sigma,
                      scurve_threshold_kW_cm2, scurve_source, problems)
