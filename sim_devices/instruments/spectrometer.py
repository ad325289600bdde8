"""What a simulated spectrometer sees of the simulated sample: the shared optical model of a
spectrograph and its detector (used by the Ocean twin and by the SpectraPro + camera twins).

Light path, per exposure:

1. **Emission.** Every particle in the focus emits the steady-state line spectrum of the
   sample's preset at its local pump intensity and the sample temperature
   (`sim_devices.physics.spectra.line_spectrum`: Gaussian lines, intensity = share × radiative
   rate × population, FWHM narrowing from ~15 nm at 295 K to a few nm below ~50 K; docs/physics.md §4),
   × ions per particle.
2. **Collection.** × the world's `detection.collection_efficiency` × the spectrometer's
   `throughput` (fiber coupling, slit, grating efficiency, mirrors).
3. **Instrument function.** Each line is broadened by the spectrometer's resolution (a Gaussian,
   FWHM added in quadrature, area kept).
4. **Pixels.** The photons of each line falling in each pixel's wavelength bin are integrated
   exactly (difference of normal CDFs at the bin edges), × the detector's quantum efficiency
   (flat, rolling off linearly to zero across `qe_rolloff_nm`: silicon sees nothing at 1470 nm),
   × exposure.
5. **Detector.** Poisson photo-electrons + Poisson dark electrons + Gaussian read noise, clipped
   at the full well; counts = bias + electrons / gain, rounded and clipped at the ADC's range —
   so a saturated pixel reads `max_counts`.

The exposure lets `exposure_s` pass on the world's clock. Emission is the steady state at the
start of the exposure (the sample settles within ~0.3 s, docs/physics.md §7; exposures are longer).
Not modelled: pump light leaking through the filters, second-order diffraction, etalon fringes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..physics.spectra import line_spectrum
from ..world import SimWorld

#: Photo-electrons per second per pixel when light floods the detector (the "saturate" fault):
#: enough to fill any full well within the shortest exposure.
FLOOD_ELECTRONS_PER_S = 1e12

#: Particles whose local intensity is below this (kW/cm²) emit nothing measurable (S ≈ 2 there).
_NEGLIGIBLE_INTENSITY_KW_CM2 = 1e-6

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class DetectorModel:
    """A silicon array detector read as one line of pixels."""

    pixels: int
    pixel_pitch_um: float
    quantum_efficiency: float = 0.5
    #: QE falls linearly from `quantum_efficiency` at the first to 0 at the second wavelength.
    qe_rolloff_nm: tuple[float, float] = (900.0, 1100.0)
    gain_e_per_count: float = 1.0
    full_well_e: float = 1e5
    adc_max_counts: int = 65535
    bias_counts: float = 1000.0
    dark_current_e_per_s: float = 20.0
    read_noise_e: float = 10.0

    def __post_init__(self) -> None:
        if self.pixels < 1 or self.pixel_pitch_um <= 0 or self.gain_e_per_count <= 0:
            raise ValueError("pixels, pixel pitch and gain must be positive")
        if not 0.0 <= self.quantum_efficiency <= 1.0:
            raise ValueError(f"quantum efficiency must be in [0, 1], got {self.quantum_efficiency}")

    @property
    def max_counts(self) -> float:
        """The reading of a saturated pixel: ADC full scale, or the full well if that comes
        first."""
        return float(min(self.adc_max_counts,
                         round(self.bias_counts + self.full_well_e / self.gain_e_per_count)))

    def qe(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        start, end = self.qe_rolloff_nm
        fall = np.clip((end - np.asarray(wavelengths_nm, dtype=float)) / (end - start), 0.0, 1.0)
        return self.quantum_efficiency * fall


@dataclass(frozen=True)
class SampleLines:
    """The lines reaching the spectrometer's entrance: centre and FWHM in nm, photons/s."""

    names: tuple[str, ...]
    wavelength_nm: np.ndarray
    fwhm_nm: np.ndarray
    photons_per_s: np.ndarray
    temperature_K: float


