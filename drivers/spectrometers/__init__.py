"""Spectrometers: the `Spectrometer` interface procedures use, Ocean Insight through
python-seabreeze (`ocean_seabreeze`, SDK imported only when a device is opened), and the Acton
SpectraPro spectrograph with a camera (`spectrapro`, ASCII serial).

Importing this package needs numpy only.
"""

from .base import (
    Camera,
    ExposureOutOfRangeError,
    Spectrometer,
    Spectrum,
    WavelengthOutOfRangeError,
    check_exposure_s,
)

__all__ = [
    "Camera", "ExposureOutOfRangeError", "Spectrometer", "Spectrum", "WavelengthOutOfRangeError",
    "check_exposure_s",
]
