"""Calibration curve (feature vs temperature, with the fit) above the relative sensitivity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_calibration(cal: Any, png_path: str | Path,
                     reading: tuple[float, float] | None = None) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, bottom=0.09, top=0.92, hspace=0.12)
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
    ax.set_ylabel(f"emission at {cal.intensity_kW_cm2:g} kW/cm² (counts/s)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Avalanche thermometry calibration", fontsize=10)
    ax_s.plot(grid, 100 * cal.sensitivity_per_K(grid), color="C2")
    ax_s.set_ylabel("relative sensitivity (%/K)")
    ax_s.set_xlabel("temperature (K)")
    ax_s.grid(alpha=0.3)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    return png_path
