"""Figures of merit of a sample without a bench: what `avlab model` prints.

`predict(preset, temperature_K)` solves the steady state on a coarse log grid (7 decades,
30 points per decade), refines the S peak with exact slopes, and finds the peak of the rise
time t½ just above the threshold (rise_batch: the samples of a series together, numpy only —
no scipy import). It is built for series over a design parameter (concentration,
temperature): ~50 ms per sample, without the 1,500-point table the simulated bench caches. The S peak agrees with `EmissionTable.s_max_refined` to ~1e-4.

Definitions (docs/physics.md, "Conventions and units"): threshold by the S peak (convention 1),
by the tangent at the S peak meeting the low-power asymptote (convention 2), by loop stability
(convention 3); PA gain G₂ = I_em(2·I_th)/I_em(I_th) with I_th the S-peak intensity; t½ from
the dark state; PASSI spot FWHM = λ/(2·NA·√S_max) (an ideal point emitter whose emission goes
as I^S under a Gaussian focus of FWHM λ/(2·NA)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .model import RateModel, compile_model
from .preset import Preset
from .rise_batch import rise_time_peaks
from .steady import steady_state_curve
from .table import parabola_vertex, peak_index

#: Grid of the coarse steady-state solve (kW/cm²); the same span as the bench's tables.
GRID_MIN_KW_CM2 = 1e-3
GRID_MAX_KW_CM2 = 1e4
GRID_POINTS_PER_DECADE = 30
#: Below this S_max there is no avalanche worth a threshold (an ordinary 2-photon curve).
MIN_AVALANCHE_SLOPE = 3.0


@dataclass(frozen=True)
class Prediction:
    """What one sample does at one temperature (NaN where there is no avalanche)."""

    preset_name: str
    temperature_K: float
    s_max: float
    threshold_s_peak_kW_cm2: float
    threshold_tangent_kW_cm2: float
    threshold_loop_kW_cm2: float
    pa_gain_2x: float  # I_em(2·I_th)/I_em(I_th)
    rise_half_time_peak_s: float
    rise_half_time_peak_kW_cm2: float
    spot_fwhm_nm: float  # λ/(2·NA·√S_max)
    ions_per_particle: int
    numerical_aperture: float
    wavelength_nm: float

    @property
    def avalanche(self) -> bool:
        return math.isfinite(self.s_max) and self.s_max >= MIN_AVALANCHE_SLOPE


def passi_spot_fwhm_nm(wavelength_nm: float, numerical_aperture: float, slope: float) -> float:
    """FWHM (nm) of a PA particle's image: the excitation FWHM λ/(2·NA) narrowed by √S."""
    return wavelength_nm / (2.0 * numerical_aperture * math.sqrt(slope))


def predict(preset: Preset, temperature_K: float | None = None, *,
            numerical_aperture: float = 1.49, wavelength_nm: float | None = None,
            rise_time: bool = True) -> Prediction:
    """Figures of merit of `preset` at `temperature_K` (default: its reference temperature).

    `wavelength_nm` (default: the preset's pump) and `numerical_aperture` only set the spot
    size; the rate equations use the preset's pump wavelength. `rise_time=False` skips the t½
    search (the slowest part).
    """
    return predict_many([Sample(preset, temperature_K, numerical_aperture, wavelength_nm)],
                        rise_time=rise_time)[0]


@dataclass(frozen=True)
class Sample:
    """One design point of a series: a preset (with its overrides applied) and conditions."""

    preset: Preset
    temperature_K: float | None = None
    numerical_aperture: float = 1.49
    wavelength_nm: float | None = None


