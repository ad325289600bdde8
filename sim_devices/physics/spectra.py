"""Emission spectra of a preset: its lines, from level populations, as Gaussians (docs/physics.md §4).

A simulated spectrometer needs what the counter does not: every line of the sample, not only
the main one, with a shape. The spectrometer model of §4 (an assumption) is used:

* **line intensity** (photons/s per ion) = share × radiative rate of the upper level ×
  population, for every ``[[line]]`` of the preset (the numbers the rate equations use), plus the
  weak ``[[derived_line]]`` entries from levels the rate equations do not carry (Tm ¹G₄ 475 nm
  "one more pump photon", Nd ⁴F₅/₂ "thermally fed"; see `preset.DerivedLine`);
* **shape**: a Gaussian of unit area centred at the line's wavelength;
* **width**: FWHM(T) = w_low + (w_ref − w_low) · n(T)/n(T_ref), n(T) = 1/(e^(E/kT) − 1), with
  w_ref = `fwhm_nm` at the preset's reference temperature, w_low = `fwhm_low_T_nm` (T → 0) and
  E = the preset's `line_width_energy_cm1` (150 cm⁻¹ by default, the scale of Stark splittings
  in NaYF₄: our choice). With E = 150 cm⁻¹ the excess width is 7 % of its room-temperature value
  at 77 K and < 2 % below 50 K — the lines are at their low-T limit, "a few nm" (§4) — and grows
  about linearly with T above room temperature, as homogeneous widths do.

**Units.** Every intensity here is in photons/s **per ion of the main line's species** (per Tm
ion for Tm presets, per Pr ion for Pr/Yb): a line of another species (Yb 1000 nm) is converted
with the ion counts of the particle, so that lines add up and photons/s per particle = value ×
`preset.ions_per_particle`. For single-species presets this is the unit of `EmissionTable`.
Spectral densities are in photons s⁻¹ nm⁻¹ per ion (wavelength in nm, vacuum).

Steady-state spectra use the exact steady state (Newton from the cached emission table, tens of
µs); transient spectra come from any populations, e.g. `ParticleDynamics.populations`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .constants import BOLTZMANN_CM1_PER_K
from .model import compile_model
from .preset import Preset
from .registry import get_preset
from .temperature import phonon_assisted_factor, phonon_occupation

#: Gaussian FWHM / standard deviation.
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def line_fwhm_nm(fwhm_nm: float, fwhm_low_T_nm: float, temperature_K: float, *,
                 reference_K: float, width_energy_cm1: float) -> float:
    """Line FWHM (nm) at `temperature_K` from its value at `reference_K` and its T → 0 limit.

    FWHM(T) = w_low + (w_ref − w_low)·n(T)/n(T_ref), n the Bose occupation of `width_energy_cm1`
    (module docstring): equal to `fwhm_nm` at the reference temperature, to `fwhm_low_T_nm` at
    T → 0, and monotonic in T in between.
    """
    n_ref = phonon_occupation(width_energy_cm1, reference_K)
    n = phonon_occupation(width_energy_cm1, temperature_K)
    return fwhm_low_T_nm + (fwhm_nm - fwhm_low_T_nm) * (n / n_ref if n_ref > 0.0 else 0.0)


@dataclass(frozen=True, eq=False)
class Spectrum:
    """The lines of a preset at one moment: positions, widths and intensities.

    `photons_per_s` is per ion of the preset's main-line species (module docstring);
    `total_photons_per_s` is their sum, which is also the integral of `density` over all
    wavelengths.
    """

    preset_name: str
    temperature_K: float
    names: tuple[str, ...]
    wavelength_nm: np.ndarray
    fwhm_nm: np.ndarray
    photons_per_s: np.ndarray

    def as_dict(self) -> dict[str, float]:
        """Line name → photons/s per ion."""
        return {name: float(v) for name, v in zip(self.names, self.photons_per_s)}

    def of(self, line: str) -> float:
        """Photons/s per ion on one line."""
        try:
            return float(self.photons_per_s[self.names.index(line)])
        except ValueError:
            raise KeyError(f"no line {line!r} in {self.preset_name}; lines: "
                           f"{', '.join(self.names)}") from None

    @property
    def total_photons_per_s(self) -> float:
        return float(np.sum(self.photons_per_s))

    def density(self, wavelengths_nm: np.ndarray | float, *,
                resolution_nm: float = 0.0) -> np.ndarray:
        """Spectral density (photons s⁻¹ nm⁻¹ per ion) at the given wavelengths (nm).

        `resolution_nm` is the FWHM of a Gaussian instrument function; it adds in quadrature to
        every line width (the convolution of two Gaussians), keeping each line's area.
        """
        if resolution_nm < 0:
            raise ValueError(f"resolution_nm must not be negative, got {resolution_nm}")
        wl = np.asarray(wavelengths_nm, dtype=float)
        sigma = np.sqrt(self.fwhm_nm**2 + resolution_nm**2) / _FWHM_PER_SIGMA
        offset = (wl[..., None] - self.wavelength_nm) / sigma
        peak = self.photons_per_s / (sigma * math.sqrt(2.0 * math.pi))
        return np.sum(peak * np.exp(-0.5 * offset**2), axis=-1)


class SpectrumModel:
    """The line table of one preset at one temperature, compiled to two matrices.

    Photons/s per main-species ion of every line = (R + Φ·P) @ y, with y the full level
    fractions (order `level_labels`) and Φ the pump photon flux: R holds the ordinary and
    thermally fed lines, P the pumped ("higher-order") derived lines. Build it with
    :func:`spectrum_model` (cached per preset and temperature).
    """

    def __init__(self, preset: Preset, temperature_K: float) -> None:
        model = compile_model(preset, temperature_K)
        self.preset, self.temperature_K = preset, model.temperature_K
        self.level_labels = model.level_labels
        self.flux_per_kW_cm2 = model.flux_per_kW_cm2
        T, T0 = self.temperature_K, preset.reference_temperature_K
        main_species = preset.line_named(preset.main_line).upper.species
        main_ions = preset.ions_of(main_species)

        def per_main_ion(species: str) -> float:
            return preset.ions_of(species) / main_ions

        names, centres, widths = [], [], []
        rows_r, rows_p = [], []
        for row, line in enumerate(preset.lines):
            names.append(line.name)
            centres.append(line.wavelength_nm)
            widths.append((line.fwhm_nm, line.fwhm_low_T_nm))
            rows_r.append(model.W_lines[row] * per_main_ion(line.upper.species))
            rows_p.append(np.zeros(model.n_full))
        for line in preset.derived_lines:
            names.append(line.name)
            centres.append(line.wavelength_nm)
            widths.append((line.fwhm_nm, line.fwhm_low_T_nm))
            r, p = np.zeros(model.n_full), np.zeros(model.n_full)
            column, scale = model.index[line.base], per_main_ion(line.base.species)
            if line.kind == "pumped":
                sigma = line.cross_section_cm2 * phonon_assisted_factor(
                    line.mismatch_cm1, preset.phonon_energy_cm1, T, T0)
                p[column] = line.photon_yield * sigma * scale
            else:  # thermal: Boltzmann population of a level gap_cm1 above the base level
                boltzmann = math.exp(-line.gap_cm1 / (BOLTZMANN_CM1_PER_K * T))
                r[column] = line.rate_per_s * boltzmann * scale
            rows_r.append(r)
            rows_p.append(p)
        self.names: tuple[str, ...] = tuple(names)
        self.wavelength_nm = np.array(centres)
        self.fwhm_nm = np.array([
            line_fwhm_nm(w, low, T, reference_K=T0,
                         width_energy_cm1=preset.line_width_energy_cm1) for w, low in widths])
        self.rate_matrix = np.array(rows_r)  # (lines, levels), s⁻¹
        self.flux_matrix = np.array(rows_p)  # (lines, levels), cm² (per unit photon flux)

    def line_rates(self, populations: np.ndarray, intensity_kW_cm2: float = 0.0) -> np.ndarray:
        """Photons/s per main-species ion of every line (last axis, order `names`) from full
        level fractions (…, levels) under the pump intensity (kW/cm²) acting at that moment."""
        y = np.asarray(populations, dtype=float)
        flux = float(intensity_kW_cm2) * self.flux_per_kW_cm2
        return y @ (self.rate_matrix + flux * self.flux_matrix).T

    def spectrum(self, populations: np.ndarray, intensity_kW_cm2: float = 0.0) -> Spectrum:
        return Spectrum(self.preset.name, self.temperature_K, self.names, self.wavelength_nm,
                        self.fwhm_nm, self.line_rates(populations, intensity_kW_cm2))


def _resolve(preset: Preset | str) -> Preset:
    return get_preset(preset) if isinstance(preset, str) else preset


def spectrum_model(preset: Preset | str, temperature_K: float | None = None) -> SpectrumModel:
    """The compiled line table of a preset (object or shipped name) at a temperature (K;
    default: the preset's reference temperature). Cached."""
    p = _resolve(preset)
    return _cached_model(p, float(p.reference_temperature_K if temperature_K is None
                                  else temperature_K))


@lru_cache(maxsize=64)
def _cached_model(preset: Preset, temperature_K: float) -> SpectrumModel:
    return SpectrumModel(preset, temperature_K)


def steady_populations(preset: Preset | str, intensity_kW_cm2: float,
                       temperature_K: float | None = None) -> np.ndarray:
    """Exact steady-state level fractions (order `preset.level_labels`) at one intensity (kW/cm²).

    Newton from the cached emission table's interpolated state (continuation from the dark
    state as fallback), so it is the rate equations' fixed point, not a table interpolation.
    """
    from .dynamics import ParticleDynamics

    particle = ParticleDynamics(_resolve(preset), temperature_K)
    particle.set_steady_state(float(intensity_kW_cm2))
    return particle.populations


def spectrum_from_populations(preset: Preset | str, populations: np.ndarray,
                              intensity_kW_cm2: float = 0.0, *,
                              temperature_K: float | None = None) -> Spectrum:
    """The lines emitted by given level fractions (e.g. `ParticleDynamics.populations` during a
    rise or decay) while the pump is at `intensity_kW_cm2` (which only the pumped derived lines
    need; 0 after switch-off)."""
    return spectrum_model(preset, temperature_K).spectrum(populations, intensity_kW_cm2)


def line_spectrum(preset: Preset | str, intensity_kW_cm2: float,
                  temperature_K: float | None = None) -> Spectrum:
    """The steady-state lines of a preset at a pump intensity (kW/cm²) and temperature (K)."""
    populations = steady_populations(preset, intensity_kW_cm2, temperature_K)
    return spectrum_from_populations(preset, populations, intensity_kW_cm2,
                                     temperature_K=temperature_K)


def line_intensities(preset: Preset | str, intensity_kW_cm2: float,
                     temperature_K: float | None = None) -> dict[str, float]:
    """Line name → steady-state photons/s per ion of the main-line species (module docstring).

    The main line equals `emission_table(preset, temperature_K).emission_per_ion` (exactly on
    the table grid; the table interpolates between its points).
    """
    return line_spectrum(preset, intensity_kW_cm2, temperature_K).as_dict()


def emission_spectrum(preset: Preset | str, intensity_kW_cm2: float,
                      wavelengths_nm: np.ndarray, *, temperature_K: float | None = None,
                      resolution_nm: float = 0.0) -> np.ndarray:
    """Steady-state spectral density (photons s⁻¹ nm⁻¹ per main-species ion) at the given
    wavelengths (nm), pump intensity (kW/cm²) and temperature (K); `resolution_nm` is the FWHM
    of the spectrometer's Gaussian instrument function."""
    return line_spectrum(preset, intensity_kW_cm2, temperature_K).density(
        wavelengths_nm, resolution_nm=resolution_nm)
