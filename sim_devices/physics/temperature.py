"""Temperature scaling of phonon-coupled rates (docs/physics.md §5).

Presets give every rate at a reference temperature T₀ (room temperature). Rather than the absolute
energy-gap law W = B·exp(−α(ΔE − 2ħω))·(1+n)^p, whose constants B and α are only "typical"
values, we scale the room-temperature rate by the change in phonon occupation, which needs only
the effective phonon energy ħω and the energy to be bridged:

* multiphonon relaxation across a gap ΔE: W(T) = W(T₀)·[(1+n(T))/(1+n(T₀))]^(ΔE/ħω);
* a phonon-assisted transfer or absorption whose energy surplus ΔE > 0 is *emitted* as phonons:
  the same factor with p = ΔE/ħω;
* one whose deficit |ΔE| (ΔE < 0) must be *absorbed* from the lattice: [n(T)/n(T₀)]^(|ΔE|/ħω).

The occupation is n(T) = 1/(exp(ħω/kT) − 1).

A phonon-assisted absorption can also start from thermally populated Stark levels of the
initial multiplet ("hot band", docs/physics.md §5 mentions a crude one for Tm GSA at 1064 nm). We model
one such level at E above the ground with a per-ion cross-section r times the ground level's:
σ(T)/σ(T₀) gains the factor (1 + r·e^(−E/kT))/(1 + r·e^(−E/kT₀)) (a two-level Boltzmann
weighting that keeps the ground level's own absorption as the floor at T → 0).
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


def hot_band_factor(hot_band_cm1: float, ratio: float, temperature_K: float,
                    reference_K: float) -> float:
    """σ(T)/σ(T₀) from a hot band at `hot_band_cm1` (cm⁻¹) with relative strength `ratio`."""
    def weight(T: float) -> float:
        x = hot_band_cm1 / (BOLTZMANN_CM1_PER_K * T) if T > 0.0 else math.inf
        return 1.0 + ratio * (math.exp(-x) if x < 700.0 else 0.0)

    return weight(temperature_K) / weight(reference_K)
