"""The small interfaces of a spectrometer: what procedures use, and what a spectrograph needs of
its camera.

A spectrum of the sample (docs/physics.md §4: the Tm 800 nm PA line and its weak companions) comes
either from a compact fiber spectrometer with its own SDK (Ocean Insight via python-seabreeze)
or from an imaging spectrograph (Acton SpectraPro, ASCII serial) with a separate CCD. Both sit
behind `Spectrometer`, so a procedure asks for `acquire(exposure_s)` and gets a `Spectrum`
whatever the hardware: the seabreeze backend (`ocean_seabreeze`), the spectrograph + camera
combination (`spectrapro.SpectrographCamera`), or the simulated twins in `sim_devices`.

Two decisions shape the interface:

* **Exposures are checked before anything is sent** (`check_exposure_s`): an exposure outside the
  detector's limits raises `ExposureOutOfRangeError` (a ValueError) and the hardware keeps its
  setting — the SDKs either clamp silently or fail with an opaque error.
* **Saturation is data, not an exception**: `Spectrum.saturated` says that at least one pixel sat
  at the detector's full scale, so its counts (and any line ratio using it) are lower bounds. The
  bench decides whether that stops a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..validators import is_finite_real


class ExposureOutOfRangeError(ValueError):
    """An exposure outside the detector's limits was asked for; nothing was sent."""

    def __init__(self, message: str, *, exposure_s: float, limits_s: tuple[float, float]) -> None:
        super().__init__(message)
        self.exposure_s = exposure_s
        self.limits_s = limits_s


class WavelengthOutOfRangeError(ValueError):
    """A centre wavelength outside the range of the grating in place; nothing was sent."""

    def __init__(self, message: str, *, wavelength_nm: float,
                 limits_nm: tuple[float, float]) -> None:
        super().__init__(message)
        self.wavelength_nm = wavelength_nm
        self.limits_nm = limits_nm


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One exposure: counts per pixel and the wavelength (nm, at the pixel centre) of each pixel.

    `counts` are the detector's reading in ADC counts (offset and dark signal included unless the
    backend corrects them); `saturated` is True when at least one pixel reached the detector's full
    scale during this exposure.
    """

    wavelengths_nm: np.ndarray
    counts: np.ndarray
    exposure_s: float
    saturated: bool

    def __post_init__(self) -> None:
        wavelengths = np.array(self.wavelengths_nm, dtype=float)
        counts = np.array(self.counts, dtype=float)
        if wavelengths.ndim != 1 or wavelengths.shape != counts.shape:
            raise ValueError(f"wavelengths {wavelengths.shape} and counts {counts.shape} must be "
                             "1-D arrays of the same length")
        wavelengths.flags.writeable = False
        counts.flags.writeable = False
        object.__setattr__(self, "wavelengths_nm", wavelengths)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "exposure_s", float(self.exposure_s))
        object.__setattr__(self, "saturated", bool(self.saturated))

    @property
    def counts_per_s(self) -> np.ndarray:
        """Counts divided by the exposure."""
        return self.counts / self.exposure_s

    def window(self, low_nm: float, high_nm: float) -> np.ndarray:
        """Boolean mask of the pixels whose centre lies in [low_nm, high_nm]."""
        return (self.wavelengths_nm >= low_nm) & (self.wavelengths_nm <= high_nm)


def check_exposure_s(exposure_s: float, limits_s: tuple[float, float], name: str) -> float:
    """Return `exposure_s` as a float if it is a finite number within `limits_s` (inclusive);
    raise ExposureOutOfRangeError otherwise — never clamp."""
    low, high = limits_s
    if not is_finite_real(exposure_s):
        raise ExposureOutOfRangeError(f"{name}: exposure must be a finite number of seconds, got "
                                      f"{exposure_s!r}", exposure_s=exposure_s, limits_s=limits_s)
    if not low <= exposure_s <= high:
        raise ExposureOutOfRangeError(
            f"{name}: exposure {exposure_s:g} s is outside the detector's range {low:g} … "
            f"{high:g} s; nothing was sent", exposure_s=float(exposure_s), limits_s=limits_s)
    return float(exposure_s)


@runtime_checkable
class Spectrometer(Protocol):
    """What procedures use: a wavelength axis and exposures."""

    @property
    def identity(self) -> str:
        """Human-readable description (maker, model, serial number)."""

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        """Shortest and longest exposure the detector accepts, in s."""

    @property
    def max_intensity(self) -> float:
        """The reading of a saturated pixel (counts): procedures choose exposures against it,
        so a flooded detector is retaken shorter and refused rather than recorded."""

    def wavelengths_nm(self) -> np.ndarray:
        """Wavelength (nm) of each pixel centre, for the present configuration."""

    def acquire(self, exposure_s: float) -> Spectrum:
        """Expose for `exposure_s` (checked against `exposure_limits_s` before anything is sent)
        and return the spectrum."""

    def close(self) -> None:
        """Release the hardware."""


@runtime_checkable
class Camera(Protocol):
    """The detector behind a spectrograph, read as one line of pixels (full vertical binning).

    Pixel 0 is the short-wavelength end of the spectrum (mount or flip the camera accordingly).
    """

    @property
    def identity(self) -> str:
        """Human-readable description."""

    @property
    def pixels(self) -> int:
        """Number of pixels along the dispersion direction."""

    @property
    def pixel_pitch_um(self) -> float:
        """Pixel width along the dispersion direction, in µm."""

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        """Shortest and longest exposure, in s."""

    @property
    def max_counts(self) -> float:
        """The reading of a saturated pixel (ADC full scale, or the binned full well)."""

    def set_exposure_s(self, exposure_s: float) -> None:
        """Set the exposure of the following reads."""

    def read_line(self) -> np.ndarray:
        """Take one exposure and return the counts of every pixel (length `pixels`)."""

    def close(self) -> None:
        """Release the hardware."""
