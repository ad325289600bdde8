"""Ocean Insight (Ocean Optics) fiber spectrometers through python-seabreeze 2.x (imported only
when a spectrometer is opened).

python-seabreeze (docs/protocols.md §6a) has two backends: "cseabreeze" (the vendor's C library,
the default) and "pyseabreeze" (pure Python over pyusb). The backend is chosen with
`seabreeze.use(backend)` and takes effect when `seabreeze.spectrometers` is first imported, so
`open_ocean_spectrometer` calls `use` before that import and refuses to open a second backend in
a process that already loaded the other one.

What this driver adds to the SDK:

* the exposure is checked against `integration_time_micros_limits` *before* it is sent
  (ExposureOutOfRangeError); the SDK raises an opaque SeaBreezeError ("Undefined Error" on some
  models) or, on some, accepts it;
* after the integration time changes, the first spectrum is read and dropped: in the default
  free-running trigger mode that spectrum was integrated (partly) with the old time
  (python-seabreeze issues #110 and #177);
* a pixel at or above `saturation_fraction` × `max_intensity` flags the spectrum as saturated.
  The fraction is below 1 because dark-count correction lowers a saturated pixel by the dark
  level (a few % of full scale);
* SDK and USB failures become InstrumentConnectionError / InstrumentTimeoutError /
  InstrumentCommandError.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np

from ..errors import (
    BackendNotInstalledError,
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    did_not_answer,
    import_optional,
    lost_connection,
    translating,
)
from .base import Spectrum, check_exposure_s

BACKENDS = ("cseabreeze", "pyseabreeze")

_INSTALL_HINTS = {
    "cseabreeze": "pip install seabreeze (then run `seabreeze_os_setup` once for the USB rules "
                  "or driver)",
    "pyseabreeze": "pip install seabreeze[pyseabreeze] (pyusb), plus libusb-1.0 on the system, "
                   "then run `seabreeze_os_setup` once",
}


class SeaBreezeBackendConflictError(ImportError):
    """python-seabreeze was already loaded with the other backend in this process; the backend
    cannot change until the interpreter restarts."""


def _loaded_backend(spectrometers: Any) -> str | None:
    """The backend an imported `seabreeze.spectrometers` runs on, if it can be told."""
    lib = getattr(spectrometers, "_lib", None)
    name = getattr(lib, "__name__", "")
    return name.rsplit(".", 1)[-1] if name.rsplit(".", 1)[-1] in BACKENDS else None


def import_seabreeze(backend: str = "cseabreeze") -> Any:
    """Select `backend` and return the `seabreeze.spectrometers` module.

    Raises BackendNotInstalledError when python-seabreeze or the backend's libraries are missing,
    SeaBreezeBackendConflictError when the other backend is already loaded.
    """
    if backend not in BACKENDS:
        raise ValueError(f"seabreeze backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    seabreeze = import_optional("seabreeze", "The Ocean Insight spectrometer driver",
                                _INSTALL_HINTS["cseabreeze"])
    loaded = sys.modules.get("seabreeze.spectrometers")
    if loaded is not None:
        active = _loaded_backend(loaded)
        if active is not None and active != backend:
            raise SeaBreezeBackendConflictError(
                f"python-seabreeze already runs on its {active!r} backend in this process; "
                f"{backend!r} needs a new process (one backend per interpreter)")
        return loaded
    seabreeze.use(backend)  # must precede the first import of seabreeze.spectrometers
    try:
        return importlib.import_module("seabreeze.spectrometers")
    except ImportError as exc:
        raise BackendNotInstalledError(f"python-seabreeze's {backend!r} backend",
                                       _INSTALL_HINTS[backend]) from exc


def open_ocean_spectrometer(serial_number: str | None = None, *, backend: str = "cseabreeze",
                            **kwargs: Any) -> OceanSpectrometer:
    """Open the spectrometer with `serial_number` (None: the first unopened one) on `backend`.

    Keyword arguments go to `OceanSpectrometer`.
    """
    spectrometers = import_seabreeze(backend)
    sdk_error = getattr(spectrometers, "SeaBreezeError", RuntimeError)
    try:
        if serial_number is None:
            device = spectrometers.Spectrometer.from_first_available()
        else:
            device = spectrometers.Spectrometer.from_serial_number(str(serial_number))
    except (sdk_error, OSError) as exc:
        which = ("any Ocean spectrometer" if serial_number is None
                 else f"the Ocean spectrometer with serial number {serial_number!r}")
        raise InstrumentConnectionError(
            f"cannot open {which} ({backend}): {exc}. Is it plugged in, not opened by another "
            "program (OceanView), and are the USB rules/driver installed?") from exc
    return OceanSpectrometer(device, sdk_errors=(sdk_error,), **kwargs)


class OceanSpectrometer:
    """An Ocean Insight spectrometer (any model python-seabreeze supports) as a `Spectrometer`.

    `device` is an opened `seabreeze.spectrometers.Spectrometer` (or anything with its methods,
    such as the simulated twin); use `open_ocean_spectrometer` / `from_serial_number` /
    `from_first_available` to open real hardware.
    """

    def __init__(self, device: Any, *, name: str = "Ocean spectrometer",
                 correct_dark_counts: bool = False, correct_nonlinearity: bool = False,
                 saturation_fraction: float = 0.95, discard_after_change: bool = True,
                 sdk_errors: tuple[type[BaseException], ...] = ()) -> None:
        if not 0.0 < saturation_fraction <= 1.0:
            raise ValueError(f"saturation_fraction must be in (0, 1], got {saturation_fraction}")
        self._device = device
        self.name = name
        self.correct_dark_counts = correct_dark_counts
        self.correct_nonlinearity = correct_nonlinearity
        self.saturation_fraction = saturation_fraction
        self.discard_after_change = discard_after_change
        self._sdk_errors = tuple(sdk_errors)
        with self._sdk_call("reading its configuration"):
            low_us, high_us = device.integration_time_micros_limits
            self.max_intensity = float(device.max_intensity)
            self._wavelengths = np.array(device.wavelengths(), dtype=float)
            self.model = str(device.model)
            self.serial_number = str(device.serial_number)
        self.integration_time_limits_us = (int(low_us), int(high_us))
        self._integration_time_us: int | None = None  # unknown until we set it

    @classmethod
    def from_serial_number(cls, serial_number: str, *, backend: str = "cseabreeze",
                           **kwargs: Any) -> OceanSpectrometer:
        """Open the spectrometer with this serial number (`Spectrometer.from_serial_number`)."""
        return open_ocean_spectrometer(serial_number, backend=backend, **kwargs)

    @classmethod
    def from_first_available(cls, *, backend: str = "cseabreeze",
                             **kwargs: Any) -> OceanSpectrometer:
        """Open the first unopened spectrometer (`Spectrometer.from_first_available`)."""
        return open_ocean_spectrometer(None, backend=backend, **kwargs)

    # --- Spectrometer interface ----------------------------------------------------------------
    @property
    def identity(self) -> str:
        return f"Ocean Insight {self.model}, serial number {self.serial_number}"

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        low, high = self.integration_time_limits_us
        return low * 1e-6, high * 1e-6

    @property
    def pixels(self) -> int:
        return len(self._wavelengths)

    def wavelengths_nm(self) -> np.ndarray:
        """The factory wavelength calibration stored in the spectrometer (cached at open)."""
        return self._wavelengths.copy()

    def acquire(self, exposure_s: float) -> Spectrum:
        exposure_s = check_exposure_s(exposure_s, self.exposure_limits_s, self.name)
        micros = self._micros_within_limits(exposure_s)
        changed = micros != self._integration_time_us
        if changed:
            with self._sdk_call(f"setting the integration time to {micros} µs", command=True):
                self._device.integration_time_micros(micros)
            self._integration_time_us = micros
        if changed and self.discard_after_change:
            self._read_intensities()  # integrated (partly) with the previous time
        counts = self._read_intensities()
        saturated = bool(np.any(counts >= self.saturation_fraction * self.max_intensity))
        return Spectrum(self._wavelengths, counts, micros * 1e-6, saturated)

    def close(self) -> None:
        with self._sdk_call("closing"):
            self._device.close()

    # --- internals -------------------------------------------------------------------------
    def _micros_within_limits(self, exposure_s: float) -> int:
        low, high = self.integration_time_limits_us
        micros = int(round(exposure_s * 1e6))
        # The limits were checked in seconds; rounding to whole µs stays inside them.
        return min(max(micros, low), high)

    def _read_intensities(self) -> np.ndarray:
        with self._sdk_call("reading a spectrum"):
            counts = self._device.intensities(correct_dark_counts=self.correct_dark_counts,
                                              correct_nonlinearity=self.correct_nonlinearity)
        counts = np.asarray(counts, dtype=float)
        if counts.shape != self._wavelengths.shape:
            raise InstrumentConnectionError(
                f"{self.name}: spectrum has {counts.size} pixels, expected {self.pixels} "
                "(corrupted USB transfer?)")
        return counts

    def _sdk_call(self, action: str, *, command: bool = False) -> Any:
        """Translate SDK and USB failures into the drivers' exception types."""
        return translating(lambda exc: self._classify(exc, action, command))

    def _classify(self, exc: Exception, action: str, command: bool) -> InstrumentError | None:
        timed_out = (isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()
                     or "timed out" in str(exc).lower() or "timeout" in str(exc).lower())
        if timed_out:
            return did_not_answer(self.name, action, exc)
        if isinstance(exc, OSError):
            return lost_connection(self.name, action, exc)
        if self._sdk_errors and isinstance(exc, self._sdk_errors):
            if command:
                return InstrumentCommandError(f"{self.name} refused {action}: {exc}")
            return InstrumentConnectionError(f"{self.name} failed {action}: {exc}")
        return None
