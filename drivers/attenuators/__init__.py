"""Variable attenuators for the pump: a half-wave plate on a motorized rotation mount before a
polarizer (Thorlabs Elliptec ELL14), and its angle ↔ transmission calibration."""

from .calibration import (
    CalibrationFit,
    HalfWavePlateAttenuator,
    TransmissionOutOfRangeError,
    fit_calibration,
)

__all__ = [
    "CalibrationFit",
    "HalfWavePlateAttenuator",
    "TransmissionOutOfRangeError",
    "fit_calibration",
]
