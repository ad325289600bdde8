"""The S-curve's PNG: emission versus intensity (log-log, up and down) above S(I).

Drawn on matplotlib's Agg canvas directly rather than through pyplot: pyplot's import and
backend machinery cost about a second of `avlab run` start-up for nothing a file needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_scurve(data: Any, report: Any, png_path: str | Path) -> Path:
    """Emission vs intensity (log–log, up and down) above the local slope S(I)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    cols = data.columns
    intensity, signal = cols["intensity_kW_cm2"], cols["signal_cps"]
    sigma, direction = cols["signal_sigma_cps"], cols["direction"]
    # Fixed margins instead of tight_layout(), which measures every label (0.3 s).
    fig = Figure(figsize=(7.0, 7.5))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.07, top=0.92, hspace=0.06)
    FigureCanvasAgg(fig)
    ax, ax_s = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for d, style, label in ((1, dict(fmt="o", color="C3", ms=4), "up-sweep"),
                            (-1, dict(fmt="s", color="C0", ms=4, mfc="none"), "down-sweep")):
        m = (direction == d) & (signal > 0)
        if np.any(m):
            ax.errorbar(intensity[m], signal[m], yerr=np.minimum(sigma[m], 0.99 * signal[m]),
                        lw=0.8, capsize=0, label=label, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    # Scale the y axis to the points that stand clear of their counting noise: a single
    # point a hair above zero (dark subtracted) would otherwise stretch it by decades.
    clear = (signal > 2.0 * sigma) & np.isfinite(signal)
    if np.count_nonzero(clear) >= 2:
        ax.set_ylim(0.5 * float(np.min(signal[clear])), 2.0 * float(np.max(signal[clear])))
    ax.set_ylabel("emission signal (counts/s, dark subtracted)")
    ax.grid(True, which="both", alpha=0.25)
    title = f"S-curve — {Path(data.path).name} ({data.status})"
    if report is not None:
        up = report.up
        ax_s.plot(up.intensity_kW_cm2, up.slope, "o-", color="C3", ms=3, lw=1,
                  label="local slope S (up)")
        for a in (ax, ax_s):
            a.axvline(up.threshold_s_peak_kW_cm2, color="k", ls="--", lw=0.8)
            a.axvline(up.threshold_tangent_kW_cm2, color="0.5", ls=":", lw=0.8)
        # Labelled at the top: at the threshold the emission is still low, so the upper part
        # of the panel is empty there and the labels cover no point.
        top = ax.get_ylim()[1]
        ax.text(up.threshold_s_peak_kW_cm2, top, "I_th (S peak) ", rotation=90, va="top",
                ha="left", fontsize=8)
        ax.text(up.threshold_tangent_kW_cm2, top, "I_th (tangent) ", rotation=90, va="top",
                ha="right", fontsize=8, color="0.35")
        title += f"\nS_max = {up.s_max:.1f} ± {up.s_max_sigma:.1f} at " \
                 f"I_th = {up.threshold_s_peak_kW_cm2:.2f} kW/cm²"
    # An explicit y skips matplotlib's search for a title position clear of the tick labels,
    # which measures every label and took half of the PNG's rendering time.
    ax.set_title(title, fontsize=10, y=1.0, pad=6)
    ax.legend(fontsize=8)
    ax_s.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax_s.xaxis.set_major_formatter(ScalarFormatter())
    ax_s.xaxis.set_minor_formatter(NullFormatter())
    ax_s.set_xlabel("peak pump intensity at the sample (kW/cm²)")
    ax_s.set_ylabel("S = d ln(emission) / d ln(I)")
    ax_s.grid(True, which="both", alpha=0.25)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=110)
    return png_path
