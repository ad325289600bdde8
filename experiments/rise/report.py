"""A rise-time run (or the rise part of a combined run) read back from its file and analysed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import RiseAnalysisError, RiseReport, analyse_rise_run


def rise_rows(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The point-table rows of the rise part: those with a modulation period (in a combined
    run the S-curve's rows leave it empty)."""
    mask = np.isfinite(np.asarray(columns["period_s"], dtype=float))
    return {name: np.asarray(values)[mask] for name, values in columns.items()}


def scurve_threshold_of(run: Any) -> tuple[float | None, Any]:
    """(S-peak threshold, S-curve report) of a run that holds an S-curve up-sweep, else
    (None, None)."""
    from experiments.scurve.analysis import SCurveAnalysisError
    from experiments.scurve.report import analyse_sweeps

    columns = run.columns
    if "direction" not in columns or not np.any(np.asarray(columns["direction"]) == 1):
        stored = run.results.get("analysis", {}).get("threshold_s_peak_kW_cm2")
        return (float(stored[0]), None) if stored is not None else (None, None)
    measured = run.results.get("measurements", {})
    dark_sigma = measured.get("dark_rate_sigma_cps", (None, ""))[0]
    try:
        report = analyse_sweeps(columns, dark_sigma)
    except SCurveAnalysisError:
        return None, None
    return float(report.up.threshold_s_peak_kW_cm2), report


def analyse_rise_file(run: Any, *, scurve_run: str | Path | None = None) -> RiseReport:
    """Analyse the rise histograms of `run` (RunData); the S-curve threshold for comparison
    comes from the same run when it has an S-curve, else from the run file `scurve_run`."""
    from avlab.storage import read_run

    rows = rise_rows(run.columns)
    n = len(rows["period_s"])
    if n == 0:
        raise RiseAnalysisError("the run holds no rise-time points")
    rise_counts = np.asarray(run.arrays["rise_counts"][:n])
    decay_counts = None
    decay_handle = run.arrays.get("decay_counts")
    if decay_handle is not None and decay_handle.shape[0] > 0:
        decay_counts = np.asarray(decay_handle[:min(n, decay_handle.shape[0])])
    measured = run.results.get("measurements", {})
    dark = float(measured["tagger_dark_rate_cps"][0])
    dark_sigma = float(measured.get("tagger_dark_rate_sigma_cps", (0.0, ""))[0])
    if not math.isfinite(dark):
        raise RiseAnalysisError("the run has no dark reference of the time tagger")
    decay_binwidth = float(run.parameters.get("decay_binwidth_s", (0.0, ""))[0])
    threshold, scurve = scurve_threshold_of(run)
    source = "same run" if threshold is not None else ""
    if threshold is None and scurve_run:
        threshold, _ = scurve_threshold_of(read_run(scurve_run))
        source = Path(scurve_run).name if threshold is not None else ""
    report = analyse_rise_run(rows, rise_counts, decay_counts, dark_cps=dark,
                              dark_sigma_cps=dark_sigma, decay_binwidth_s=decay_binwidth,
                              scurve_threshold_kW_cm2=threshold, scurve_source=source)
    report.scurve = scurve
    return report
