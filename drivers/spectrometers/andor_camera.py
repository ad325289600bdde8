"""Andor iDus / Newton spectroscopy CCDs through pylablib's Andor SDK2 wrapper, as the `Camera`
behind a spectrograph (`spectrapro.SpectrographCamera`).

pylablib (docs/protocols.md §6c) is imported only when a camera is opened; it loads Andor's SDK2
library (`atmcd64d.dll`, shipped with Andor Solis or the Andor SDK) when the first camera is
opened, so a missing pylablib *and* a missing SDK both end as BackendNotInstalledError.

The SDK calls this driver relies on (pylablib `AndorSDK2Camera`):

* open: `AndorSDK2Camera(idx=, temperature=, fan_mode=, amp_mode=)`; `get_cameras_number_SDK2()`
  to look for a serial number; opening puts the camera in pylablib's default state (shutter
  closed, internal trigger, slowest amplifier mode, continuous acquisition);
* geometry: `get_device_info()` (controller model, head model, serial number),
  `get_detector_size()` (width, height), `get_pixel_size()` (m), `get_channel_bitdepth()`;
* read-out: `set_read_mode("fvb")` — full vertical binning, one row of `width` pixels per frame;
* exposure: `set_exposure(s)` answers the exposure the camera actually uses;
* acquisition: `snap(timeout=)` — one frame, shape (1, width) in FVB;
* shutter: `setup_shutter("auto" | "open" | "closed")`;
* cooling: `get_temperature_range()`, `set_temperature(C, enable_cooler=True)`, `set_cooler(on)`,
  `get_temperature()`, `get_temperature_status()` ("off", "not_reached", "not_stabilized",
  "stabilized", "drifted").

What this driver adds to the SDK:

* the exposure is checked against `exposure_limits_s` before it is sent (ExposureOutOfRangeError,
  never clamped), and the exposure the camera reports back must match the request — the SDK
  would otherwise quietly use its nearest valid value (a shutter's transfer time, for one);
* a cooling target outside `get_temperature_range()` is rejected before anything is sent
  (pylablib's `set_temperature` clamps silently);
* `wait_for_temperature` polls through injected `wait`/`now` callables, so the bench's clock
  (virtual on the simulated bench) and its stop button apply;
* the snap timeout follows the exposure (pylablib's default of 5 s would cut long exposures);
* SDK failures become InstrumentConnectionError / InstrumentTimeoutError / InstrumentCommandError.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import (
    BackendNotInstalledError,
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentResponseError,
    InstrumentTimeoutError,
    did_not_answer,
    import_optional,
    lost_connection,
    translating,
)
from ..validators import is_finite_real, is_integer
from ..waiting import wait_until_stable
from .base import check_exposure_s

INSTALL_HINT = ("pip install pylablib, and install Andor's SDK2 (it comes with Andor Solis or the "
                "Andor Software Development Kit, from Andor / Oxford Instruments; pylablib finds "
                "atmcd64d.dll in their Program Files folders)")

#: Shutter handling: "auto" lets the camera open it for each exposure (SDK auto mode); "manual"
#: has this driver open it before every read and close it after; "none" never commands a shutter
#: (a camera without one, or a shutter driven elsewhere).
SHUTTER_MODES = ("auto", "manual", "none")

#: pylablib's fan modes.
FAN_MODES = ("full", "low", "off")

#: Temperature states of `get_temperature_status()`.
TEMPERATURE_STATES = ("off", "not_reached", "not_stabilized", "stabilized", "drifted")

#: Default exposure range. SDK2 has no call pylablib exposes for the limits, so they are
#: configured; an exposure the camera cannot do is still caught by the read-back check.
DEFAULT_EXPOSURE_LIMITS_S = (1e-3, 600.0)

#: SDK2 status names (AndorSDK2LibError.name) that mean the camera is gone, not a refused value.
_LINK_ERRORS = ("DRV_ERROR_ACK", "DRV_USBERROR", "DRV_NOT_INITIALIZED", "DRV_ERROR_NOCAMERA",
                "DRV_VXDNOTINSTALLED", "DRV_DRIVER_ERRORS")


class TemperatureOutOfRangeError(ValueError):
    """A cooling target outside the camera's range (or not whole degrees); nothing was sent."""

    def __init__(self, message: str, *, target_C: Any, limits_C: tuple[float, float]) -> None:
        super().__init__(message)
        self.target_C = target_C
        self.limits_C = limits_C


