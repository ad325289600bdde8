"""Analysis of acquired data: pump intensity at the sample, S-curve (photon-avalanche) metrics,
particles in confocal images (sub-diffraction spot sizes against λ/(2·NA·√S)), and (in `avlab.analysis.model_fit`, which loads the physics engine) fits of rate-equation
presets to measured data."""

from avlab.analysis.image import ImageAnalysis, Spot, analyse_image, passi_fwhm_nm
from avlab.analysis.optics import gaussian_waist_um, peak_intensity_kW_cm2, power_for_intensity_W
from avlab.analysis.scurve import SCurveAnalysis, SCurveAnalysisError, analyse_scurve, local_slope

__all__ = [
    "ImageAnalysis",
    "SCurveAnalysis",
    "SCurveAnalysisError",
    "Spot",
    "analyse_image",
    "analyse_scurve",
    "gaussian_waist_um",
    "local_slope",
    "passi_fwhm_nm",
    "peak_intensity_kW_cm2",
    "power_for_intensity_W",
]
