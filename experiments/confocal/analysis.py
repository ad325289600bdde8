"""Analysis of confocal images: spots per frame, the comparison with λ/(2·NA·√S), and for a
power series the spot size against intensity with its minimum.

Why S matters: an ANP's image is the focus profile raised to the particle's local
nonlinearity S, so its FWHM is λ/(2·NA·√S) (docs/physics.md). S depends on the pump
intensity — largest at the threshold, ~2 far below it, → 0 in saturation — so the sharpest
image is taken at the S peak, and a power series shows the FWHM passing through a minimum
there. S comes from an S-curve of the same particle: the same run (`confocal_best`) or a
named run file (`scurve_run`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avlab.analysis.image import ImageAnalysis, Spot, analyse_image, passi_fwhm_nm
from avlab.errors import ParameterError


@dataclass(frozen=True)
class SCurveReference:
    """S of one particle against pump intensity, from an S-curve."""

    s_max: float
    threshold_kW_cm2: float
    intensity_kW_cm2: np.ndarray
    slope: np.ndarray
    source: str

    def slope_at(self, intensity_kW_cm2: float) -> float:
        """Local S at `intensity_kW_cm2`, interpolated in ln I (NaN outside the S-curve)."""
        x, s = self.intensity_kW_cm2, self.slope
        ok = np.isfinite(x) & np.isfinite(s) & (x > 0)
        x, s = x[ok], s[ok]
        if x.size < 2 or not (x.min() <= intensity_kW_cm2 <= x.max()):
            return math.nan
        order = np.argsort(x)
        return float(np.interp(math.log(intensity_kW_cm2), np.log(x[order]), s[order]))


def reference_from_columns(columns: dict[str, np.ndarray], dark_sigma_cps: float | None,
                           source: str) -> SCurveReference:
    """The S-curve of a point table (the S-curve procedure's columns)."""
    from experiments.scurve.report import analyse_sweeps

    report = analyse_sweeps(columns, dark_sigma_cps)
    return SCurveReference(report.up.s_max, report.up.threshold_s_peak_kW_cm2,
                           np.asarray(report.up.intensity_kW_cm2, dtype=float),
                           np.asarray(report.up.slope, dtype=float), source)


def reference_from_run(path: str | Path) -> SCurveReference:
    """The S-curve stored in a run file: its analysis (s_max, threshold_s_peak_kW_cm2 and the
    slope arrays), or, where the file holds S-curve points without them, analysed afresh."""
    from avlab.storage import read_run

    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"scurve_run: no file {path}")
    run = read_run(path)
    analysis = run.results.get("analysis", {})
    if {"s_max", "threshold_s_peak_kW_cm2", "slope", "slope_intensity_kW_cm2"} <= set(analysis):
        return SCurveReference(float(analysis["s_max"][0]),
                               float(analysis["threshold_s_peak_kW_cm2"][0]),
                               np.asarray(analysis["slope_intensity_kW_cm2"][0], dtype=float),
                               np.asarray(analysis["slope"][0], dtype=float), str(path))
    if {"direction", "intensity_kW_cm2", "signal_cps"} <= set(run.columns):
        dark = run.results.get("measurements", {}).get("dark_rate_sigma_cps", (None, ""))[0]
        return reference_from_columns(run.columns, dark, str(path))
    raise ParameterError(f"scurve_run: {path} holds no S-curve ({run.procedure} run)")


@dataclass
class FrameResult:
    """One analysed frame."""

    index: int
    intensity_kW_cm2: float
    analysis: ImageAnalysis
    #: Local S at the frame's intensity (NaN without an S-curve).
    slope: float = math.nan
    predicted_fwhm_nm: float = math.nan

    @property
    def brightest(self) -> Spot | None:
        return self.analysis.spots[0] if self.analysis.spots else None

    @property
    def ratio(self) -> float:
        return self.analysis.median_fwhm_nm / self.predicted_fwhm_nm