def import_andor() -> Any:
    """Return pylablib's `pylablib.devices.Andor` module (BackendNotInstalledError if missing)."""
    return import_optional("pylablib.devices.Andor", "The Andor camera driver", INSTALL_HINT)


def _sdk_error_classes(andor: Any) -> dict[str, tuple[type[BaseException], ...]]:
    def classes(*names: str) -> tuple[type[BaseException], ...]:
        found = (getattr(andor, n, None) for n in names)
        return tuple(c for c in found if isinstance(c, type) and issubclass(c, BaseException))

    return {"any": classes("AndorError"), "timeout": classes("AndorTimeoutError"),
            "unsupported": classes("AndorNotSupportedError")}


def _is_missing_library(exc: OSError) -> bool:
    """pylablib raises OSError when the SDK's DLL cannot be loaded (or on a platform without it)."""
    text = str(exc).lower()
    return any(word in text for word in ("can't import", "cannot import", "dll", "library",
                                         "not available on"))


def open_andor_camera(index: int | None = None, *, serial: str | int | None = None,
                      cooling_target_C: float | None = None, fan_mode: str = "full",
                      amp_mode: Any = None, ini_path: str = "", **kwargs: Any) -> AndorCamera:
    """Open an Andor SDK2 camera by `index` (0 = the first) or by `serial` number, and return it
    as an `AndorCamera` (keyword arguments go there).

    With `cooling_target_C` the cooler is started towards it (checked against the camera's range
    first; `AndorCamera.wait_for_temperature` waits for it). Without one the cooler is switched
    off at open (pylablib would otherwise cool to a default of its own). `fan_mode` defaults to
    "full" because pylablib's default, "off", keeps an air-cooled head from reaching deep
    setpoints.
    """
    if fan_mode not in FAN_MODES:
        raise ValueError(f"fan_mode must be one of {', '.join(FAN_MODES)}, not {fan_mode!r}")
    if index is not None and (not is_integer(index) or index < 0):
        raise ValueError(f"camera index must be a non-negative integer, got {index!r}")
    andor = import_andor()
    errors = _sdk_error_classes(andor)
    # A numeric setpoint leaves the cooler alone at open; AndorCamera then checks and applies it.
    temperature: Any = "off" if cooling_target_C is None else cooling_target_C

    def open_index(idx: int) -> Any:
        try:
            return andor.AndorSDK2Camera(idx=idx, ini_path=ini_path, temperature=temperature,
                                         fan_mode=fan_mode, amp_mode=amp_mode)
        except OSError as exc:
            if _is_missing_library(exc):
                raise BackendNotInstalledError("The Andor camera driver (SDK2 library not "
                                               f"loaded: {exc})", INSTALL_HINT) from exc
            raise InstrumentConnectionError(f"cannot open Andor camera {idx}: {exc}") from exc
        except errors["any"] as exc:
            raise InstrumentConnectionError(
                f"cannot open Andor camera {idx}: {exc}. Is it powered and plugged in, and not "
                "open in Andor Solis or another program?") from exc

    if serial is None:
        device = open_index(0 if index is None else int(index))
    else:
        wanted = str(serial).strip()
        if index is not None:
            candidates: list[int] = [int(index)]
        else:
            try:
                count = int(andor.get_cameras_number_SDK2())
            except OSError as exc:
                if _is_missing_library(exc):
                    raise BackendNotInstalledError("The Andor camera driver (SDK2 library not "
                                                   f"loaded: {exc})", INSTALL_HINT) from exc
                raise InstrumentConnectionError(f"cannot list Andor cameras: {exc}") from exc
            candidates = list(range(count))
        device, seen = None, []
        for idx in candidates:
            candidate = open_index(idx)
            try:
                found = str(candidate.get_device_info().serial_number).strip()
            except errors["any"] as exc:
                with contextlib.suppress(Exception):
                    candidate.close()
                raise InstrumentConnectionError(f"cannot read the serial number of Andor camera "
                                                f"{idx}: {exc}") from exc
            if found == wanted:
                device = candidate
                break
            seen.append(found)
            with contextlib.suppress(Exception):
                candidate.close()
        if device is None:
            raise InstrumentConnectionError(
                f"no Andor camera with serial number {wanted!r} "
                f"(found: {', '.join(seen) if seen else 'none'})")
    try:
        return AndorCamera(device, cooling_target_C=cooling_target_C, sdk_errors=errors,
                           **kwargs)
    except BaseException:
        with contextlib.suppress(Exception):
            device.close()
        raise


