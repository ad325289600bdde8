"""PNG of a confocal run: the image with a scale bar and the fitted spots drawn as ellipses
(FWHM long × short along the fitted angle); for a power series also the spot FWHM against
intensity beside λ/(2·NA·√S). Agg canvas, no pyplot (fast start-up, no display needed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def nice_bar_um(width_um: float) -> float:
    """A round scale-bar length near a fifth of the field (1, 2 or 5 × 10^n µm)."""
    target = max(width_um / 5.0, 1e-6)
    exponent = math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * 10**exponent <= target:
            return step * 10**exponent
    return 10**exponent


def draw_image(ax: Any, image: np.ndarray, x_um: np.ndarray, y_um: np.ndarray,
               spots: Any = (), title: str = "") -> None:
    """One image panel: counts, µm axes, scale bar, fitted spots as FWHM ellipses."""
    from matplotlib.patches import Ellipse, Rectangle

    dx = (x_um[-1] - x_um[0]) / max(len(x_um) - 1, 1) if len(x_um) > 1 else 1.0
    dy = (y_um[-1] - y_um[0]) / max(len(y_um) - 1, 1) if len(y_um) > 1 else dx
    extent = (x_um[0] - dx / 2, x_um[-1] + dx / 2, y_um[0] - dy / 2, y_um[-1] + dy / 2)
    shown = ax.imshow(image, origin="lower", extent=extent, cmap="inferno",
                      interpolation="nearest", aspect="equal")
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03, label="counts per pixel")
    for spot in spots:
        ax.add_patch(Ellipse((spot.x_um, spot.y_um), spot.fwhm_long_nm * 1e-3,
                             spot.fwhm_short_nm * 1e-3, angle=spot.angle_deg, fill=False,
                             color="cyan", lw=1.0))
    width = extent[1] - extent[0]
    bar = nice_bar_um(width)
    x0 = extent[0] + 0.06 * width
    y0 = extent[2] + 0.06 * (extent[3] - extent[2])
    ax.add_patch(Rectangle((x0, y0), bar, 0.012 * (extent[3] - extent[2]), color="white"))
    label = f"{bar * 1e3:.0f} nm" if bar < 1 else f"{bar:g} µm"
    ax.text(x0 + bar / 2, y0 + 0.03 * (extent[3] - extent[2]), label, color="white",
            ha="center", va="bottom", fontsize=9)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    if title:
        ax.set_title(title, fontsize=10)


def spot_title(frame: Any) -> str:
    a = frame.analysis
    if not a.spots:
        return "no spots found"
    text = (f"{a.n_spots} spot(s): median FWHM {a.median_fwhm_long_nm:.0f} × "
            f"{a.median_fwhm_short_nm:.0f} nm")
    if math.isfinite(frame.predicted_fwhm_nm):
        text += f"\nλ/(2 NA √S) = {frame.predicted_fwhm_nm:.0f} nm (S = {frame.slope:.1f})"
    return text


def plot_confocal(run: Any, report: Any, png_path: str | Path, item: str = "counts") -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    handle = run.arrays[item]
    y_name, x_name = [a for a in handle.axes if a][-2:]
    x_um, y_um = run.array_axes[x_name], run.array_axes[y_name]
    series = report is not None and len(report.frames) > 1
    fig = Figure(figsize=(12.0, 5.2) if series else (6.4, 5.6))
    FigureCanvasAgg(fig)
    if series:
        ax, ax_f = fig.subplots(1, 2)
        shown = min(report.frames, key=lambda f: (not f.analysis.spots,
                                                   f.analysis.median_fwhm_nm
                                                   if f.analysis.spots else 0))
        image = np.asarray(handle[shown.index])
        title = f"frame {shown.index} at {shown.intensity_kW_cm2:.3g} kW/cm²\n{spot_title(shown)}"
        draw_image(ax, image, x_um, y_um, shown.analysis.spots, title)
        intensity = np.array([f.intensity_kW_cm2 for f in report.frames])
        long_nm = np.array([f.analysis.median_fwhm_long_nm for f in report.frames])
        short_nm = np.array([f.analysis.median_fwhm_short_nm for f in report.frames])
        predicted = np.array([f.predicted_fwhm_nm for f in report.frames])
        ax_f.plot(intensity, long_nm, "o-", color="C3", label="long axis (median)")
        ax_f.plot(intensity, short_nm, "s-", color="C0", mfc="none", label="short axis (median)")
        if np.isfinite(predicted).any():
            ax_f.plot(intensity, predicted, "k--", label="λ/(2 NA √S)")
        if math.isfinite(report.min_intensity_kW_cm2):
            ax_f.axvline(report.min_intensity_kW_cm2, color="C2", lw=0.8,
                         label=f"FWHM minimum {report.min_intensity_kW_cm2:.3g} kW/cm²")
        if report.reference is not None:
            ax_f.axvline(report.reference.threshold_kW_cm2, color="0.5", ls=":",
                         label=f"S peak {report.reference.threshold_kW_cm2:.3g} kW/cm²")
        ax_f.axhline(report.excitation_fwhm_nm, color="0.7", lw=0.8, label="excitation FWHM")
        ax_f.set_xscale("log")
        ax_f.set_xlabel("pump peak intensity (kW/cm²)")
        ax_f.set_ylabel("spot FWHM (nm)")
        ax_f.legend(fontsize=8)
    else:
        ax = fig.subplots()
        frame = report.frames[0] if report is not None else None
        image = np.asarray(handle[()]) if not handle.stacked else np.asarray(handle[-1])
        draw_image(ax, image, x_um, y_um, frame.analysis.spots if frame else (),
                   spot_title(frame) if frame else "")
    fig.suptitle(f"{run.procedure}: {Path(run.path).name}", fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.95, bottom=0.1, top=0.85, wspace=0.3)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=110)
    return png_path


def plot_best(run: Any, result: Any, png_path: str | Path) -> Path:
    """The workflow's PNG: coarse image with the chosen particle, the S-curve's slope with the
    chosen intensity, the rise trace, and the final image with its fitted spot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    measured = {k: v[0] for k, v in run.results.get("measurements", {}).items()}
    fig = Figure(figsize=(13.0, 10.0))
    FigureCanvasAgg(fig)
    (ax_c, ax_s), (ax_r, ax_f) = fig.subplots(2, 2)
    coarse = np.asarray(run.arrays["coarse"][()])
    draw_image(ax_c, coarse, run.array_axes["coarse_x_um"], run.array_axes["coarse_y_um"],
               title="coarse image")
    if "particle_x_um" in measured:
        ax_c.plot([measured["particle_x_um"]], [measured["particle_y_um"]], "o", mfc="none",
                  mec="cyan", ms=14)
    report = result.detail if result is not None else None
    analysis = result.arrays if result is not None else {}
    if "slope" in analysis:
        ax_s.plot(analysis["slope_intensity_kW_cm2"][0], analysis["slope"][0], "o-", ms=3,
                  color="C3")
        if "s_peak_intensity_kW_cm2" in measured:
            ax_s.axvline(measured["s_peak_intensity_kW_cm2"], color="C2",
                         label=f"S_max {measured.get('s_max_measured', math.nan):.1f} at "
                               f"{measured['s_peak_intensity_kW_cm2']:.3g} kW/cm²")
            ax_s.legend(fontsize=8)
        ax_s.set_xscale("log")
    ax_s.set_xlabel("pump peak intensity (kW/cm²)")
    ax_s.set_ylabel("local slope S")
    ax_s.set_title("S-curve of the particle (beam parked)", fontsize=10)
    if "rise_counts" in run.arrays:
        trace = np.asarray(run.arrays["rise_counts"][()])
        t = run.array_axes["rise_time_s"]
        ax_r.step(t, trace, where="post", color="C0")
        t_half = measured.get("t_half_s", math.nan)
        if t_half is not None and math.isfinite(t_half):
            ax_r.axvline(t_half, color="C2", label=f"t½ = {t_half:.3g} s")
            ax_r.legend(fontsize=8)
    ax_r.set_xlabel("time since the beam reached the particle (s)")
    ax_r.set_ylabel("counts per sample")
    ax_r.set_title("rise at the S-peak intensity", fontsize=10)
    frame = report.frames[0] if report is not None else None
    final = np.asarray(run.arrays["image"][()])
    draw_image(ax_f, final, run.array_axes["x_um"], run.array_axes["y_um"],
               frame.analysis.spots if frame else (),
               ("image at maximal S (relative to the particle)\n" + spot_title(frame))
               if frame else "image at maximal S")
    fig.suptitle(f"{run.procedure}: {Path(run.path).name}", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.95, bottom=0.06, top=0.92, wspace=0.3, hspace=0.35)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    return png_path