@dataclass
class ConfocalReport:
    """The frames of a confocal run and what they say together."""

    frames: list[FrameResult]
    wavelength_nm: float
    numerical_aperture: float
    reference: SCurveReference | None = None
    #: For a series: intensity and FWHM of the sharpest spot (parabola in ln I).
    min_intensity_kW_cm2: float = math.nan
    min_fwhm_nm: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def excitation_fwhm_nm(self) -> float:
        return passi_fwhm_nm(self.wavelength_nm, self.numerical_aperture, 1.0)

    def summary_lines(self) -> list[str]:
        lines: list[str] = []
        for frame in self.frames:
            a = frame.analysis
            head = (f"frame {frame.index}" if len(self.frames) > 1 else "image") + \
                (f" at {frame.intensity_kW_cm2:.3g} kW/cm²" if math.isfinite(
                    frame.intensity_kW_cm2) else "")
            if not a.spots:
                lines.append(f"{head}: no spots above {a.threshold_counts:.3g} counts")
                continue
            spot = a.spots[0]
            line = (f"{head}: {a.n_spots} spot(s), median FWHM {a.median_fwhm_long_nm:.0f} × "
                    f"{a.median_fwhm_short_nm:.0f} nm (long × short); brightest "
                    f"{spot.fwhm_long_nm:.0f} ± {spot.fwhm_long_sigma_nm:.0f} × "
                    f"{spot.fwhm_short_nm:.0f} ± {spot.fwhm_short_sigma_nm:.0f} nm, long axis "
                    f"at {spot.angle_deg:.0f}°")
            if math.isfinite(frame.predicted_fwhm_nm):
                line += (f"; λ/(2 NA √S) = {frame.predicted_fwhm_nm:.0f} nm at S = "
                         f"{frame.slope:.1f} (measured/predicted {frame.ratio:.2f})")
            lines.append(line)
        if self.reference is not None:
            best = passi_fwhm_nm(self.wavelength_nm, self.numerical_aperture,
                                 self.reference.s_max)
            lines.append(f"S-curve ({self.reference.source}): S_max {self.reference.s_max:.1f} "
                         f"at {self.reference.threshold_kW_cm2:.3g} kW/cm² → best resolution "
                         f"λ/(2 NA √S_max) = {best:.0f} nm (excitation "
                         f"{self.excitation_fwhm_nm:.0f} nm)")
        if math.isfinite(self.min_intensity_kW_cm2):
            line = (f"sharpest spots at {self.min_intensity_kW_cm2:.3g} kW/cm² "
                    f"({self.min_fwhm_nm:.0f} nm)")
            if self.reference is not None:
                line += (f", {self.min_intensity_kW_cm2 / self.reference.threshold_kW_cm2:.2f}"
                         " × the S-peak intensity")
            lines.append(line)
        return lines + self.notes

    def scalars(self) -> dict[str, tuple[Any, str]]:
        out: dict[str, tuple[Any, str]] = {}
        shown = self.frames[-1] if len(self.frames) == 1 else self._sharpest()
        if shown is not None:
            a = shown.analysis
            out["n_spots"] = (a.n_spots, "")
            out["median_fwhm_nm"] = (a.median_fwhm_nm, "nm")
            out["median_fwhm_long_nm"] = (a.median_fwhm_long_nm, "nm")
            out["median_fwhm_short_nm"] = (a.median_fwhm_short_nm, "nm")
            spot = shown.brightest
            if spot is not None:
                out["fwhm_long_nm"] = (spot.fwhm_long_nm, "nm")
                out["fwhm_long_sigma_nm"] = (spot.fwhm_long_sigma_nm, "nm")
                out["fwhm_short_nm"] = (spot.fwhm_short_nm, "nm")
                out["fwhm_short_sigma_nm"] = (spot.fwhm_short_sigma_nm, "nm")
                out["streak_angle_deg"] = (spot.angle_deg, "deg")
                out["brightest_x_um"] = (spot.x_um, "um")
                out["brightest_y_um"] = (spot.y_um, "um")
            if math.isfinite(shown.predicted_fwhm_nm):
                out["local_slope"] = (shown.slope, "")
                out["predicted_fwhm_nm"] = (shown.predicted_fwhm_nm, "nm")
                out["fwhm_over_predicted"] = (shown.ratio, "")
        out["excitation_fwhm_nm"] = (self.excitation_fwhm_nm, "nm")
        if self.reference is not None:
            out["reference_s_max"] = (self.reference.s_max, "")
            out["reference_s_peak_kW_cm2"] = (self.reference.threshold_kW_cm2, "kW/cm^2")
            out["best_predicted_fwhm_nm"] = (passi_fwhm_nm(
                self.wavelength_nm, self.numerical_aperture, self.reference.s_max), "nm")
        if math.isfinite(self.min_intensity_kW_cm2):
            out["fwhm_min_intensity_kW_cm2"] = (self.min_intensity_kW_cm2, "kW/cm^2")
            out["fwhm_min_nm"] = (self.min_fwhm_nm, "nm")
        return out

    def arrays(self) -> dict[str, tuple[np.ndarray, str]]:
        rows = [(f.index, s) for f in self.frames for s in f.analysis.spots]
        out: dict[str, tuple[np.ndarray, str]] = {}
        if rows:
            def col(get: Any) -> np.ndarray:
                return np.array([get(f, s) for f, s in rows], dtype=float)

            out["spot_frame"] = (np.array([f for f, _ in rows], dtype=np.int64), "")
            for name, unit in (("x_um", "um"), ("y_um", "um"), ("fwhm_long_nm", "nm"),
                               ("fwhm_long_sigma_nm", "nm"), ("fwhm_short_nm", "nm"),
                               ("fwhm_short_sigma_nm", "nm"), ("angle_deg", "deg"),
                               ("amplitude_counts", "counts")):
                out[f"spot_{name}"] = (col(lambda f, s, n=name: getattr(s, n)), unit)
        if len(self.frames) > 1:
            out["frame_intensity_kW_cm2"] = (np.array(
                [f.intensity_kW_cm2 for f in self.frames]), "kW/cm^2")
            out["frame_median_fwhm_nm"] = (np.array(
                [f.analysis.median_fwhm_nm for f in self.frames]), "nm")
            out["frame_predicted_fwhm_nm"] = (np.array(
                [f.predicted_fwhm_nm for f in self.frames]), "nm")
        return out

    def _sharpest(self) -> FrameResult | None:
        found = [f for f in self.frames if f.analysis.spots]
        return min(found, key=lambda f: f.analysis.median_fwhm_nm) if found else None