class AndorCamera:
    """An Andor SDK2 CCD read in full vertical binning, implementing the `Camera` interface.

    `device` is an opened pylablib `AndorSDK2Camera` (or anything with its methods, such as a
    simulated twin); `open_andor_camera` / `AndorCamera.open` open real hardware.

    :param exposure_limits_s: exposures accepted (checked before sending)
    :param shutter: "auto", "manual" or "none" (see SHUTTER_MODES)
    :param cooling_target_C: start the cooler towards this setpoint (whole °C) at construction
    :param saturation_counts: full scale if not the ADC's (2**bit depth − 1), e.g. a binned
        full well that saturates below the ADC
    :param exposure_tolerance_s / exposure_tolerance_rel: how far the exposure the camera
        reports may differ from the request (|Δ| ≤ abs + rel × request)
    :param read_timeout_margin_s: a read times out after the exposure plus this
    :param wait, now: `wait(seconds)` and `now() -> seconds` for temperature waits (default
        time.sleep / time.monotonic; with `wait` but no `now`, elapsed time is the sum of waits)
    """

    def __init__(self, device: Any, *, name: str = "Andor camera",
                 exposure_limits_s: tuple[float, float] = DEFAULT_EXPOSURE_LIMITS_S,
                 shutter: str = "auto", cooling_target_C: float | None = None,
                 saturation_counts: float | None = None, exposure_tolerance_s: float = 5e-5,
                 exposure_tolerance_rel: float = 1e-3, read_timeout_margin_s: float = 10.0,
                 poll_s: float = 2.0, wait: Callable[[float], object] | None = None,
                 now: Callable[[], float] | None = None,
                 sdk_errors: dict[str, tuple[type[BaseException], ...]] | None = None) -> None:
        low, high = exposure_limits_s
        if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low < high):
            raise ValueError(f"exposure_limits_s must be (low, high) with 0 < low < high, got "
                             f"{exposure_limits_s!r}")
        if shutter not in SHUTTER_MODES:
            raise ValueError(f"shutter must be one of {', '.join(SHUTTER_MODES)}, not {shutter!r}")
        if read_timeout_margin_s <= 0 or poll_s <= 0:
            raise ValueError("read_timeout_margin_s and poll_s must be positive")
        self._device = device
        self.name = name
        self._exposure_limits_s = (float(low), float(high))
        self.shutter = shutter
        self.exposure_tolerance_s = float(exposure_tolerance_s)
        self.exposure_tolerance_rel = float(exposure_tolerance_rel)
        self.read_timeout_margin_s = float(read_timeout_margin_s)
        self.poll_s = float(poll_s)
        self.wait = wait
        self.now = now
        if sdk_errors is None:  # a pylablib camera names its error classes
            sdk_errors = {"any": tuple(c for c in (getattr(device, "Error", None),)
                                       if isinstance(c, type)),
                          "timeout": tuple(c for c in (getattr(device, "TimeoutError", None),)
                                           if isinstance(c, type)),
                          "unsupported": ()}
        self._sdk_errors = sdk_errors
        self.lines_read = 0
        with self._sdk_call("reading its configuration"):
            info = device.get_device_info()
            self.head_model = str(info.head_model)
            self.serial_number = str(info.serial_number)
            width, height = device.get_detector_size()
            self._pixels, self.rows = int(width), int(height)
            self._pixel_pitch_um = float(device.get_pixel_size()[0]) * 1e6
            self.bit_depth = int(device.get_channel_bitdepth())
        self._max_counts = (float(2 ** self.bit_depth - 1) if saturation_counts is None
                            else float(saturation_counts))
        with self._sdk_call("selecting full vertical binning", command=True):
            mode = device.set_read_mode("fvb")
        if mode != "fvb":
            raise InstrumentCommandError(f"{self.name} ({self.head_model}) does not support full "
                                         f"vertical binning (read mode is {mode!r})")
        if shutter == "auto":
            with self._sdk_call("setting the shutter to auto", command=True):
                device.setup_shutter("auto")
        elif shutter == "manual":
            with self._sdk_call("closing the shutter", command=True):
                device.setup_shutter("closed")
        with self._sdk_call("reading the exposure"):
            self._exposure_s = float(device.get_exposure())
        self.setpoint_C: int | None = None
        if cooling_target_C is not None:
            self.start_cooling(cooling_target_C)

    @classmethod
    def open(cls, index: int | None = None, *, serial: str | int | None = None,
             **kwargs: Any) -> AndorCamera:
        """Open a camera by index or serial number (`open_andor_camera`)."""
        return open_andor_camera(index, serial=serial, **kwargs)

    # --- Camera interface ----------------------------------------------------------------------
    @property
    def identity(self) -> str:
        return (f"Andor {self.head_model}, serial number {self.serial_number} ({self._pixels} × "
                f"{self._pixel_pitch_um:g} µm, FVB)")

    @property
    def pixels(self) -> int:
        return self._pixels

    @property
    def pixel_pitch_um(self) -> float:
        return self._pixel_pitch_um

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        return self._exposure_limits_s

    @property
    def max_counts(self) -> float:
        return self._max_counts

    @property
    def exposure_s(self) -> float:
        """The exposure the camera reported for the following reads."""
        return self._exposure_s

    def set_exposure_s(self, exposure_s: float) -> None:
        """Check `exposure_s` against `exposure_limits_s` (nothing is sent if it is outside),
        send it, and check the exposure the camera reports back."""
        exposure_s = check_exposure_s(exposure_s, self._exposure_limits_s, self.name)
        with self._sdk_call(f"setting the exposure to {exposure_s:g} s", command=True):
            actual = self._device.set_exposure(exposure_s)
            if not isinstance(actual, numbers.Real):
                actual = self._device.get_exposure()
        actual = float(actual)
        self._exposure_s = actual
        if abs(actual - exposure_s) > self.exposure_tolerance_s + self.exposure_tolerance_rel * \
                exposure_s:
            raise InstrumentCommandError(
                f"{self.name} set an exposure of {actual:g} s when asked for {exposure_s:g} s "
                "(below its minimum with this shutter and read-out?); narrow exposure_limits_s")

    def read_line(self) -> np.ndarray:
        """Take one exposure and return the FVB spectrum (counts per column, float)."""
        if self.shutter != "manual":
            return self._snap()
        with self._sdk_call("opening the shutter", command=True):
            self._device.setup_shutter("open")
        return self._snap_then_shutter("closed", "closing the shutter")

    def read_dark_line(self) -> np.ndarray:
        """One exposure with the shutter kept closed (dark + bias), same exposure."""
        if self.shutter == "none":
            raise InstrumentCommandError(f"{self.name}: no shutter is commanded (shutter='none'); "
                                         "block the light and use read_line()")
        if self.shutter == "manual":
            return self._snap()
        with self._sdk_call("closing the shutter", command=True):
            self._device.setup_shutter("closed")
        return self._snap_then_shutter("auto", "setting the shutter back to auto")

    def close(self) -> None:
        """Close the shutter (manual mode) and release the camera. The cooler is left to the SDK's
        shut-down; call `warm_up` first to bring a deeply cooled head up in a controlled way."""
        try:
            if self.shutter == "manual":
                with contextlib.suppress(Exception):
                    self._device.setup_shutter("closed")
        finally:
            with self._sdk_call("closing"):
                self._device.close()

    # --- cooling -------------------------------------------------------------------------------
    @property
    def temperature_range_C(self) -> tuple[float, float]:
        """Setpoints the camera accepts (°C)."""
        with self._sdk_call("reading the temperature range"):
            low, high = self._device.get_temperature_range()
        return float(low), float(high)

    @property
    def temperature_C(self) -> float:
        """Sensor temperature (°C)."""
        with self._sdk_call("reading the temperature"):
            return float(self._device.get_temperature())

    @property
    def temperature_status(self) -> str:
        """"off", "not_reached", "not_stabilized", "stabilized" or "drifted"."""
        with self._sdk_call("reading the temperature status"):
            return str(self._device.get_temperature_status())

    def check_temperature_C(self, target_C: float) -> int:
        """Return `target_C` as whole degrees if the camera accepts it; raise
        TemperatureOutOfRangeError otherwise (nothing is sent)."""
        limits = self.temperature_range_C
        if not is_finite_real(target_C):
            raise TemperatureOutOfRangeError(
                f"{self.name}: cooling target must be a finite number of °C, got {target_C!r}",
                target_C=target_C, limits_C=limits)
        if target_C != int(target_C):
            raise TemperatureOutOfRangeError(
                f"{self.name}: the SDK takes whole degrees; {target_C:g} °C is not one",
                target_C=target_C, limits_C=limits)
        if not limits[0] <= target_C <= limits[1]:
            raise TemperatureOutOfRangeError(
                f"{self.name}: cooling target {target_C:g} °C is outside the camera's range "
                f"{limits[0]:g} … {limits[1]:g} °C; nothing was sent", target_C=target_C,
                limits_C=limits)
        return int(target_C)

    def start_cooling(self, target_C: float) -> None:
        """Set the cooling setpoint (checked first) and switch the cooler on."""
        setpoint = self.check_temperature_C(target_C)
        with self._sdk_call(f"setting the temperature to {setpoint} °C", command=True):
            self._device.set_temperature(setpoint, enable_cooler=True)
        self.setpoint_C = setpoint

    def stop_cooling(self) -> None:
        """Switch the cooler off (the head warms up on its own)."""
        with self._sdk_call("switching the cooler off", command=True):
            self._device.set_cooler(False)
        self.setpoint_C = None

    def wait_for_temperature(self, target_C: float, timeout_s: float, *,
                             wait: Callable[[float], object] | None = None,
                             now: Callable[[], float] | None = None,
                             accept: tuple[str, ...] = ("stabilized",)) -> float:
        """Cool to `target_C` (setpoint checked and sent, cooler on) and wait until the camera
        reports a state in `accept` (default: "stabilized"). Polls every `poll_s` through
        `wait`; returns the sensor temperature.

        Raises InstrumentTimeoutError after `timeout_s` (the cooler stays on), and
        InstrumentCommandError if the cooler is found off while waiting.
        """
        if not (is_finite_real(timeout_s) and timeout_s >= 0):
            raise ValueError(f"timeout_s must be a finite, non-negative number, got {timeout_s!r}")
        unknown = set(accept) - set(TEMPERATURE_STATES)
        if not accept or unknown:
            raise ValueError(f"accept must be a non-empty subset of {TEMPERATURE_STATES}")
        self.start_cooling(target_C)

        def reached() -> tuple[bool, float, str]:
            status = self.temperature_status
            temperature = self.temperature_C
            if status == "off":
                raise InstrumentCommandError(f"{self.name}: the cooler is off while cooling to "
                                             f"{target_C:g} °C (switched off elsewhere?)")
            return status in accept, temperature, status

        return self._wait_until(reached, timeout_s, wait, now,
                                f"to reach {target_C:g} °C ({' or '.join(accept)})")

    def warm_up(self, above_C: float, timeout_s: float, *,
                wait: Callable[[float], object] | None = None,
                now: Callable[[], float] | None = None) -> float:
        """Switch the cooler off and wait until the sensor is above `above_C` (e.g. −20 °C before
        closing a deeply cooled head). Returns the sensor temperature."""
        if not (is_finite_real(timeout_s) and timeout_s >= 0):
            raise ValueError(f"timeout_s must be a finite, non-negative number, got {timeout_s!r}")
        self.stop_cooling()

        def reached() -> tuple[bool, float, str]:
            temperature = self.temperature_C
            return temperature >= above_C, temperature, "warming"

        return self._wait_until(reached, timeout_s, wait, now, f"to warm above {above_C:g} °C")

    # --- internals -----------------------------------------------------------------------------
    def _wait_until(self, reached: Callable[[], tuple[bool, float, str]], timeout_s: float,
                    wait: Callable[[float], object] | None, now: Callable[[], float] | None,
                    what: str) -> float:
        wait = wait if wait is not None else self.wait
        now = now if now is not None else self.now
        if wait is None:
            wait = time.sleep
            now = now if now is not None else time.monotonic

        def timeout_error(poll: tuple[bool, float, str]) -> InstrumentTimeoutError:
            _, temperature, status = poll
            return InstrumentTimeoutError(
                f"{self.name} did not manage {what} within {timeout_s:g} s (reads "
                f"{temperature:.1f} °C, {status}); check the fan / coolant and the setpoint")

        # Without a clock (a simulated wait alone) elapsed time is the sum of the waits.
        _, temperature, _ = wait_until_stable(
            reached, lambda poll: poll[0], stable_s=0.0, timeout_s=timeout_s,
            poll_s=self.poll_s, wait=wait, now=now, timeout_error=timeout_error,
            clip_wait_to_timeout=True)
        return temperature

    def _snap_then_shutter(self, mode: str, action: str) -> np.ndarray:
        """Snap, then put the shutter in `mode` — also when the snap failed (that failure is the
        one raised; a shutter error after it is secondary)."""
        try:
            counts = self._snap()
        except BaseException:
            with contextlib.suppress(Exception):
                self._device.setup_shutter(mode)
            raise
        with self._sdk_call(action, command=True):
            self._device.setup_shutter(mode)
        return counts

    def _snap(self) -> np.ndarray:
        timeout = self._exposure_s + self.read_timeout_margin_s
        with self._sdk_call("reading a spectrum"):
            frame = self._device.snap(timeout=timeout)
        if frame is None:
            raise InstrumentResponseError(f"{self.name}: the exposure returned no frame (lost)")
        counts = np.asarray(frame)
        if counts.ndim == 2 and 1 in counts.shape:
            counts = counts.reshape(-1)
        if counts.ndim != 1 or counts.size != self._pixels:
            raise InstrumentResponseError(
                f"{self.name}: expected one FVB row of {self._pixels} pixels, got an array of "
                f"shape {counts.shape} (read mode changed elsewhere?)")
        self.lines_read += 1
        return counts.astype(float)

    def _sdk_call(self, action: str, *, command: bool = False) -> Any:
        """Translate SDK and USB failures into the drivers' exception types."""
        return translating(lambda exc: self._translate(exc, action, command))

    def _translate(self, exc: Exception, action: str, command: bool) -> InstrumentError | None:
        errors = self._sdk_errors
        sdk_error = bool(errors.get("any")) and isinstance(exc, errors["any"])
        timeout_classes = errors.get("timeout", ())
        if (isinstance(exc, TimeoutError) or (timeout_classes and isinstance(exc, timeout_classes))
                or "timeout" in type(exc).__name__.lower()):
            return did_not_answer(self.name, action, exc)
        unsupported = errors.get("unsupported", ())
        if unsupported and isinstance(exc, unsupported):
            return InstrumentCommandError(f"{self.name} ({getattr(self, 'head_model', '?')}) "
                                          f"does not support {action}: {exc}")
        status_name = str(getattr(exc, "name", ""))
        if isinstance(exc, OSError) or (sdk_error and status_name in _LINK_ERRORS):
            return lost_connection(self.name, action, exc)
        if sdk_error:
            if command:
                return InstrumentCommandError(f"{self.name} refused {action}: {exc}")
            return InstrumentConnectionError(f"{self.name} failed {action}: {exc}")
        return None
