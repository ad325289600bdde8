"""Simulated Ocean Insight spectrometer at the python-seabreeze level (SDK-level twin).

Real Ocean spectrometers are reached through python-seabreeze, not a text protocol, so the twin
has the methods and properties of `seabreeze.spectrometers.Spectrometer` (docs/protocols.md §6a):
`wavelengths()`, `intensities(correct_dark_counts, correct_nonlinearity)`, `spectrum()`,
`integration_time_micros(us)`, `integration_time_micros_limits`, `trigger_mode(mode)`,
`max_intensity`, `serial_number`, `model`, `pixels`, `open()`, `close()`. The drivers'
`OceanSpectrometer` wraps it exactly as it wraps the real one.

Defaults are those of a USB2000+ as python-seabreeze describes it (2048 pixels, 1 ms … 655 s,
16-bit, electric-dark pixels 6–21); the wavelength calibration is a cubic in the pixel index
like the one stored in the real unit's EEPROM (coefficients are ours: ~340–1030 nm).

Behaviours of the real device the twin reproduces:

* an integration time outside the limits raises `SeaBreezeError`;
* free-running acquisition: the first spectrum after the integration time changes was integrated
  with the previous time (python-seabreeze issues #110, #177);
* `correct_dark_counts` subtracts the mean of the electric-dark pixels.

Faults surface as the SDK would show them: a USB error (OSError), a timeout, or a flooded
detector.
"""

from __future__ import annotations

import numpy as np

from ..world import SimWorld
from .spectrometer import DetectorModel, SpectralRenderer, edges_from_centres
from .sdk_faults import SdkFaults

OCEAN_FAULTS: dict[str, str] = {
    "drop_connection": "the USB link drops: every call raises a USB error until cleared",
    "stop_answering": "the spectrometer hangs: reading a spectrum times out",
    "saturate": "room light or a laser reflection floods the detector: every pixel saturates",
}

#: A USB2000+-like unit (python-seabreeze's device table; QE and noise figures are ours).
USB2000PLUS_DETECTOR = DetectorModel(
    pixels=2048, pixel_pitch_um=14.0, quantum_efficiency=0.35, qe_rolloff_nm=(850.0, 1100.0),
    gain_e_per_count=1.0, full_well_e=1e5, adc_max_counts=65535, bias_counts=1500.0,
    dark_current_e_per_s=60.0, read_noise_e=20.0)
USB2000PLUS_WAVELENGTH_COEFFICIENTS = (340.0, 0.375, -1.8e-5, 0.0)
USB2000PLUS_DARK_PIXELS = np.arange(6, 22)


class SeaBreezeError(Exception):
    """Stands for `seabreeze.spectrometers.SeaBreezeError` (the twin cannot import the SDK)."""


class SimOceanSpectrometer(SdkFaults):
    """A seabreeze-level Ocean spectrometer looking at the simulated sample."""

    FAULTS = OCEAN_FAULTS

    def __init__(
        self,
        world: SimWorld,
        *,
        model: str = "USB2000PLUS",
        serial_number: str = "USB2+F05317",
        detector: DetectorModel = USB2000PLUS_DETECTOR,
        wavelength_coefficients: tuple[float, ...] = USB2000PLUS_WAVELENGTH_COEFFICIENTS,
        integration_time_limits_us: tuple[int, int] = (1000, 655_350_000),
        dark_pixels: np.ndarray = USB2000PLUS_DARK_PIXELS,
        throughput: float = 0.2,
        resolution_nm: float = 1.5,
    ) -> None:
        self.world = world
        self._model = model
        self._serial_number = serial_number
        self.detector = detector
        self.renderer = SpectralRenderer(world, detector, throughput=throughput)
        self.resolution_nm = resolution_nm
        index = np.arange(detector.pixels, dtype=float)
        self._wavelengths = np.polynomial.polynomial.polyval(index, wavelength_coefficients)
        self._edges = edges_from_centres(self._wavelengths)
        self._limits_us = (int(integration_time_limits_us[0]), int(integration_time_limits_us[1]))
        self._dark_pixels = np.asarray(dark_pixels, dtype=int)
        self._integration_us = 100_000  # power-on default (ours)
        self._stale_us: int | None = None  # integration time of the spectrum in the buffer
        self.is_open = True
        self.trigger = 0
        #: Every integration time the twin was sent, to check what a driver sent (or not).
        self.integration_times_sent: list[int] = []
        self.spectra_read = 0
        self._init_faults()

    # --- faults -----------------------------------------------------------------------------------
    def _check_open_link(self) -> None:
        self._check_link(self.world.clock,
                         ConnectionResetError(f"{self._model} {self._serial_number}: USB device "
                                              "not present (simulated fault)"))
        if not self.is_open:
            raise SeaBreezeError("Device is not open.")

    # --- seabreeze Spectrometer API ---------------------------------------------------------------
    @property
    def model(self) -> str:
        return self._model

    @property
    def serial_number(self) -> str:
        return self._serial_number

    @property
    def pixels(self) -> int:
        return self.detector.pixels

    @property
    def max_intensity(self) -> float:
        return float(self.detector.max_counts)

    @property
    def integration_time_micros_limits(self) -> tuple[int, int]:
        return self._limits_us

    def wavelengths(self) -> np.ndarray:
        return self._wavelengths.copy()

    def integration_time_micros(self, integration_time_micros: int) -> None:
        self._check_open_link()
        self.integration_times_sent.append(integration_time_micros)
        low, high = self._limits_us
        if not low <= integration_time_micros <= high:
            raise SeaBreezeError("[Fix] Specified integration time is out of range.")
        if int(integration_time_micros) != self._integration_us:
            self._stale_us = self._integration_us
        self._integration_us = int(integration_time_micros)

    def trigger_mode(self, mode: int) -> None:
        self._check_open_link()
        self.trigger = int(mode)

    def intensities(self, correct_dark_counts: bool = False,
                    correct_nonlinearity: bool = False) -> np.ndarray:
        """One spectrum (counts, float). The first one after an integration-time change was
        integrated with the previous time, as in free-running mode on the real unit."""
        self._check_open_link()
        self._check_hang(self.world.clock,
                         TimeoutError(f"{self._model}: no spectrum within the USB timeout "
                                      "(simulated fault)"),
                         hang_s=2 * self._integration_us * 1e-6)
        exposure_us = self._integration_us if self._stale_us is None else self._stale_us
        self._stale_us = None
        counts = self.renderer.expose(self._edges, exposure_us * 1e-6,
                                      resolution_nm=self.resolution_nm,
                                      flood="saturate" in self.active_faults,
                                      dark_pixels=self._dark_pixels)
        self.spectra_read += 1
        if correct_dark_counts:
            counts = counts - float(np.mean(counts[self._dark_pixels]))
        # The simulated detector is linear: nonlinearity correction changes nothing.
        return counts

    def spectrum(self, correct_dark_counts: bool = False,
                 correct_nonlinearity: bool = False) -> np.ndarray:
        return np.vstack((self._wavelengths,
                          self.intensities(correct_dark_counts, correct_nonlinearity)))

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def __repr__(self) -> str:
        return f"<SimOceanSpectrometer {self._model}:{self._serial_number}>"
