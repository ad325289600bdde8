"""Analysis that every procedure may use: the pump intensity at the sample (optics) and the
particles of a confocal image with their sub-diffraction spot sizes against λ/(2·NA·√S)
(image). Procedure-specific analysis lives next to its procedure under experiments/ (e.g.
experiments/scurve/analysis.py)."""

from avlab.analysis.image import ImageAnalysis, Spot, analyse_image, passi_fwhm_nm
from avlab.analysis.optics import gaussian_waist_um, peak_intensity_kW_cm2, power_for_intensity_W

__all__ = [
    "ImageAnalysis",
    "Spot",
    "analyse_image",
    "gaussian_waist_um",
    "passi_fwhm_nm",
    "peak_intensity_kW_cm2",
    "power_for_intensity_W",
]
