"""The rate equations of a preset at one temperature, compiled to small numpy arrays.

Full state y: the level fractions of every species, concatenated in preset order (labels in
`RateModel.level_labels`). The rate equations are

    dy/dt = (A_decay + Φ·A_pump)·y + Σ_t S[:, t]·k_t·y[donor_t]·y[acceptor_t]

(docs/physics.md §1, "generic form"); every process moves population between levels of one species,
so Σ dy/dt over a species is zero by construction. The solvers work in **reduced coordinates** z
(every level except each species' ground level), with y = g + E·z, which makes conservation
exact (to rounding, ~1e-16) instead of a constraint to be enforced. In z the right-hand side is a
quadratic polynomial,

    f(z) = c(Φ) + M(Φ)·z + H:(z ⊗ z),   c = c0 + Φ·c1,  M = M0 + Φ·M1,

with the constant tensor H (m×m×m, m ≤ ~8). Everything is precomputed here once per
(preset, temperature), so a right-hand side costs three small numpy products, the Jacobian
J = M + G·z two (G = H + Hᵀ over the last two axes), and ∂f/∂Φ = c1 + M1·z is exact.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .preset import LevelRef, Preset
from .temperature import hot_band_factor, multiphonon_factor, phonon_assisted_factor


class RateModel:
    """Compiled rate equations of one preset at one temperature (see module docstring).

    Attributes in reduced coordinates (size m = levels − species): `c0, c1` (m,), `M0, M1`
    (m, m), `H, G` (m, m, m); `line_matrix` (lines × m) maps z to photons/s per ion of each
    line's species. `rates_per_s` records every process rate after temperature scaling.
    """

    def __init__(self, preset: Preset, temperature_K: float | None = None) -> None:
        self.preset = preset
        self.temperature_K = float(preset.reference_temperature_K if temperature_K is None
                                   else temperature_K)
        if not self.temperature_K > 0.0:
            raise ValueError(f"temperature must be positive, got {self.temperature_K} K")
        self.level_labels = preset.level_labels
        self.line_names = preset.line_names
        self.main_line_index = self.line_names.index(preset.main_line)
        self.flux_per_kW_cm2 = float(preset.photon_flux_per_cm2_s(1.0))

        index: dict[LevelRef, int] = {}
        ground: list[int] = []
        species_of: list[int] = []
        for s_idx, species in enumerate(preset.species):
            ground.append(len(index))
            for level in species.levels:
                index[LevelRef(species.name, level.name)] = len(index)
                species_of.append(s_idx)
        n_full = len(index)
        keep = np.array([i for i in range(n_full) if i not in ground], dtype=int)
        self.n_full, self.n_reduced = n_full, len(keep)
        self.index = index
        self.keep_indices = keep
        self.species_of_level = np.array(species_of, dtype=int)

        # y = g + E z
        g = np.zeros(n_full)
        g[ground] = 1.0
        E = np.zeros((n_full, len(keep)))
        for j, i in enumerate(keep):
            E[i, j] = 1.0
            E[ground[species_of[i]], j] = -1.0
        self.g, self.E = g, E
        #: Rows: species; sum of its non-ground fractions = species_sum @ z (≤ 1 physically).
        self.species_sum = np.array([[1.0 if species_of[i] == s else 0.0 for i in keep]
                                     for s in range(len(preset.species))])

        self.rates_per_s: dict[str, float] = {}
        self._build_full(preset, index)
        self._reduce()

    # --- construction --------------------------------------------------------------------
    def _temperature_arguments(self) -> tuple[float, float, float]:
        """(ħω in cm⁻¹, T, T₀) for the scaling functions of .temperature."""
        p = self.preset
        return p.phonon_energy_cm1, self.temperature_K, p.reference_temperature_K

    def _build_full(self, preset: Preset, index: dict[LevelRef, int]) -> None:
        hw, T, T0 = self._temperature_arguments()
        n_full = self.n_full
        A_decay = np.zeros((n_full, n_full))
        A_pump = np.zeros((n_full, n_full))
        A_pump_no_gsa = np.zeros((n_full, n_full))
        for d in preset.decays:
            rate = d.rate_per_s
            if d.kind == "multiphonon":
                rate *= multiphonon_factor(d.gap_cm1, hw, T, T0)
            i, f = index[d.initial], index[d.final]
            A_decay[f, i] += rate
            A_decay[i, i] -= rate
            key = f"{d.kind} {d.initial} -> {d.final.level}"
            self.rates_per_s[key] = self.rates_per_s.get(key, 0.0) + rate
        self.cross_sections_cm2: dict[str, float] = {}
        for t in preset.pump_transitions:
            sigma = t.cross_section_cm2 * phonon_assisted_factor(t.mismatch_cm1, hw, T, T0)
            if t.hot_band_ratio > 0.0:
                sigma *= hot_band_factor(t.hot_band_cm1, t.hot_band_ratio, T, T0)
            self.cross_sections_cm2[t.name] = sigma
            i, f = index[t.initial], index[t.final]
            for matrix in (A_pump, A_pump_no_gsa) if not preset.is_ground(t.initial) else (A_pump,):
                matrix[f, i] += sigma
                matrix[i, i] -= sigma
        n_t = len(preset.transfers)
        S = np.zeros((n_full, n_t))
        donor = np.zeros(n_t, dtype=int)
        acceptor = np.zeros(n_t, dtype=int)
        for col, tr in enumerate(preset.transfers):
            n_donor = preset.density_cm3(tr.donor_initial.species)
            n_acceptor = preset.density_cm3(tr.acceptor_initial.species)
            k = preset.transfer_rate_per_s(tr) * phonon_assisted_factor(tr.mismatch_cm1, hw, T, T0)
            self.rates_per_s[f"transfer {tr.name}"] = k
            ratio = n_donor / n_acceptor  # events per acceptor-species ion per donor-side event
            donor[col], acceptor[col] = index[tr.donor_initial], index[tr.acceptor_initial]
            S[index[tr.donor_initial], col] -= k
            S[index[tr.donor_final], col] += k
            S[index[tr.acceptor_initial], col] -= k * ratio
            S[index[tr.acceptor_final], col] += k * ratio
        W = np.zeros((len(preset.lines), n_full))
        for row, line in enumerate(preset.lines):
            W[row, index[line.upper]] = line.share * preset.radiative_rate_per_s(line.upper)
        self.A_decay, self.A_pump, self._A_pump_no_gsa = A_decay, A_pump, A_pump_no_gsa
        self.S, self.donor, self.acceptor, self.W_lines = S, donor, acceptor, W

    def _reduce(self) -> None:
        g, E, keep = self.g, self.E, self.keep_indices
        S, D, A = self.S, self.donor, self.acceptor
        gD, gA = g[D], g[A]
        ED, EA = E[D], E[A]
        self.c0 = (self.A_decay @ g + S @ (gD * gA))[keep]
        self.c1 = (self.A_pump @ g)[keep]
        self.M0 = (self.A_decay @ E + S @ (gD[:, None] * EA + gA[:, None] * ED))[keep]
        self.M1 = (self.A_pump @ E)[keep]
        self._M1_no_gsa = (self._A_pump_no_gsa @ E)[keep]
        self.H = np.einsum("it,tj,tl->ijl", S[keep], ED, EA)
        self.G = self.H + self.H.transpose(0, 2, 1)
        self.line_matrix = self.W_lines @ E  # W_lines @ g is 0: no line starts at a ground level

    # --- the equations -------------------------------------------------------------------
    def flux(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """Photon flux Φ (cm⁻² s⁻¹) for an intensity in kW/cm²."""
        return np.asarray(intensity_kW_cm2, dtype=float) * self.flux_per_kW_cm2

    def linear_terms(self, flux: float) -> tuple[np.ndarray, np.ndarray]:
        """(c, M) at a given photon flux: precompute once per flux in loops."""
        return self.c0 + flux * self.c1, self.M0 + flux * self.M1

    def rhs(self, z: np.ndarray, flux: float) -> np.ndarray:
        """dz/dt (s⁻¹) in reduced coordinates."""
        c, M = self.linear_terms(flux)
        return c + (M + self.H @ z) @ z

    def jacobian(self, z: np.ndarray, flux: float) -> np.ndarray:
        """Analytic ∂f/∂z (s⁻¹)."""
        return self.M0 + flux * self.M1 + self.G @ z

    def flux_derivative(self, z: np.ndarray) -> np.ndarray:
        """Exact ∂f/∂Φ (s⁻¹ per unit photon flux, i.e. cm²): the pump terms divided by Φ."""
        return self.c1 + self.M1 @ z

    def full_populations(self, z: np.ndarray) -> np.ndarray:
        """Level fractions y (…, n_full) from reduced coordinates z (…, m)."""
        return self.g + np.asarray(z) @ self.E.T

    def reduced(self, y: np.ndarray) -> np.ndarray:
        """Reduced coordinates of full populations (drops each species' ground level)."""
        return np.asarray(y, dtype=float)[..., self.keep_indices]

    def rhs_full(self, y: np.ndarray, flux: float) -> np.ndarray:
        """dy/dt for all levels, written directly from the process list (a cross-check of the
        reduced form; sums to zero over each species)."""
        return ((self.A_decay + flux * self.A_pump) @ y
                + self.S @ (y[self.donor] * y[self.acceptor]))

    def line_rates_per_ion(self, z: np.ndarray) -> np.ndarray:
        """Photons/s per ion of the line's species, for every line (last axis)."""
        return np.asarray(z) @ self.line_matrix.T

    def is_physical(self, z: np.ndarray, tol: float = 1e-12) -> bool:
        """All fractions in [−tol, 1 + tol] (the species' ground levels included)."""
        return bool(z.min() >= -tol and (self.species_sum @ z).max() <= 1.0 + tol)

    # --- derived quantities ---------------------------------------------------------------
    @staticmethod
    def _generalised_eigvals(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Φ with a·v = Φ·b·v. The decay matrix `a` is invertible for every physical preset
        (each level decays), so the problem is the ordinary one inv(a)·b·v = (1/Φ)·v, which
        numpy solves without importing scipy.linalg (a third of a second of start-up for
        every run that stores the sample's figures). A singular `a` falls back to scipy's
        QZ algorithm."""
        try:
            if np.linalg.cond(a) < 1e12:
                mu = np.linalg.eigvals(np.linalg.solve(a, b))
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(mu != 0, 1.0 / mu, np.inf)
        except np.linalg.LinAlgError:
            pass
        from scipy.linalg import eigvals  # lazy: only the singular case needs scipy

        return eigvals(a, b)

    def loop_threshold_kW_cm2(self) -> float:
        """Pump intensity where the dark state (GSA off, linearised) loses stability; NaN if never.

        Linearised at z = 0 the system is dz/dt = (M0 + Φ·M1')·z, M1' without ground-state
        absorption; its stability changes where det(M0 + Φ·M1') = 0, a generalised eigenvalue
        problem M0·v = Φ·(−M1')·v. The smallest positive real Φ is the loop threshold.
        """
        with np.errstate(all="ignore"):
            values = self._generalised_eigvals(self.M0, -self._M1_no_gsa)
        finite = values[np.isfinite(values)]
        real = finite[np.abs(finite.imag) <= 1e-9 * np.abs(finite.real)].real
        positive = real[real > 0.0]
        if positive.size == 0:
            return float("nan")
        return float(positive.min() / self.flux_per_kW_cm2)



@lru_cache(maxsize=64)
def _compile(preset: Preset, temperature_K: float) -> RateModel:
    return RateModel(preset, temperature_K)


def compile_model(preset: Preset | str, temperature_K: float | None = None) -> RateModel:
    """The compiled model of a preset (object or registered name) at a temperature (K; default:
    the preset's reference temperature). Cached per (preset, temperature)."""
    if isinstance(preset, str):
        from .registry import get_preset

        preset = get_preset(preset)
    T = float(preset.reference_temperature_K if temperature_K is None else temperature_K)
    return _compile(preset, T)