def sample_lines(world: SimWorld) -> SampleLines:
    """Photons/s per line emitted by all particles in the focus, times the collection
    efficiency of the world's detection path (before any spectrometer)."""
    preset = world.preset
    temperature = world.table_temperature_K()  # the temperature of the world's own table
    total = None
    spectrum = None
    for intensity in world.particle_intensities_kW_cm2():
        if intensity <= _NEGLIGIBLE_INTENSITY_KW_CM2:
            continue
        spectrum = line_spectrum(preset, float(intensity), temperature)
        total = spectrum.photons_per_s if total is None else total + spectrum.photons_per_s
    if spectrum is None:  # dark: still report the lines (with zero photons) and their widths
        spectrum = line_spectrum(preset, 0.0, temperature)
        total = np.zeros_like(spectrum.photons_per_s)
    scale = preset.ions_per_particle * world.detection.collection_efficiency
    return SampleLines(spectrum.names, np.asarray(spectrum.wavelength_nm, dtype=float),
                       np.asarray(spectrum.fwhm_nm, dtype=float), np.asarray(total) * scale,
                       float(spectrum.temperature_K))


class SpectralRenderer:
    """Turns the world's emission into detector counts for given pixel wavelength bins."""

    def __init__(self, world: SimWorld, detector: DetectorModel, *, throughput: float) -> None:
        if not 0.0 <= throughput <= 1.0:
            raise ValueError(f"throughput must be in [0, 1], got {throughput}")
        self.world = world
        self.detector = detector
        self.throughput = throughput

    def expected_photons(self, edges_nm: np.ndarray, exposure_s: float,
                         resolution_nm: float) -> np.ndarray:
        """Mean photons arriving on each pixel (bins between consecutive `edges_nm`) during the
        exposure, before the quantum efficiency."""
        from scipy.special import ndtr  # noqa: PLC0415 - scipy is imported lazily in sim_devices

        edges = np.asarray(edges_nm, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("pixel edges must be an increasing 1-D array")
        lines = sample_lines(self.world)
        sigma = np.sqrt(lines.fwhm_nm**2 + resolution_nm**2) / _FWHM_PER_SIGMA
        cdf = ndtr((edges[:, None] - lines.wavelength_nm) / sigma)  # (edges, lines)
        per_pixel = np.diff(cdf, axis=0) @ lines.photons_per_s
        return per_pixel * self.throughput * exposure_s

    def expose(self, edges_nm: np.ndarray, exposure_s: float, *, resolution_nm: float,
               flood: bool = False, dark_pixels: np.ndarray | None = None) -> np.ndarray:
        """One exposure: counts per pixel (Poisson light and dark, read noise, full well, ADC).

        `dark_pixels` (indices) are masked from light, like the electric-dark pixels at the
        start of an Ocean detector. Lets `exposure_s` pass on the world's clock.
        """
        det = self.detector
        edges = np.asarray(edges_nm, dtype=float)
        if edges.size != det.pixels + 1:
            raise ValueError(f"{det.pixels} pixels need {det.pixels + 1} edges, got {edges.size}")
        rng = self.world.rng
        centres = 0.5 * (edges[1:] + edges[:-1])
        light_e = self.expected_photons(edges, exposure_s, resolution_nm) * det.qe(centres)
        if flood:
            light_e = light_e + FLOOD_ELECTRONS_PER_S * exposure_s
        if dark_pixels is not None:
            light_e[dark_pixels] = 0.0
        electrons = rng.poisson(light_e).astype(float)
        electrons += rng.poisson(det.dark_current_e_per_s * exposure_s, det.pixels)
        full = electrons >= det.full_well_e
        electrons = np.minimum(electrons, det.full_well_e)
        electrons += rng.normal(0.0, det.read_noise_e, det.pixels)
        counts = np.clip(np.rint(det.bias_counts + electrons / det.gain_e_per_count), 0.0,
                         det.max_counts)
        counts[full] = det.max_counts  # a full pixel reads full scale, noise or not
        self.world.clock.sleep(exposure_s)
        return counts


def edges_from_centres(centres_nm: np.ndarray) -> np.ndarray:
    """Pixel bin edges half-way between pixel centres (extrapolated at both ends)."""
    centres = np.asarray(centres_nm, dtype=float)
    middle = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate(([2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]))
