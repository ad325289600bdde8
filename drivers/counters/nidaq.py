"""Photon counting with an NI-DAQ counter (nidaqmx, imported only when used).

The gate is timed by hardware: a second counter emits one pulse of the gate length, and the
edge-counting task is paused whenever that pulse is low. The count is therefore exact to the
card's timebase, not to the operating system's sleep.
"""

from __future__ import annotations

from typing import Any

from ..errors import NIDAQMX_INSTALL_HINT, classify_daq_error, import_optional, sdk_part, translating


def _import_nidaqmx() -> Any:
    return import_optional("nidaqmx", "The NI-DAQ photon counter", NIDAQMX_INSTALL_HINT)


class NIDAQPhotonCounter:
    """Counts TTL pulses on `input_terminal` with counter `counter`, gated by `gate_counter`.

    `sdk` is the nidaqmx module to use: by default the installed one (imported here), on the
    simulated bench a simulated one (`sim_devices.sdk`).
    """

    def __init__(self, counter: str = "Dev1/ctr0", *, input_terminal: str = "PFI8",
                 gate_counter: str = "Dev1/ctr1", sdk: Any = None) -> None:
        self._nidaqmx = _import_nidaqmx() if sdk is None else sdk
        self.counter = counter
        self.input_terminal = input_terminal
        self.gate_counter = gate_counter
        self.device = counter.split("/")[0]

    @property
    def identity(self) -> str:
        return (f"NI-DAQ {self.counter} counting {self.input_terminal}, gated by "
                f"{self.gate_counter}")

    def count(self, gate_s: float) -> int:
        if gate_s <= 0:
            raise ValueError(f"gate time must be positive, got {gate_s} s")
        nidaqmx = self._nidaqmx
        constants = sdk_part(nidaqmx, "constants")
        Edge, Level, TriggerType = constants.Edge, constants.Level, constants.TriggerType

        gate_output = f"/{self.device}/{self.gate_counter.split('/')[-1].capitalize()}InternalOutput"
        with (translating(classify_daq_error(f"NI-DAQ counter {self.counter}", "counting")),
              nidaqmx.Task() as counting, nidaqmx.Task() as gate):
            channel = counting.ci_channels.add_ci_count_edges_chan(
                self.counter, edge=Edge.RISING, initial_count=0)
            channel.ci_count_edges_term = f"/{self.device}/{self.input_terminal}"
            counting.triggers.pause_trigger.trig_type = TriggerType.DIGITAL_LEVEL
            counting.triggers.pause_trigger.dig_lvl_src = gate_output
            counting.triggers.pause_trigger.dig_lvl_when = Level.LOW
            gate.co_channels.add_co_pulse_chan_time(
                self.gate_counter, low_time=1e-6, high_time=gate_s, initial_delay=1e-6)
            counting.start()
            gate.start()
            gate.wait_until_done(timeout=gate_s + 10.0)
            return int(counting.read())

    def close(self) -> None:
        """Tasks are opened per gate; nothing stays allocated."""
