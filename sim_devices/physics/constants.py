"""Physical constants and host defaults used by the rate-equation engine (SI unless named)."""

from __future__ import annotations

import numpy as np

PLANCK_J_S = 6.62607015e-34
LIGHT_SPEED_M_S = 2.99792458e8
#: Boltzmann constant in wavenumbers per kelvin (k_B / (h c)), so that ħω/kT = E_cm1 / (K·T).
BOLTZMANN_CM1_PER_K = 0.695034800

#: Rare-earth site density of β-NaYF₄ (cm⁻³), the value used by public NaYF₄ models (docs/physics.md §2).
NAYF4_SITE_DENSITY_CM3 = 1.38e22
#: Default effective phonon energy of β-NaYF₄ (cm⁻¹), docs/physics.md §5.
NAYF4_PHONON_ENERGY_CM1 = 350.0
#: Temperature at which preset rates are given unless a preset says otherwise (K).
ROOM_TEMPERATURE_K = 295.0


def photon_energy_J(wavelength_nm: float) -> float:
    """Energy of one photon of the given vacuum wavelength, in J."""
    return PLANCK_J_S * LIGHT_SPEED_M_S / (wavelength_nm * 1e-9)


def photon_flux_per_cm2_s(intensity_kW_cm2: np.ndarray | float,
                          wavelength_nm: float) -> np.ndarray | float:
    """Pump photon flux Φ = I·λ/(hc) in photons cm⁻² s⁻¹ for an intensity in kW/cm²."""
    return np.asarray(intensity_kW_cm2, dtype=float) * 1e3 / photon_energy_J(wavelength_nm)
