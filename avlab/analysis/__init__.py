"""Analysis of acquired data: pump intensity at the sample, S-curve (photon-avalanche) metrics,
and (in `avlab.analysis.model_fit`, which loads the physics engine) fits of rate-equation
presets to measured data."""

from avlab.analysis.optics import gaussian_waist_um, peak_intensity_kW_cm2, power_for_intensity_W
from avlab.analysis.scurve import SCurveAnalysis, SCurveAnalysisError, analyse_scurve, local_slope

__all__ = [
    "SCurveAnalysis",
    "SCurveAnalysisError",
    "analyse_scurve",
    "gaussian_waist_um",
    "local_slope",
    "peak_intensity_kW_cm2",
    "power_for_intensity_W",
]
