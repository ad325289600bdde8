"""The rise-time PNG: rise curves per power, t½ versus intensity with the dynamic threshold,
and — for a combined run — the S-curve with its threshold beside it.

Drawn on matplotlib's Agg canvas directly (no pyplot), as the S-curve's plot is.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .report import rise_rows


def plot_rise(data: Any, report: Any, png_path: str | Path) -> Path:
    """Rise curves (normalised, against time since switch-on, log time) and t½ / t10–90
    versus intensity (log-log); unreliable points hollow. A third panel shows the S-curve
    of a combined run."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scurve = getattr(report, "scurve", None) if report is not None else None
    panels = 3 if scurve is not None else 2
    fig = Figure(figsize=(5.2 * panels, 5.0))
    fig.subplots_adjust(left=0.07 if panels == 3 else 0.09, right=0.98, bottom=0.11, top=0.86,
                        wspace=0.28)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels)
    ax_curves, ax_t = axes[0], axes[1]
    rows = rise_rows(data.columns)
    n = len(rows["period_s"])
    intensity = rows["intensity_kW_cm2"]
    counts = np.asarray(data.arrays["rise_counts"][:n], dtype=float) if n else np.zeros((0, 1))
    cmap = colormaps["viridis"]
    if n:
        lo, hi = math.log(np.nanmin(intensity)), math.log(np.nanmax(intensity))
    for k in range(n):
        curve = report.curves[k] if report is not None and k < len(report.curves) else None
        period, on_s = float(rows["period_s"][k]), float(rows["on_s"][k])
        bins = counts.shape[1]
        t = (np.arange(bins) + 0.5) * period / bins
        on = t < on_s
        if curve is not None and curve.steady_counts_per_bin > 0:
            y = (counts[k] - curve.dark_counts_per_bin) / curve.steady_counts_per_bin
        else:
            y = counts[k] / max(np.max(counts[k]), 1.0)
        if curve is not None and not curve.check.has_signal:
            continue  # lost in the dark counts: nothing to draw
        # Rebinned for display (the analysis uses every bin).
        factor = max(1, int(on.sum()) // 150)
        m = int(on.sum()) // factor * factor
        t, y, on = (t[:m].reshape(-1, factor).mean(axis=1), y[:m].reshape(-1, factor).mean(axis=1),
                    np.ones(m // factor, dtype=bool))
        colour = cmap((math.log(intensity[k]) - lo) / (hi - lo) if hi > lo else 0.5)
        reliable = bool(rows["reliable"][k])
        ax_curves.plot(t[on], y[on], lw=0.8, color=colour, ls="-" if reliable else ":",
                       alpha=0.9 if reliable else 0.6)
    ax_curves.set_xscale("log")
    ax_curves.set_ylim(-0.1, 1.25)
    ax_curves.axhline(0.5, color="0.5", lw=0.6, ls="--")
    ax_curves.set_xlabel("time since switch-on (s)")
    ax_curves.set_ylabel("emission / steady state (dark subtracted)")
    ax_curves.set_title("rise curves (colour: intensity; dotted: unreliable)", fontsize=9)
    ax_curves.grid(True, which="both", alpha=0.2)
    if n and hi > lo:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import LogNorm

        mappable = ScalarMappable(norm=LogNorm(math.exp(lo), math.exp(hi)), cmap=cmap)
        fig.colorbar(mappable, ax=ax_curves, label="kW/cm²", pad=0.01)

    title = f"Rise times — {Path(data.path).name} ({data.status})"
    if report is not None and n:
        ok = report.reliable
        t_half = report.column("t_half_s")
        sigma = report.column("t_half_sigma_s")
        r1090 = report.column("rise_10_90_s")
        x = report.intensity_kW_cm2
        ax_t.errorbar(x[ok], t_half[ok], yerr=np.nan_to_num(sigma[ok]), fmt="o", ms=4,
                      color="C3", lw=0.8, label="t½")
        ax_t.plot(x[ok], r1090[ok], "^", ms=3.5, color="C0", label="t10–90")
        bad = ~ok & np.isfinite(t_half) & (t_half > 0)
        if np.any(bad):
            ax_t.plot(x[bad], t_half[bad], "o", mfc="none", color="0.4", ms=5,
                      label="t½ unreliable (not fitted)")
        if report.peak is not None:
            p = report.peak
            ax_t.axvline(p.intensity_kW_cm2, color="k", ls="--", lw=0.8,
                         label=f"dynamic threshold {p.intensity_kW_cm2:.2f} kW/cm²")
            title += (f"\nt½ peak {p.t_half_s * 1e3:.0f} ± {p.t_half_sigma_s * 1e3:.0f} ms "
                      f"at {p.intensity_kW_cm2:.2f} kW/cm²")
        if report.scurve_threshold_kW_cm2 is not None:
            ax_t.axvline(report.scurve_threshold_kW_cm2, color="C2", ls=":", lw=1.0,
                         label=f"S-curve threshold {report.scurve_threshold_kW_cm2:.2f} kW/cm²")
        ax_t.set_xscale("log")
        ax_t.set_yscale("log")
        ax_t.legend(fontsize=7, loc="lower center")
    ax_t.set_xlabel("peak pump intensity at the sample (kW/cm²)")
    ax_t.set_ylabel("time (s)")
    ax_t.grid(True, which="both", alpha=0.25)
    ax_t.set_title("t½ and t10–90 versus intensity", fontsize=9)
    if scurve is not None:
        ax_s = axes[2]
        cols = data.columns
        direction = np.asarray(cols["direction"])
        signal = np.asarray(cols["signal_cps"])
        m = (direction == 1) & (signal > 0)
        ax_s.plot(np.asarray(cols["intensity_kW_cm2"])[m], signal[m], "o", ms=3, color="C3",
                  label="S-curve (up)")
        ax_s.set_xscale("log")
        ax_s.set_yscale("log")
        ax_s.axvline(scurve.up.threshold_s_peak_kW_cm2, color="C2", ls=":", lw=1.0,
                     label=f"S peak {scurve.up.threshold_s_peak_kW_cm2:.2f} kW/cm²")
        if report.peak is not None:
            ax_s.axvline(report.peak.intensity_kW_cm2, color="k", ls="--", lw=0.8,
                         label=f"t½ peak {report.peak.intensity_kW_cm2:.2f} kW/cm²")
        ax_s.set_xlabel("peak pump intensity at the sample (kW/cm²)")
        ax_s.set_ylabel("emission (counts/s, dark subtracted)")
        ax_s.set_title(f"S-curve, S_max = {scurve.up.s_max:.1f}", fontsize=9)
        ax_s.grid(True, which="both", alpha=0.25)
        ax_s.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=110)
    return png_path
