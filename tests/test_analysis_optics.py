"""Tests for avlab.analysis.optics: Gaussian focus and peak intensity (docs/physics.md §6)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avlab.analysis.optics import gaussian_waist_um, peak_intensity_kW_cm2, power_for_intensity_W

# docs/physics.md §6 table: pump (nm), NA, excitation FWHM (nm), w0 (nm), kW/cm² per mW (peak).
PHYSICS_TABLE = [
    (1064.0, 1.49, 357.0, 303.0, 692.0),
    (1450.0, 1.49, 487.0, 413.0, 373.0),
    (852.0, 1.45, 294.0, 250.0, 1022.0),
]


@pytest.mark.parametrize(("wavelength", "na", "fwhm_nm", "w0_nm", "per_mW"), PHYSICS_TABLE)
def test_physics_table(wavelength: float, na: float, fwhm_nm: float, w0_nm: float, per_mW: float) -> None:
    w0 = gaussian_waist_um(wavelength, na)
    assert w0 * 1e3 == pytest.approx(w0_nm, abs=0.5)
    # The convention: intensity FWHM of the Gaussian equals λ/(2 NA).
    assert w0 * math.sqrt(2 * math.log(2)) * 1e3 == pytest.approx(wavelength / (2 * na), rel=1e-12)
    assert w0 * math.sqrt(2 * math.log(2)) * 1e3 == pytest.approx(fwhm_nm, abs=0.5)
    assert peak_intensity_kW_cm2(1e-3, w0) == pytest.approx(per_mW, abs=0.5)


def test_tm_threshold_is_a_few_microwatts() -> None:
    # docs/physics.md §6: the 5.3 kW/cm² Tm threshold is only ≈7.7 µW at the focus (1064 nm, NA 1.49).
    w0 = gaussian_waist_um(1064, 1.49)
    assert power_for_intensity_W(5.33, w0) * 1e6 == pytest.approx(7.7, abs=0.05)


def test_peak_is_twice_the_mean_intensity() -> None:
    w0 = 0.5
    mean_kW_cm2 = 2e-3 / (math.pi * (w0 * 1e-4) ** 2) / 1e3
    assert peak_intensity_kW_cm2(2e-3, w0) == pytest.approx(2 * mean_kW_cm2, rel=1e-12)


def test_scalar_in_scalar_out_array_in_array_out() -> None:
    w0 = gaussian_waist_um(1064, 1.49)
    assert isinstance(peak_intensity_kW_cm2(1e-3, w0), float)
    assert isinstance(power_for_intensity_W(5.0, w0), float)
    powers = np.array([[0.0, 1e-6], [1e-5, 1e-3]])
    intensities = peak_intensity_kW_cm2(powers, w0)
    assert isinstance(intensities, np.ndarray)
    assert intensities.shape == powers.shape
    np.testing.assert_allclose(intensities, 692.2848887711317 * powers * 1e3, rtol=1e-12)


def test_round_trip() -> None:
    w0 = gaussian_waist_um(852, 1.45)
    power = np.geomspace(1e-9, 1e-1, 25)
    np.testing.assert_allclose(power_for_intensity_W(peak_intensity_kW_cm2(power, w0), w0), power, rtol=1e-13)
    intensity = np.geomspace(0.1, 1e4, 17)
    np.testing.assert_allclose(peak_intensity_kW_cm2(power_for_intensity_W(intensity, w0), w0), intensity, rtol=1e-13)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: gaussian_waist_um(0.0, 1.4), "nm"),
        (lambda: gaussian_waist_um(-1064.0, 1.4), "wavelength"),
        (lambda: gaussian_waist_um(float("nan"), 1.4), "wavelength"),
        (lambda: gaussian_waist_um(1064.0, 0.0), "numerical aperture"),
        (lambda: gaussian_waist_um(1064.0, 1.7), "(0, 1.6]"),
        (lambda: peak_intensity_kW_cm2(1e-3, 0.0), "µm"),
        (lambda: peak_intensity_kW_cm2(1e-3, -0.3), "waist"),
        (lambda: peak_intensity_kW_cm2(-1e-3, 0.3), "W"),
        (lambda: peak_intensity_kW_cm2(np.array([1e-3, np.nan]), 0.3), "power"),
        (lambda: power_for_intensity_W(5.0, 0.0), "µm"),
        (lambda: power_for_intensity_W(-5.0, 0.3), "kW/cm²"),
    ],
)
def test_invalid_inputs_name_quantity_and_unit(call, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert fragment in str(info.value)


def test_na_upper_bound_inclusive() -> None:
    assert gaussian_waist_um(1064, 1.6) > 0
