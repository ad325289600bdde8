"""Exceptions raised by avlab drivers: specific types with messages a user can act on."""

from __future__ import annotations


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


class BackendNotInstalledError(ImportError):
    """A real-hardware backend needs a vendor package that is not installed."""

    def __init__(self, what: str, install_hint: str) -> None:
        super().__init__(f"{what} needs a package that is not installed: {install_hint}")
        self.install_hint = install_hint


class InstrumentConnectionError(InstrumentError):
    """The link to the instrument broke (cable, network, USB reset)."""


class InstrumentTimeoutError(InstrumentError):
    """The instrument did not answer in time (hung, wrong port, wrong terminations)."""


class InstrumentResponseError(InstrumentError):
    """The instrument answered something that cannot be parsed (noise, wrong baud rate)."""
