"""Analysis of a recorded S-curve run: the up-sweep, the down-sweep and their agreement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .analysis import SCurveAnalysis, SCurveAnalysisError, analyse_scurve


@dataclass(frozen=True)
class SCurveReport:
    """Figures of one S-curve run. The up-sweep carries the headline numbers."""

    up: SCurveAnalysis
    down: SCurveAnalysis | None = None

    def as_records(self) -> dict[str, tuple[Any, str]]:
        records = dict(self.up.as_records())
        if self.down is not None:
            records["s_max_down"] = (self.down.s_max, "")
            records["threshold_s_peak_down_kW_cm2"] = (self.down.threshold_s_peak_kW_cm2,
                                                       "kW/cm^2")
        return records

    def as_arrays(self) -> dict[str, tuple[np.ndarray, str]]:
        return {"slope_intensity_kW_cm2": (self.up.intensity_kW_cm2, "kW/cm^2"),
                "slope": (self.up.slope, "")}

    def summary_lines(self) -> list[str]:
        lines = list(self.up.summary_lines())
        if self.down is not None:
            shift = (self.down.threshold_s_peak_kW_cm2 / self.up.threshold_s_peak_kW_cm2 - 1)
            lines.append(f"down-sweep: S_max = {self.down.s_max:.1f} at "
                         f"{self.down.threshold_s_peak_kW_cm2:.2f} kW/cm² "
                         f"(threshold {shift:+.1%} vs up-sweep)")
        return lines


def with_intensity(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mask of the points that have an intensity: one whose meter reading was at the noise
    floor is stored with NaN (the S-curve procedure) and is no point of the curve."""
    intensity = np.asarray(columns["intensity_kW_cm2"], dtype=float)
    return np.isfinite(intensity) & (intensity > 0)


def _select(columns: Mapping[str, np.ndarray], direction: int) -> tuple[np.ndarray, ...]:
    mask = (np.asarray(columns["direction"]) == direction) & with_intensity(columns)
    return (np.asarray(columns["intensity_kW_cm2"])[mask],
            np.asarray(columns["signal_cps"])[mask],
            np.asarray(columns["signal_sigma_cps"])[mask])


def analyse_sweeps(columns: Mapping[str, np.ndarray],
                   dark_sigma_cps: float | None = None) -> SCurveReport:
    """Analyse the up-sweep (and the down-sweep when there is one) of an S-curve run.
    `dark_sigma_cps`: error of the dark reference subtracted from every point (common)."""
    up = analyse_scurve(*_select(columns, 1), common_offset_sigma_cps=dark_sigma_cps)
    down = None
    if np.any(np.asarray(columns["direction"]) == -1):
        try:
            down = analyse_scurve(*_select(columns, -1), common_offset_sigma_cps=dark_sigma_cps)
        except SCurveAnalysisError:
            down = None  # an aborted down-sweep may be too short; the up-sweep still stands
    return SCurveReport(up, down)
