"""Exceptions raised by avlab drivers: specific types with messages a user can act on."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any


class InstrumentError(Exception):
    """Base class of everything a driver raises about its instrument."""


class InstrumentCommandError(InstrumentError):
    """The instrument refused or did not understand a command."""


class LaserFaultError(InstrumentError):
    """The laser reports a fault (over-temperature, back-reflection, module failure, ...)."""


class LaserInterlockError(InstrumentError):
    """Emission is not permitted: key switch, interlock or enable line."""


class PowerMeterOverRangeError(InstrumentError):
    """The power meter's reading is above its range (the instrument answered ~9.9E37)."""


class PowerMeterSensorError(InstrumentError):
    """The power meter has no sensor head (unplugged): it gives no readings."""


class BackendNotInstalledError(ImportError):
    """A real-hardware backend needs a vendor package that is not installed."""

    def __init__(self, what: str, install_hint: str) -> None:
        super().__init__(f"{what} needs a package that is not installed: {install_hint}")
        self.install_hint = install_hint


#: Install hint shared by the NI-DAQ backends (counter, pump modulator, galvo scanner).
NIDAQMX_INSTALL_HINT = "pip install nidaqmx, and install the NI-DAQmx driver from NI"


def import_optional(module: str | Sequence[str], what: str, hint: str) -> Any:
    """Import an optional vendor package when a backend is created, not when its module is.

    `module` is a dotted name, or several tried in order (the first that imports wins).
    `a.b.c` behaves like `from a.b import c`, so the result may be a submodule or an attribute
    of its package. Raises BackendNotInstalledError(`what`, `hint`) if none imports. The
    import runs at call time, so a test that puts a fake (or None) into sys.modules is obeyed.
    """
    for name in [module] if isinstance(module, str) else module:
        package, _, attribute = name.rpartition(".")
        try:
            if not package:
                return __import__(name)
            found = __import__(package, fromlist=[attribute])
            return getattr(found, attribute)
        except (ImportError, AttributeError):
            continue
    raise BackendNotInstalledError(what, hint) from None


def sdk_part(sdk: Any, name: str) -> Any:
    """Submodule `name` of a vendor SDK handed over as an object (`nidaqmx` → `.constants`).

    Drivers take their SDK by injection (the real module by default, a simulated one on the
    simulated bench), so they reach its submodules through the object they were given, never by
    a fixed import path: the attribute if the package already loaded it, else the submodule
    imported under the package's own name (`nidaqmx` does not import `stream_readers` itself).
    """
    part = getattr(sdk, name, None)
    if part is None:
        part = importlib.import_module(f"{sdk.__name__}.{name}")
    return part


class HeaterFaultError(InstrumentError):
    """A temperature controller's heater output is open or shorted; the output is off."""


class SensorFaultError(InstrumentError):
    """A temperature input's reading is invalid (open, shorted or out-of-range sensor)."""


class SetpointTimeoutError(InstrumentError, TimeoutError):
    """The temperature did not settle at the setpoint in the time allowed."""


class InstrumentConnectionError(InstrumentError):
    """The link to the instrument broke (cable, network, USB reset)."""


class InstrumentTimeoutError(InstrumentError):
    """The instrument did not answer in time (hung, wrong port, wrong terminations)."""


class InstrumentResponseError(InstrumentError):
    """The instrument answered something that cannot be parsed (noise, wrong baud rate)."""


def did_not_answer(name: str, action: str, exc: BaseException) -> InstrumentTimeoutError:
    """The one wording of a timeout, whichever transport or SDK reported it."""
    return InstrumentTimeoutError(f"{name} did not answer ({action}): {exc}")


def lost_connection(name: str, action: str, exc: BaseException) -> InstrumentConnectionError:
    """The one wording of a broken link, whichever transport or SDK reported it."""
    return InstrumentConnectionError(f"lost the connection to {name} ({action}): "
                                     f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def translating(classify: Callable[[Exception], InstrumentError | None]) -> Iterator[None]:
    """Re-raise what a vendor SDK raises inside the block as the drivers' exception types.

    `classify(exc)` knows the SDK's own error classes and returns the InstrumentError to raise,
    or None to let `exc` through unchanged; InstrumentErrors pass untouched.
    """
    try:
        yield
    except InstrumentError:
        raise
    except Exception as exc:
        translated = classify(exc)
        if translated is None:
            raise
        raise translated from exc


#: DAQmx error codes (nidaqmx.error_codes.DAQmxErrors) that mean the card is gone or
#: unreachable (USB unplugged, PCIe reset, device reserved by another process) ...
DAQMX_CONNECTION_CODES: dict[int, str] = {
    -201003: "the device cannot be accessed (unplugged or reset)",
    -88705: "the device is not present",
    -50103: "the resource is reserved by another task or process",
}
#: ... and those that mean a clock or gate never finished.
DAQMX_TIMEOUT_CODES: dict[int, str] = {
    -200284: "the samples were not acquired in time",
    -200560: "the task did not finish in time",
    -200474: "the wait timed out",
}


def classify_daq_error(name: str, action: str,
                       timeout_error: type[InstrumentTimeoutError] = InstrumentTimeoutError,
                       connection_error: type[InstrumentConnectionError] = InstrumentConnectionError,
                       ) -> Callable[[Exception], InstrumentError | None]:
    """A `translating` classifier for nidaqmx's DaqError, by its DAQmx code: connection loss
    and timeouts become the drivers' exception types; other codes pass through unchanged
    (NI's own message names the problem better than any wording of ours)."""

    def classify(exc: Exception) -> InstrumentError | None:
        code = getattr(exc, "error_code", None)
        if code in DAQMX_CONNECTION_CODES:
            return connection_error(f"lost the connection to {name} ({action}): "
                                    f"{DAQMX_CONNECTION_CODES[code]} (DAQmx {code})")
        if code in DAQMX_TIMEOUT_CODES:
            return timeout_error(f"{name} did not finish ({action}): "
                                 f"{DAQMX_TIMEOUT_CODES[code]} (DAQmx {code})")
        return None

    return classify
