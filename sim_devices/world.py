"""The simulated optical bench: one shared physical state that every virtual instrument sees.

Turning the simulated laser up raises the power-meter reading *and* the photon counts, because
both instruments ask this one world. The world knows the clock, the beam sources and the optical
path, where the beam points, and the sample (particles obeying the ANP rate equations).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .clock import Clock, VirtualClock
from .physics import EmissionTable, Preset, emission_table, get_preset

#: A source excites the sample only when its wavelength is this close to the preset's pump.
PUMP_WAVELENGTH_TOLERANCE_NM = 5.0


class OpticalElement(Protocol):
    """Something in the beam path between the lasers and the power-meter plane (a motorized
    attenuator, a shutter): it passes a fraction of the light."""

    def transmission(self, wavelength_nm: float) -> float:
        """Fraction of the power passed at this wavelength, 0 … 1."""


class BeamSource(Protocol):
    """Anything that puts light on the bench (the simulated lasers)."""

    wavelength_nm: float

    def output_power_W(self) -> float:
        """Optical power leaving the source now, in W."""


@dataclass
class BenchOptics:
    """The optical path from the laser to the sample.

    `attenuation_to_meter` lumps fixed ND filters and the pick-off in front of the power meter
    (power at the meter plane / laser output); `transmission_to_sample` is power at the sample
    / power at the meter plane — the number a lab calibrates and writes in its config.
    """

    numerical_aperture: float = 1.49
    attenuation_to_meter: float = 1e-4
    transmission_to_sample: float = 0.30
    waist_um: float | None = None

    def waist_at_um(self, wavelength_nm: float) -> float:
        """1/e² radius of the focus: given, or w0 = λ/(2·NA·√(2 ln 2)) (docs/physics.md §6)."""
        if self.waist_um is not None:
            return self.waist_um
        return wavelength_nm * 1e-3 / (2.0 * self.numerical_aperture * math.sqrt(2.0 * math.log(2.0)))


@dataclass
class Detection:
    """Detected photons per emitted photon: objective collection × filters × detector QE."""

    collection_efficiency: float = 0.15


def table_temperature_K(temperature_K: float) -> float:
    """The temperature a steady-state table is built for: the sample temperature rounded to
    0.5 K below 20 K, 1 K below 100 K and 2 K above. Each new table costs ~0.1 s, so a
    cryostat sweep must not ask for a new one at every millikelvin; the rounding is far finer
    than the rates change (docs/physics.md §5)."""
    step = 0.5 if temperature_K < 20.0 else 1.0 if temperature_K < 100.0 else 2.0
    return max(step, round(temperature_K / step) * step)


@dataclass
class Sample:
    """Point-like ANPs at fixed positions (µm) in the sample plane."""

    #: A shipped preset's name, or a Preset (e.g. a sample design from `apply_overrides`).
    preset: str | Preset = "tm8_1064"
    particle_positions_um: np.ndarray = field(default_factory=lambda: np.zeros((1, 2)))
    #: Sample temperature in K when no cryostat is attached (None: the preset's reference).
    temperature_K: float | None = None

    def table_temperature_K(self) -> float | None:
        """The temperature of the sample's own table (no cryostat): its fixed temperature
        rounded (see `table_temperature_K`), or None for the preset's reference."""
        if self.temperature_K is None:
            return None
        return table_temperature_K(self.temperature_K)

    @property
    def table(self) -> EmissionTable:
        return emission_table(self.preset, temperature_K=self.table_temperature_K())

    def describe(self) -> dict[str, object]:
        """What the simulated sample is, with the model's own figures as ground truth, so a
        measured S_max or threshold can be compared with what the physics says."""
        table = self.table
        preset = table.preset
        s_max, i_at_s_max = table.s_max()
        return {
            "name": preset.name,
            "description": preset.description,
            "simulated": "yes: avlab simulated bench",
            "particles": len(self.particle_positions_um),
            "ions_per_particle": preset.ions_per_particle,
            "beta_esa_over_gsa": preset.beta,
            "model_s_max": s_max,
            "model_threshold_s_peak_kW_cm2": (i_at_s_max, "kW/cm^2"),
            "model_threshold_loop_kW_cm2": (preset.loop_threshold_kW_cm2(), "kW/cm^2"),
        }


