"""`nidaqmx.errors` as the simulated card raises them: a DaqError carries the DAQmx error code,
so a driver's translation by code runs exactly as over the real module.

The codes are NI-DAQmx's own (nidaqmx.error_codes.DAQmxErrors); only those the simulated card
raises are listed in `DAQmxErrors`.
"""

from __future__ import annotations

from enum import IntEnum


class DAQmxErrors(IntEnum):
    """The DAQmx error codes the simulated card raises."""

    UNKNOWN = -1
    #: "Requested value is not a supported value for this property".
    INVALID_ATTRIBUTE_VALUE = -200077
    #: "Specified property is not supported by the device or is not applicable to the task".
    ATTRIBUTE_NOT_SUPPORTED_IN_TASK_CONTEXT = -200452
    #: "Device cannot be accessed": the card went away (USB/PCIe reset, removed, driver reset).
    DEV_CANNOT_BE_ACCESSED = -201003
    #: "Some or all of the samples requested have not yet been acquired" (read timeout).
    SAMPLES_NOT_YET_AVAILABLE = -200284
    #: "Wait Until Done did not indicate that the task was done within the specified timeout".
    WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE = -200560
    #: "The specified operation did not complete, because the specified timeout expired".
    OPERATION_TIMED_OUT = -200474
    #: "Physical channel specified does not exist on this device".
    PHYSICAL_CHAN_DOES_NOT_EXIST = -200170
    #: "Generation cannot be started, because the output buffer is empty".
    NO_DATA_AVAILABLE_FOR_GENERATION = -200462
    #: "Write cannot be performed, because the number of channels in the data does not match
    #: the number of channels in the task".
    WRITE_NUM_CHANS_MISMATCH = -200524


class Error(Exception):
    """Base class of the module's errors."""


class DaqError(Error):
    """Raised by any DAQmx call; `error_code` is the DAQmx code (negative)."""

    def __init__(self, message: str, error_code: int, task_name: str = "") -> None:
        if task_name:
            message = f"{message}\n\nTask Name: {task_name}"
        super().__init__(message)
        self._error_code = int(error_code)
        try:
            self._error_type = DAQmxErrors(self._error_code)
        except ValueError:
            self._error_type = DAQmxErrors.UNKNOWN

    @property
    def error_code(self) -> int:
        return self._error_code

    @property
    def error_type(self) -> DAQmxErrors:
        return self._error_type


class DaqReadError(DaqError):
    """A DaqError from a read, with the samples per channel read before it failed."""

    def __init__(self, message: str, error_code: int, samps_per_chan_read: int,
                 task_name: str = "") -> None:
        super().__init__(message, error_code, task_name)
        self._samps_per_chan_read = int(samps_per_chan_read)

    @property
    def samps_per_chan_read(self) -> int:
        return self._samps_per_chan_read


class DaqWriteError(DaqError):
    """A DaqError from a write, with the samples per channel written before it failed."""

    def __init__(self, message: str, error_code: int, samps_per_chan_written: int,
                 task_name: str = "") -> None:
        super().__init__(message, error_code, task_name)
        self._samps_per_chan_written = int(samps_per_chan_written)

    @property
    def samps_per_chan_written(self) -> int:
        return self._samps_per_chan_written