def predict_many(samples: Sequence[Sample], *, rise_time: bool = True) -> list[Prediction]:
    """`predict` for every sample; the t½ peaks of all of them are searched together
    (rise_batch.rise_time_peaks: numpy only, one batch of integrations per search stage)."""
    done = [_steady_figures(s.preset, s.temperature_K, numerical_aperture=s.numerical_aperture,
                            wavelength_nm=s.wavelength_nm) for s in samples]
    predictions = [p for p, _ in done]
    if not rise_time:
        return predictions
    todo = [i for i, p in enumerate(predictions) if math.isfinite(p.threshold_s_peak_kW_cm2)]
    peaks = rise_time_peaks([done[i][1] for i in todo],
                            [predictions[i].threshold_s_peak_kW_cm2 for i in todo])
    for i, (t_half, i_half) in zip(todo, peaks):
        predictions[i] = replace(predictions[i], rise_half_time_peak_s=t_half,
                                 rise_half_time_peak_kW_cm2=i_half)
    return predictions


def _steady_figures(preset: Preset, temperature_K: float | None = None, *,
                    numerical_aperture: float = 1.49, wavelength_nm: float | None = None
                    ) -> tuple[Prediction, RateModel]:
    """The Prediction without t½ (NaN there), and the compiled model."""
    T = float(preset.reference_temperature_K if temperature_K is None else temperature_K)
    wavelength = float(preset.pump_wavelength_nm if wavelength_nm is None else wavelength_nm)
    model = compile_model(preset, T)
    decades = math.log10(GRID_MAX_KW_CM2 / GRID_MIN_KW_CM2)
    grid = np.geomspace(GRID_MIN_KW_CM2, GRID_MAX_KW_CM2, int(decades * GRID_POINTS_PER_DECADE) + 1)
    curve = steady_state_curve(model, grid, numpy_only=True)
    slope, emission = curve.slope, curve.emission_per_ion
    loop = float(preset.loop_threshold_kW_cm2(T))
    nan = float("nan")
    common = dict(preset_name=preset.name, temperature_K=T, threshold_loop_kW_cm2=loop,
                  ions_per_particle=preset.ions_per_particle,
                  numerical_aperture=numerical_aperture, wavelength_nm=wavelength)
    k = peak_index(slope)
    if slope[k] < MIN_AVALANCHE_SLOPE or k in (1, len(grid) - 2):
        return Prediction(s_max=float(slope[k]), threshold_s_peak_kW_cm2=nan,
                          threshold_tangent_kW_cm2=nan, pa_gain_2x=nan,
                          rise_half_time_peak_s=nan, rise_half_time_peak_kW_cm2=nan,
                          spot_fwhm_nm=nan, **common), model
    # S peak: exact slopes on a dense grid across the two cells around the grid maximum.
    dense = np.geomspace(grid[k - 1], grid[k + 1], 41)
    near = steady_state_curve(model, dense, z_start=model.reduced(curve.populations[k - 1]),
                              numpy_only=True)
    j = peak_index(near.slope)
    log_i_peak, s_max = parabola_vertex(np.log(dense[j - 1:j + 2]), near.slope[j - 1:j + 2])
    i_peak = float(np.exp(log_i_peak))
    log_y_peak = float(np.interp(log_i_peak, np.log(dense), np.log(near.emission_per_ion)))
    # Tangent at the peak meets the low-power asymptote (the power law of the first point).
    s_low, log_i0, log_y0 = slope[0], math.log(grid[0]), math.log(emission[0])
    tangent = math.exp((log_y0 - s_low * log_i0 - log_y_peak + s_max * log_i_peak)
                       / (s_max - s_low))
    # Gain: continue upward from the peak to twice it (upward continuation is the safe way).
    up = np.geomspace(dense[j], 2.0 * i_peak, 21)
    up_curve = steady_state_curve(model, up, z_start=model.reduced(near.populations[j]),
                                  numpy_only=True)
    gain = float(up_curve.emission_per_ion[-1] / math.exp(log_y_peak))
    prediction = Prediction(s_max=float(s_max), threshold_s_peak_kW_cm2=i_peak,
                      threshold_tangent_kW_cm2=tangent, pa_gain_2x=gain,
                      rise_half_time_peak_s=nan, rise_half_time_peak_kW_cm2=nan,
                      spot_fwhm_nm=passi_spot_fwhm_nm(wavelength, numerical_aperture, s_max),
                      **common)
    return prediction, model
