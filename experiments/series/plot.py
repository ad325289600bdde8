"""The series PNG: the stage temperature trace (settling visible) and the inner runs' figures
against the setting (S_max and threshold versus temperature for a series of S-curves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_series(run: Any, analysis: Any, png_path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    detail = analysis.detail if analysis is not None else None
    shown = list(detail["shown"]) if detail else []
    n_panels = 1 + len(shown)
    fig = Figure(figsize=(7.0, 2.6 * n_panels + 0.6))
    fig.subplots_adjust(left=0.13, right=0.96, bottom=0.08, top=0.93, hspace=0.45)
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(n_panels, 1))
    cols = run.columns
    ax = axes[0]
    t_h = (cols["bench_time_s"] - (cols["bench_time_s"][0] if cols["bench_time_s"].size else 0)) / 3600
    for phase, style, label in ((0, dict(color="0.6", ms=2), "settling"),
                                (1, dict(color="C3", ms=3), "inner run")):
        m = cols["phase"] == phase
        ax.plot(t_h[m], cols["temperature_K"][m], "o", label=label, **style)
    setpoints = cols["setpoint_K"]
    if np.any(np.isfinite(setpoints)):
        ax.step(t_h, setpoints, where="post", color="k", lw=0.7, label="setpoint")
    ax.set_xlabel("bench time (h)")
    ax.set_ylabel("stage temperature (K)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"Series of {run.parameters.get('do', ('?', ''))[0]} — {Path(run.path).name} "
                 f"({run.status})", fontsize=10)
    if detail:
        steps = detail["steps"]
        setting = detail["setting"]
        x = np.array([s.temperature_mean_K if setting == "temperature_K"
                      and np.isfinite(s.temperature_mean_K) else s.value for s in steps])
        ok = np.array([s.status == "completed" for s in steps])
        for a, name in zip(axes[1:], shown):
            y = np.array([float(s.scalars[name][0]) for s in steps])
            unit = steps[0].scalars[name][1]
            a.plot(x[ok], y[ok], "o-", color="C0")
            if np.any(~ok):
                a.plot(x[~ok], y[~ok], "x", color="C3", label="step not completed")
                a.legend(fontsize=8)
            a.set_ylabel(f"{name}" + (f" ({unit})" if unit else ""))
            a.set_xlabel(f"{setting} (stage, measured)" if setting == "temperature_K" else setting)
            a.grid(alpha=0.3)
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    return png_path
