"""Analysis that every procedure may use: the pump intensity at the sample (optics) and the
images of a scan (image). Procedure-specific analysis lives next to its procedure under
experiments/ (e.g. experiments/scurve/analysis.py)."""

from avlab.analysis.optics import gaussian_waist_um, peak_intensity_kW_cm2, power_for_intensity_W

__all__ = [
    "gaussian_waist_um",
    "peak_intensity_kW_cm2",
    "power_for_intensity_W",
]
