"""The spectrum PNG: the spectra of the power series with the band regions shaded, and each
band's integral against pump intensity (log-log) with its fitted slope S."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_spectra(run: Any, analysis: Any, png_path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .procedure import parse_bands

    wavelengths = np.asarray(run.arrays["wavelength_nm"].read())
    spectra = np.asarray(run.arrays["spectra"].read())
    intensity = np.asarray(run.array_axes.get("pump_intensity_kW_cm2", []))
    bands = parse_bands(str(run.parameters["bands"][0]))
    fig = Figure(figsize=(7.5, 8.0))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.07, top=0.94, hspace=0.3)
    FigureCanvasAgg(fig)
    ax, ax_b = fig.subplots(2, 1)
    colours = [f"C{i}" for i in range(10)]
    for k, spectrum in enumerate(spectra):
        label = f"{intensity[k]:.3g} kW/cm²" if k < len(intensity) else None
        ax.plot(wavelengths, np.clip(spectrum, 1e-3, None), lw=0.8, label=label,
                color=f"{0.75 - 0.6 * k / max(len(spectra) - 1, 1):.2f}" if k < len(spectra) - 1
                else "k")
    for j, (name, lo, hi) in enumerate(bands):
        ax.axvspan(lo, hi, color=colours[j % 10], alpha=0.18)
        ax.text(0.5 * (lo + hi), 1.0, name, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=8, color=colours[j % 10])
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.3)  # below this the per-pixel noise only fills the plot
    ax.set_xlim(min(b[1] for b in bands) - 40, max(b[2] for b in bands) + 40)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("counts/s per pixel (dark, background subtracted)")
    ax.legend(fontsize=7, title="pump", title_fontsize=7)
    ax.set_title(f"Emission spectra — {Path(run.path).name} ({run.status})", fontsize=10, pad=14)
    if analysis is not None:
        d = analysis.detail
        for j, name in enumerate(d["names"]):
            rates = d["rates"][:, j]
            good = rates > 0
            verdict = "" if d["determined"][j] else " (not determined)"
            ax_b.errorbar(d["intensity"][good], rates[good], yerr=d["rate_sigmas"][good, j],
                          fmt="o", ms=4, color=colours[j % 10],
                          label=f"{name}: S = {d['slopes'][j]:.2f} ± {d['sigmas'][j]:.2f}"
                                f"{verdict}")
            ax_b.set_xscale("log")
            ax_b.set_yscale("log")
            if np.count_nonzero(good) >= 2 and np.isfinite(d["slopes"][j]):
                x = d["intensity"][good]
                fit = np.polyfit(np.log(x), np.log(rates[good]), 1)
                ax_b.loglog(x, np.exp(np.polyval(fit, np.log(x))), "-", lw=0.8,
                            color=colours[j % 10])
        ax_b.legend(fontsize=8)
    ax_b.set_xlabel("peak pump intensity (kW/cm²)")
    ax_b.set_ylabel("band integral (counts/s)")
    ax_b.grid(True, which="both", alpha=0.25)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    return png_path
