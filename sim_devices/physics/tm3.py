"""Reference implementation: the Tm³⁺ three-level equations of docs/physics.md §1, written by hand.

Levels: 0 = ³H₆ (ground), 1 = ³F₄ (reservoir), 2 = ³H₄ (emitter). Populations are fractions
of the Tm ions (n0 + n1 + n2 = 1), so the state is reduced to x = (n1, n2).

The simulated sample no longer uses this module: the general engine (`model.py`, presets in
``presets/*.toml``) computes every preset. This file is kept, unchanged in its equations, as an
independent transcription of §1 that the tests compare the engine against (the tm8_1064 preset
must reproduce it to ~1e-12), so a regression in the general code cannot silently shift the
default sample's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

PLANCK_J_S = 6.62607015e-34
LIGHT_SPEED_M_S = 2.99792458e8


@dataclass(frozen=True)
class Tm3Preset:
    """Parameters of the Tm³⁺ 3-level model. Rates in s⁻¹, cross-sections in cm²."""

    name: str
    description: str
    pump_wavelength_nm: float
    sigma_gsa_cm2: float
    sigma_esa_cm2: float
    w1_per_s: float
    w2_rad_per_s: float
    w2_nonrad_per_s: float
    branching_2_to_1: float
    s31_per_s: float
    q_up_per_s: float
    q_loss_per_s: float
    emission_wavelength_nm: float = 800.0
    ions_per_particle: int = 4600

    @property
    def beta(self) -> float:
        """ESA/GSA cross-section ratio σE/σG (the 'avalanche knob')."""
        return self.sigma_esa_cm2 / self.sigma_gsa_cm2

    def photon_flux_per_cm2_s(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """Pump photon flux Φ = I·λ/(hc) in photons cm⁻² s⁻¹."""
        photon_energy_J = PLANCK_J_S * LIGHT_SPEED_M_S / (self.pump_wavelength_nm * 1e-9)
        return np.asarray(intensity_kW_cm2) * 1e3 / photon_energy_J

    def emission_per_ion(self, n2: np.ndarray | float) -> np.ndarray | float:
        """Emitted 800-nm photons per second per ion: (1 − b)·W2r·n2."""
        return (1.0 - self.branching_2_to_1) * self.w2_rad_per_s * np.asarray(n2)

    def loop_threshold_kW_cm2(self) -> float:
        """Threshold convention 3 (docs/physics.md §1): linear stability of the nearly empty state."""
        w2 = self.w2_rad_per_s + self.w2_nonrad_per_s
        margin = self.s31_per_s - (1.0 - self.branching_2_to_1) * self.w2_rad_per_s
        if margin <= 0:
            return float("nan")  # no avalanche: CR too weak to close the loop
        esa_rate = self.w1_per_s * (w2 + self.s31_per_s) / margin
        flux = esa_rate / self.sigma_esa_cm2
        return float(flux / self.photon_flux_per_cm2_s(1.0))


TM_8PCT_1064_CALIBRATED = Tm3Preset(
    name="tm8_1064",
    description="Tm3+ 8 % NaYF4 core, 1064 nm pump, sigma_GSA calibrated for local S_max ~ 26 "
    "(Lee et al., Nature 589, 230 (2021) kinetics; docs/physics.md §2a)",
    pump_wavelength_nm=1064.0,
    sigma_gsa_cm2=2.1e-24,
    sigma_esa_cm2=6.4e-21,
    w1_per_s=162.6,
    w2_rad_per_s=636.0,
    w2_nonrad_per_s=6.02,
    branching_2_to_1=0.144,
    s31_per_s=10240.0,
    q_up_per_s=55.9,
    q_loss_per_s=158.9,
)

TM_8PCT_1064_LITERATURE = replace(
    TM_8PCT_1064_CALIBRATED,
    name="tm8_1064_literature",
    description="Tm3+ 8 % NaYF4, 1064 nm, literature sigma_GSA (beta = 1.07e4; docs/physics.md §2a)",
    sigma_gsa_cm2=6.0e-25,
)

REFERENCE_PRESETS: dict[str, Tm3Preset] = {
    p.name: p for p in (TM_8PCT_1064_CALIBRATED, TM_8PCT_1064_LITERATURE)
}


class SteadyStateError(RuntimeError):
    """The steady state could not be found (Newton and the time-integration fallback failed)."""


def rates(preset: Tm3Preset, x: np.ndarray, flux: float) -> np.ndarray:
    """Right-hand side d(n1, n2)/dt of the rate equations (s⁻¹)."""
    p = preset
    n1, n2 = x
    n0 = 1.0 - n1 - n2
    f1 = (
        p.sigma_gsa_cm2 * flux * n0
        - p.sigma_esa_cm2 * flux * n1
        - p.w1_per_s * n1
        + (p.branching_2_to_1 * p.w2_rad_per_s + p.w2_nonrad_per_s) * n2
        + 2.0 * p.s31_per_s * n0 * n2
        - (p.q_loss_per_s + 2.0 * p.q_up_per_s) * n1 * n1
    )
    f2 = (
        p.sigma_esa_cm2 * flux * n1
        - (p.w2_rad_per_s + p.w2_nonrad_per_s) * n2
        - p.s31_per_s * n0 * n2
        + p.q_up_per_s * n1 * n1
    )
    return np.array([f1, f2])


def jacobian(preset: Tm3Preset, x: np.ndarray, flux: float) -> np.ndarray:
    """Analytic Jacobian ∂f/∂(n1, n2), with n0 = 1 − n1 − n2 eliminated."""
    p = preset
    n1, n2 = x
    n0 = 1.0 - n1 - n2
    gsa, esa = p.sigma_gsa_cm2 * flux, p.sigma_esa_cm2 * flux
    etu = p.q_loss_per_s + 2.0 * p.q_up_per_s
    return np.array(
        [
            [
                -gsa - esa - p.w1_per_s - 2.0 * p.s31_per_s * n2 - 2.0 * etu * n1,
                -gsa + p.branching_2_to_1 * p.w2_rad_per_s + p.w2_nonrad_per_s
                + 2.0 * p.s31_per_s * (n0 - n2),
            ],
            [
                esa + p.s31_per_s * n2 + 2.0 * p.q_up_per_s * n1,
                -(p.w2_rad_per_s + p.w2_nonrad_per_s) - p.s31_per_s * (n0 - n2),
            ],
        ]
    )


def flux_derivative(preset: Tm3Preset, x: np.ndarray) -> np.ndarray:
    """∂f/∂Φ, used for the exact slope by implicit differentiation."""
    n1, n2 = x
    n0 = 1.0 - n1 - n2
    return np.array(
        [preset.sigma_gsa_cm2 * n0 - preset.sigma_esa_cm2 * n1, preset.sigma_esa_cm2 * n1]
    )


def _newton(preset: Tm3Preset, x0: np.ndarray, flux: float) -> np.ndarray | None:
    x = x0.copy()
    for _ in range(60):
        f = rates(preset, x, flux)
        step = np.linalg.solve(jacobian(preset, x, flux), -f)
        # Damp steps that would leave the physical simplex.
        scale = 1.0
        while scale > 1e-6:
            trial = x + scale * step
            if trial.min() >= -1e-15 and trial.sum() <= 1.0 + 1e-15:
                break
            scale *= 0.5
        x = x + scale * step
        if np.max(np.abs(scale * step)) < 1e-14 + 1e-11 * np.max(np.abs(x)):
            return x
    return None


def _integrate_to_steady(preset: Tm3Preset, x0: np.ndarray, flux: float) -> np.ndarray:
    from scipy.integrate import solve_ivp  # imported lazily: scipy is heavy

    sol = solve_ivp(
        lambda _t, y: rates(preset, y, flux),
        (0.0, 60.0),
        x0,
        method="LSODA",
        jac=lambda _t, y: jacobian(preset, y, flux),
        rtol=1e-10,
        atol=1e-14,
    )
    if not sol.success:
        raise SteadyStateError(f"time integration failed at flux {flux:.3g}: {sol.message}")
    x = _newton(preset, sol.y[:, -1], flux)
    if x is None:
        raise SteadyStateError(f"no steady state at flux {flux:.3g} cm^-2 s^-1")
    return x


@dataclass(frozen=True)
class SteadyStateCurve:
    """Steady state versus pump intensity, with the exact local slope S(I)."""

    intensity_kW_cm2: np.ndarray
    populations: np.ndarray  # shape (N, 3): n0, n1, n2
    emission_per_ion: np.ndarray  # photons/s per ion (800 nm line)
    slope: np.ndarray  # exact d ln(emission) / d ln(I)


def steady_state_curve(preset: Tm3Preset, intensity_kW_cm2: np.ndarray) -> SteadyStateCurve:
    """Steady state at increasing intensities by Newton continuation.

    Each point is seeded with the previous solution (continuing upward in power): Newton
    from the dark state at high power can land on a wrong root (docs/physics.md §8). LSODA with
    the analytic Jacobian is the fallback when Newton does not converge.
    """
    intensities = np.asarray(intensity_kW_cm2, dtype=float)
    if intensities.ndim != 1 or np.any(np.diff(intensities) <= 0) or intensities[0] <= 0:
        raise ValueError("intensity_kW_cm2 must be positive and strictly increasing")
    fluxes = preset.photon_flux_per_cm2_s(intensities)
    pops = np.empty((len(intensities), 3))
    slope = np.empty(len(intensities))
    x = np.zeros(2)
    for i, flux in enumerate(fluxes):
        solved = _newton(preset, x, float(flux))
        x = solved if solved is not None else _integrate_to_steady(preset, x, float(flux))
        dx_dflux = np.linalg.solve(jacobian(preset, x, flux), -flux_derivative(preset, x))
        slope[i] = flux * dx_dflux[1] / x[1]
        pops[i] = (1.0 - x.sum(), x[0], x[1])
    return SteadyStateCurve(
        intensity_kW_cm2=intensities,
        populations=pops,
        emission_per_ion=np.asarray(preset.emission_per_ion(pops[:, 2])),
        slope=slope,
    )