class SimWorld:
    """Shared state of the simulated bench."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        optics: BenchOptics | None = None,
        sample: Sample | None = None,
        detection: Detection | None = None,
        seed: int | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.optics = optics if optics is not None else BenchOptics()
        self.sample = sample if sample is not None else Sample()
        self.detection = detection if detection is not None else Detection()
        self.rng = np.random.default_rng(seed)
        #: Where the beam points in the sample plane (µm); parked on the first particle.
        self.beam_position_um = np.array(self.sample.particle_positions_um[0], dtype=float)
        self._sources: dict[str, BeamSource] = {}
        #: Elements in the common beam path before the meter plane (attenuators, shutters).
        self.beam_path: list[OpticalElement] = []
        #: The cryostat's thermal model, when one is on the bench (see attach_thermal).
        self.thermal = None
        self.lock = threading.RLock()

    # --- light sources -------------------------------------------------------------------
    def attach_source(self, name: str, source: BeamSource) -> None:
        """Put a laser on the bench under a name (its role)."""
        if name in self._sources:
            raise ValueError(f"a source named {name!r} is already on the simulated bench")
        self._sources[name] = source

    @property
    def sources(self) -> dict[str, BeamSource]:
        return dict(self._sources)

    def add_to_beam_path(self, element: OpticalElement) -> None:
        """Put an attenuator or shutter into the beam before the power-meter plane."""
        self.beam_path.append(element)

    def power_at_meter_W(self, source: BeamSource, *,
                         skip: OpticalElement | None = None) -> float:
        """Power of one source at the power-meter plane: laser × beam path × fixed optics
        (`skip`: a beam-path element left out)."""
        power = source.output_power_W() * self.optics.attenuation_to_meter
        for element in self.beam_path:
            if element is not skip:
                power *= element.transmission(source.wavelength_nm)
        return power

    def beams_at_meter(self) -> list[tuple[float, float]]:
        """(wavelength nm, power W) of every beam reaching the power-meter plane."""
        return [(s.wavelength_nm, self.power_at_meter_W(s)) for s in self._sources.values()]

    def pump_sources(self) -> dict[str, BeamSource]:
        """The sources (by name) whose wavelength pumps the sample's preset."""
        pump_nm = self.preset.pump_wavelength_nm
        return {
            name: s for name, s in self._sources.items()
            if abs(s.wavelength_nm - pump_nm) <= PUMP_WAVELENGTH_TOLERANCE_NM
        }

    # --- temperature ------------------------------------------------------------------------
    def attach_thermal(self, stage) -> None:
        """Let a cryostat's thermal model set the sample temperature from now on."""
        if self.thermal is not None:
            raise ValueError("a cryostat is already on the simulated bench")
        self.thermal = stage

    @property
    def temperature_K(self) -> float:
        """Sample temperature: the cryostat's sample stage, or the sample's fixed value."""
        if self.thermal is not None:
            return float(self.thermal.sample_K)
        if self.sample.temperature_K is not None:
            return self.sample.temperature_K
        return self.preset.reference_temperature_K

    def table_temperature_K(self) -> float | None:
        """The temperature the sample's emission is computed at: the cryostat's or the sample's
        fixed temperature, rounded (see `table_temperature_K`); None for the preset's
        reference (no cryostat, no fixed temperature)."""
        if self.thermal is None:
            return self.sample.table_temperature_K()
        return table_temperature_K(self.temperature_K)

    @property
    def preset(self) -> Preset:
        """The sample's preset (without building an emission table)."""
        preset = self.sample.preset
        return preset if isinstance(preset, Preset) else get_preset(preset)

    def emission_table(self) -> EmissionTable:
        """The steady-state table of the sample at `table_temperature_K()`."""
        return emission_table(self.sample.preset, temperature_K=self.table_temperature_K())

    # --- the sample ----------------------------------------------------------------------
    def source_peak_intensity_kW_cm2(self, source: BeamSource, *,
                                     skip: OpticalElement | None = None) -> float:
        """Peak intensity I0 = 2P/(π w0²) one source makes at the focus; `skip`: a beam-path
        element left out (the time tagger resolves its modulator itself)."""
        power_W = self.power_at_meter_W(source, skip=skip) * self.optics.transmission_to_sample
        waist_cm = self.optics.waist_at_um(source.wavelength_nm) * 1e-4
        return 2.0 * power_W / (math.pi * waist_cm**2) / 1e3

    def peak_intensity_kW_cm2(self) -> float:
        """Peak pump intensity I0 = 2P/(π w0²) at the focus, summed over pump sources."""
        total = 0.0
        for source in self.pump_sources().values():
            total += self.source_peak_intensity_kW_cm2(source)
        return total

    def spot_profile(self) -> np.ndarray:
        """Relative intensity of the Gaussian focus at each particle for the current beam
        position (1 at the centre)."""
        waist_um = self.optics.waist_at_um(self.preset.pump_wavelength_nm)
        r2 = np.sum((self.sample.particle_positions_um - self.beam_position_um) ** 2, axis=1)
        return np.exp(-2.0 * r2 / waist_um**2)

    def particle_intensities_kW_cm2(self) -> np.ndarray:
        """Local pump intensity at each particle for the current beam position (Gaussian focus)."""
        peak = self.peak_intensity_kW_cm2()
        if peak <= 0.0:
            return np.zeros(len(self.sample.particle_positions_um))
        return peak * self.spot_profile()

    def emission_photons_per_s(self) -> float:
        """Steady-state photons/s emitted on the main line by all particles in the focus."""
        table = self.emission_table()
        per_ion = table.emission_per_ion(self.particle_intensities_kW_cm2())
        return float(np.sum(per_ion) * table.preset.ions_per_particle)

    def detected_photon_rate_cps(self) -> float:
        """Signal photons/s reaching the detector (before dark counts and dead time)."""
        return self.emission_photons_per_s() * self.detection.collection_efficiency
