"""Pump intensity at the sample for a Gaussian focus (docs/physics.md §6).

Photon-avalanche thresholds are quoted as *intensities* (kW/cm²), while the lab
measures *power* (a power meter before the objective, corrected for
transmission). The conversion depends on the focal spot, and the literature is
not consistent about it, so this module fixes one convention and states it:

* The excitation PSF is a Gaussian whose intensity FWHM equals λ/(2·NA) (close
  to the Airy value 0.51·λ/NA). Its 1/e² intensity radius is therefore
  ``w0 = λ / (2·NA·sqrt(2·ln 2))``.
* The intensity quoted is the **peak** (on-axis) intensity
  ``I0 = 2·P / (π·w0²)``. Some papers quote the mean ``P/(π·w0²)`` instead,
  which is a factor 2 lower: compare thresholds only after checking which one
  was used.

Reference values (docs/physics.md §6): 1064 nm / NA 1.49 -> w0 = 303 nm, 692 kW/cm²
per mW; 1450 nm / 1.49 -> 373 kW/cm² per mW; 852 nm / 1.45 -> 1022 kW/cm² per mW.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
from numpy.typing import NDArray

__all__ = ["gaussian_waist_um", "peak_intensity_kW_cm2", "power_for_intensity_W"]

#: Largest numerical aperture accepted: oil/solid-immersion objectives reach
#: ~1.49-1.57; anything above 1.6 is almost certainly a typo.
MAX_NUMERICAL_APERTURE = 1.6

_UM2_TO_CM2 = 1e-8  # 1 µm² = 1e-8 cm²
_W_TO_KW = 1e-3


def gaussian_waist_um(wavelength_nm: float, numerical_aperture: float) -> float:
    """1/e² intensity radius w0 (µm) of the Gaussian pump focus.

    ``w0 = λ / (2·NA·sqrt(2·ln 2))``, chosen so that the intensity FWHM of the
    Gaussian, ``w0·sqrt(2·ln 2)``, equals λ/(2·NA) — the usual diffraction-limited
    spot size — rather than matching the Airy disk's first zero. Example:
    1064 nm at NA 1.49 gives 0.303 µm (FWHM 357 nm).

    Args:
        wavelength_nm: pump vacuum wavelength in nm (> 0).
        numerical_aperture: objective NA, in (0, 1.6].

    Raises:
        ValueError: if the wavelength (nm) or NA is out of range.
    """
    wavelength_nm = float(wavelength_nm)
    numerical_aperture = float(numerical_aperture)
    if not (math.isfinite(wavelength_nm) and wavelength_nm > 0):
        raise ValueError(f"wavelength must be a finite value > 0 nm, got {wavelength_nm!r} nm")
    if not (math.isfinite(numerical_aperture) and 0 < numerical_aperture <= MAX_NUMERICAL_APERTURE):
        raise ValueError(
            f"numerical aperture (NA, dimensionless) must be in (0, {MAX_NUMERICAL_APERTURE}], "
            f"got {numerical_aperture!r}"
        )
    wavelength_um = wavelength_nm * 1e-3
    return wavelength_um / (2.0 * numerical_aperture * math.sqrt(2.0 * math.log(2.0)))


def _check_waist(waist_um: float) -> float:
    waist_um = float(waist_um)
    if not (math.isfinite(waist_um) and waist_um > 0):
        raise ValueError(f"beam waist w0 must be a finite value > 0 µm, got {waist_um!r} µm")
    return waist_um


def _check_non_negative(values: NDArray[np.float64], quantity: str, unit: str) -> None:
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{quantity} must be finite and >= 0 {unit}, got {values!r}")


@overload
def peak_intensity_kW_cm2(power_W: float, waist_um: float) -> float: ...
@overload
def peak_intensity_kW_cm2(power_W: NDArray[np.floating], waist_um: float) -> NDArray[np.float64]: ...
def peak_intensity_kW_cm2(power_W: float | NDArray[np.floating], waist_um: float) -> float | NDArray[np.float64]:
    """Peak (on-axis) intensity I0 = 2·P/(π·w0²) in kW/cm² for power P at the sample.

    The *peak* intensity is what a single nanoparticle sitting in the centre of
    the focus sees, hence what the S-curve analysis needs. It is twice the
    "mean" intensity P/(π·w0²) quoted by some papers. At 1064 nm / NA 1.49
    (w0 = 0.303 µm) this is 692 kW/cm² per mW, so the Tm threshold of
    ~5.3 kW/cm² is only ~7.7 µW at the focus.

    Args:
        power_W: optical power at the sample in W (>= 0); float or ndarray.
        waist_um: 1/e² intensity radius w0 in µm (> 0), e.g. from
            :func:`gaussian_waist_um`.

    Returns:
        Peak intensity in kW/cm², a float for scalar input, else an ndarray of
        the same shape.

    Raises:
        ValueError: if the power (W) is negative/non-finite or the waist (µm) is not > 0.
    """
    waist_um = _check_waist(waist_um)
    scalar = np.ndim(power_W) == 0
    power = np.asarray(power_W, dtype=float)
    _check_non_negative(power, "optical power", "W")
    intensity = 2.0 * power / (math.pi * waist_um**2 * _UM2_TO_CM2) * _W_TO_KW
    return float(intensity) if scalar else intensity


@overload
def power_for_intensity_W(intensity_kW_cm2: float, waist_um: float) -> float: ...
@overload
def power_for_intensity_W(intensity_kW_cm2: NDArray[np.floating], waist_um: float) -> NDArray[np.float64]: ...
def power_for_intensity_W(
    intensity_kW_cm2: float | NDArray[np.floating], waist_um: float
) -> float | NDArray[np.float64]:
    """Power at the sample (W) that gives peak intensity ``intensity_kW_cm2``.

    Inverse of :func:`peak_intensity_kW_cm2`: ``P = I0·π·w0²/2``. Used to turn
    an intensity sweep plan (thresholds are physics, in kW/cm²) into laser
    power set-points.

    Args:
        intensity_kW_cm2: peak intensity in kW/cm² (>= 0); float or ndarray.
        waist_um: 1/e² intensity radius w0 in µm (> 0).

    Returns:
        Power in W, a float for scalar input, else an ndarray of the same shape.

    Raises:
        ValueError: if the intensity (kW/cm²) is negative/non-finite or the waist (µm) is not > 0.
    """
    waist_um = _check_waist(waist_um)
    scalar = np.ndim(intensity_kW_cm2) == 0
    intensity = np.asarray(intensity_kW_cm2, dtype=float)
    _check_non_negative(intensity, "peak intensity", "kW/cm²")
    power = intensity / _W_TO_KW * math.pi * waist_um**2 * _UM2_TO_CM2 / 2.0
    return float(power) if scalar else power