def fwhm_minimum(intensity_kW_cm2: np.ndarray, fwhm_nm: np.ndarray) -> tuple[float, float]:
    """(intensity, FWHM) of the smallest spot of a series: the vertex of a parabola in ln I
    through the smallest FWHM and its neighbours (the smallest point itself at an end of the
    series or where the parabola opens downwards). NaN with fewer than two usable frames."""
    x, y = np.asarray(intensity_kW_cm2, float), np.asarray(fwhm_nm, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if x.size < 2:
        return math.nan, math.nan
    order = np.argsort(x)
    lx, y = np.log(x[order]), y[order]
    k = int(np.argmin(y))
    if 0 < k < len(y) - 1:
        a, b, c = np.polyfit(lx[k - 1:k + 2], y[k - 1:k + 2], 2)
        if a > 0:
            vertex = -b / (2 * a)
            if lx[k - 1] <= vertex <= lx[k + 1]:
                return float(math.exp(vertex)), float(c - b * b / (4 * a))
    return float(math.exp(lx[k])), float(y[k])


def analyse_frames(images: list[tuple[int, float, np.ndarray]], x_um: np.ndarray,
                   y_um: np.ndarray, *, wavelength_nm: float, numerical_aperture: float,
                   reference: SCurveReference | None,
                   min_separation_um: float = 0.5) -> ConfocalReport:
    """Spots of each (index, intensity kW/cm², counts image); S at each frame's intensity from
    `reference`; for two or more frames the FWHM minimum over intensity."""
    frames = []
    for index, intensity, image in images:
        analysis = analyse_image(image, x_um, y_um, min_separation_um=min_separation_um)
        frame = FrameResult(index, float(intensity), analysis)
        if reference is not None and math.isfinite(intensity):
            slope = reference.slope_at(intensity)
            if math.isfinite(slope) and slope > 0:
                frame.slope = slope
                frame.predicted_fwhm_nm = passi_fwhm_nm(wavelength_nm, numerical_aperture,
                                                        slope)
        frames.append(frame)
    report = ConfocalReport(frames, wavelength_nm, numerical_aperture, reference)
    if len(frames) > 1:
        report.min_intensity_kW_cm2, report.min_fwhm_nm = fwhm_minimum(
            np.array([f.intensity_kW_cm2 for f in frames]),
            np.array([f.analysis.median_fwhm_nm for f in frames]))
    return report
