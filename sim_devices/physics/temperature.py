"""Temperature scaling of phonon-coupled rates (PHYSICS.md §5).

Presets give every rate at a reference temperature T₀ (room temperature). Rather than the absolute
energy-gap law W = B·exp(−α(ΔE − 2ħω))·(1+n)^p, whose constants B and α are only "typical"
values, we scale the room-temperature rate by the change in phonon occupation, which needs only
the effective phonon energy ħω and the energy to be bridged:

* multiphonon relaxation across a gap ΔE: W(T) = W(T₀)·[(1+n(T))/(1+n(T₀))]^(ΔE/ħω);
* a phonon-assisted transfer or absorption whose energy surplus ΔE > 0 is *emitted* as phonons:
  the same factor with p = ΔE/ħω;
* one whose deficit |ΔE| (ΔE < 0) must be *absorbed* from the lattice: [n(T)/n(T₀)]^(|ΔE|/ħω).

The occupation is n(T) = 1/(exp(ħω/kT) − 1).
"""

from __future__ import annotations

import math

from .constants import BOLTZMANN_CM1_PER_K


def phonon_occupation(phonon_energy_cm1: float, temperature_K: float) -> float:
    """Bose–Einstein occupation n(T) of a phonon mode of energy ħω (cm⁻¹); 0 at T = 0."""
    if temperature_K <= 0.0:
        return 0.0
    x = phonon_energy_cm1 / (BOLTZMANN_CM1_PER_K * temperature_K)
    if x > 700.0:  # exp would overflow; the occupation is zero to double precision
        return 0.0
    return 1.0 / math.expm1(x)


def multiphonon_factor(gap_cm1: float, phonon_energy_cm1: float, temperature_K: float,
                       reference_K: float) -> float:
    """W(T)/W(T₀) for multiphonon relaxation across `gap_cm1` (energy-gap law, scaled form)."""
    return phonon_assisted_factor(gap_cm1, phonon_energy_cm1, temperature_K, reference_K)


def phonon_assisted_factor(mismatch_cm1: float, phonon_energy_cm1: float, temperature_K: float,
                           reference_K: float) -> float:
    """Rate(T)/Rate(T₀) for a process with energy mismatch ΔE (cm⁻¹).

    ΔE > 0: the surplus is emitted as phonons, factor [(1+n)/(1+n₀)]^(ΔE/ħω) (≥ 1/(1+n₀)^p at
    T → 0: the process survives cooling). ΔE < 0: the deficit is absorbed from the lattice,
    factor [n/n₀]^(|ΔE|/ħω), which freezes out at low temperature. ΔE = 0: no dependence.
    """
    if mismatch_cm1 == 0.0 or temperature_K == reference_K:
        return 1.0
    p = abs(mismatch_cm1) / phonon_energy_cm1
    n = phonon_occupation(phonon_energy_cm1, temperature_K)
    n0 = phonon_occupation(phonon_energy_cm1, reference_K)
    if mismatch_cm1 > 0.0:
        return ((1.0 + n) / (1.0 + n0)) ** p
    return (n / n0) ** p if n > 0.0 else 0.0
