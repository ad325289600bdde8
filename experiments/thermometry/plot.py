"""Calibration curve (feature vs temperature, with the fit) above the relative sensitivity and
the temperature resolution at each calibration point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_calibration(cal: Any, png_path: str | Path,
                     reading: tuple[float, float] | None = None) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 6.5))
    fig.subplots_adjust(left=0.17, right=0.86, bottom=0.09, top=0.92, hspace=0.12)
    FigureCanvasAgg(fig)
    ax, ax_s = fig.subplots(2, 1, sharex=True)
    t = np.array(cal.temperatures_K)
    grid = np.linspace(t.min(), t.max(), 300)
    ax.errorbar(t, cal.features, yerr=cal.feature_sigmas, fmt="o", color="C0",
                label="calibration points")
    ax.plot(grid, np.exp(cal.ln_f(grid)), "-", color="C0", lw=1, label="fit")
    if reading is not None:
        ax.axvspan(reading[0] - reading[1], reading[0] + reading[1], color="C3", alpha=0.2)
        ax.axvline(reading[0], color="C3", lw=1, label=f"reading {reading[0]:.1f} ± "
                                                      f"{reading[1]:.1f} K")
    ax.set_yscale("log")
    ax.set_ylabel(cal.label().replace(" at ", "\nat ", 1), fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"Avalanche thermometry calibration ({cal.method.replace('_', ' ')})",
                 fontsize=10)
    ax_s.plot(grid, 100 * cal.sensitivity_per_K(grid), color="C2", label="sensitivity")
    ax_s.set_ylabel("relative sensitivity (%/K)", color="C2")
    ax_s.set_ylim(0, 1.3 * float(np.max(100 * cal.sensitivity_per_K(grid))))
    ax_r = ax_s.twinx()
    ax_r.plot(t, cal.resolutions_K(), "s", color="C1", label="resolution")
    ax_r.set_ylabel("temperature resolution (K)", color="C1")
    ax_r.set_ylim(0, 1.2 * max(cal.resolutions_K()))
    ax_s.set_xlabel("temperature (K)")
    ax_s.grid(alpha=0.3)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    return png_path
