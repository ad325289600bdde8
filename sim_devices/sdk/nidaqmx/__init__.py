"""A simulated `nidaqmx` module: the part of nidaqmx-python the avlab NI-DAQ drivers use, on a
simulated card whose pins are wired to the bench's twins.

`SimulatedNIDAQmx(card)` stands where a driver would otherwise use `import nidaqmx`: it has
`Task`, the submodules `constants`, `errors`, `stream_readers`, `stream_writers` and
`DaqError`. Pass it to a driver as `sdk=`; `sim_devices.sdk` builds wired cards and drivers in
one call.

Covered (names, keyword defaults and semantics as in nidaqmx-python): `Task(new_task_name)`
as a context manager with `start`, `stop`, `close`, `wait_until_done(timeout)`,
`is_task_done`, `read()` (on-demand count); `ao_channels.add_ao_voltage_chan`,
`ci_channels.add_ci_count_edges_chan` (+ `ci_count_edges_term`),
`co_channels.add_co_pulse_chan_time` (+ `co_pulse_term`); `timing.cfg_samp_clk_timing`,
`timing.cfg_implicit_timing`, `timing.samp_clk_rate` (coerced to the 100 MHz timebase);
`triggers.pause_trigger` (digital level); `out_stream.total_samp_per_chan_generated`;
`stream_writers.AnalogMultiChannelWriter.write_many_sample`;
`stream_readers.CounterReader.read_many_sample_uint32`; `errors.DaqError` / `DaqReadError` /
`DaqWriteError` with DAQmx error codes. Everything else is absent on purpose: a driver that
starts using more of nidaqmx fails here first, loudly, rather than against a silent stand-in.
"""

from __future__ import annotations

from ...clock import Clock
from . import constants, errors, stream_readers, stream_writers
from .card import SimDaqCard
from .errors import DaqError
from .task import Task


class SimulatedNIDAQmx:
    """The `nidaqmx` module of one simulated card."""

    __name__ = "sim_devices.sdk.nidaqmx"

    constants = constants
    errors = errors
    stream_readers = stream_readers
    stream_writers = stream_writers
    DaqError = DaqError

    def __init__(self, card: SimDaqCard) -> None:
        self.card = card

    def Task(self, new_task_name: str = "") -> Task:  # noqa: N802 - nidaqmx's name
        """A new task on the simulated card."""
        return self.card.new_task(new_task_name)

    def __repr__(self) -> str:
        return f"<simulated nidaqmx on {self.card.name}>"


def simulated_nidaqmx(clock: Clock, device: str = "Dev1") -> SimulatedNIDAQmx:
    """A simulated nidaqmx over a fresh, unwired card named `device`."""
    return SimulatedNIDAQmx(SimDaqCard(clock, device))


__all__ = ["DaqError", "SimDaqCard", "SimulatedNIDAQmx", "Task", "constants", "errors",
           "simulated_nidaqmx", "stream_readers", "stream_writers"]
