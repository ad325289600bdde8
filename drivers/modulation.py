"""Pump modulation for rise/decay measurements: the pump square-wave on and off, with a marker.

A photon-avalanche rise curve needs the pump switched on from dark, again and again, with a TTL
that tells the time tagger when (docs/protocols.md §5: start channel = modulation TTL). One signal does
both jobs: a DAQ counter output generates the square wave (high = pump on), which drives the
laser's modulation input and, through a BNC tee, the time tagger's start channel. Its rising edge
is pump-on, its falling edge pump-off.

Two pieces, kept apart on purpose:

* `PumpModulator` (below) runs the waveform; `NIDAQPumpModulator` does it with an NI-DAQ
  counter (nidaqmx, imported only when a modulator is created).
* The laser must *listen* to its modulation input. The IPG YLR does after `EMOD` (modulation
  enable, status bit 12; `DMOD` disables it, docs/protocols.md §1a): the YLR is modulated through its
  rear modulation input, the serial command only enables that input —
  `IPGYLR.analog_modulation_enabled`.
  With modulation enabled and the waveform stopped (output idling low) the YLR emits nothing;
  disabling modulation while emitting sends it back to CW at its setpoint, so that is refused.

A free-running counter output starts with one full off-phase (its initial delay), so the first
period, like every later one, begins from a pump that was off for `off_s`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from instrument_data.modulation import PumpWaveform, check_waveform

from .errors import (
    NIDAQMX_INSTALL_HINT,
    classify_daq_error,
    import_optional,
    sdk_part,
    translating,
)

#: Shortest period accepted by default (10 kHz). The YLR's modulation bandwidth is model
#: dependent (a few kHz to tens of kHz) [G: check the laser's datasheet]; PA rise and decay
#: need periods of ms to s anyway.
DEFAULT_MIN_PERIOD_S = 1e-4

__all__ = ["DEFAULT_MIN_PERIOD_S", "NIDAQPumpModulator", "PumpModulator", "PumpWaveform",
           "check_waveform"]


@runtime_checkable
class PumpModulator(Protocol):
    """Square-wave modulation of a pump laser with a TTL marker (high while the pump is on)."""

    @property
    def identity(self) -> str:
        """Human-readable description (card, counter, output terminal)."""

    @property
    def waveform(self) -> PumpWaveform | None:
        """The running waveform, or None when stopped."""

    def start(self, period_s: float, duty_cycle: float = 0.5) -> PumpWaveform:
        """Start (or restart with new timing) the square wave; returns the waveform running."""

    def stop(self) -> None:
        """Stop the square wave; the output idles low (pump off while its modulation input is
        enabled)."""

    def close(self) -> None:
        """Stop and release the hardware."""


# --- NI-DAQ counter output -----------------------------------------------------------------------

def _import_nidaqmx() -> Any:
    return import_optional("nidaqmx", "The NI-DAQ pump modulator", NIDAQMX_INSTALL_HINT)


class NIDAQPumpModulator:
    """A continuous pulse train from an NI-DAQ counter output (`add_co_pulse_chan_time`).

    `counter` is e.g. "Dev1/ctr2"; `output_terminal` (e.g. "PFI12") routes the counter output to
    a specific pin, otherwise it appears on the counter's default output pin. Wire that pin to
    the laser's modulation input and, with a tee, to the time tagger's start channel.
    `sdk` is the nidaqmx module to use: by default the installed one (imported here), on the
    simulated bench a simulated one (`sim_devices.sdk`).
    """

    def __init__(self, counter: str = "Dev1/ctr2", *, output_terminal: str | None = None,
                 min_period_s: float = DEFAULT_MIN_PERIOD_S, max_period_s: float = 100.0,
                 sdk: Any = None) -> None:
        self._nidaqmx = _import_nidaqmx() if sdk is None else sdk
        self.counter = counter
        self.output_terminal = output_terminal
        self.device = counter.split("/")[0]
        self.min_period_s = float(min_period_s)
        self.max_period_s = float(max_period_s)
        self._task: Any = None
        self._waveform: PumpWaveform | None = None

    @property
    def identity(self) -> str:
        where = f" on {self.output_terminal}" if self.output_terminal else ""
        return f"NI-DAQ {self.counter} pulse train{where} (pump modulation + tagger marker)"

    @property
    def waveform(self) -> PumpWaveform | None:
        return self._waveform

    def start(self, period_s: float, duty_cycle: float = 0.5) -> PumpWaveform:
        waveform = PumpWaveform(period_s, duty_cycle)
        check_waveform(waveform, min_period_s=self.min_period_s, max_period_s=self.max_period_s)
        self.stop()
        nidaqmx = self._nidaqmx
        constants = sdk_part(nidaqmx, "constants")
        AcquisitionType, Level = constants.AcquisitionType, constants.Level

        # Every SDK call: a card that went away is a connection error, whichever call meets it.
        with translating(classify_daq_error(f"NI-DAQ modulator {self.counter}", "starting")):
            task = nidaqmx.Task()
            try:
                channel = task.co_channels.add_co_pulse_chan_time(
                    self.counter, idle_state=Level.LOW, initial_delay=waveform.off_s,
                    low_time=waveform.off_s, high_time=waveform.on_s)
                if self.output_terminal:
                    channel.co_pulse_term = f"/{self.device}/{self.output_terminal}"
                task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.CONTINUOUS)
                task.start()
            except BaseException:
                task.close()
                raise
        self._task, self._waveform = task, waveform
        return waveform

    def stop(self) -> None:
        task, self._task, self._waveform = self._task, None, None
        if task is not None:
            with translating(classify_daq_error(f"NI-DAQ modulator {self.counter}",
                                                "stopping")):
                try:
                    task.stop()
                finally:
                    task.close()

    def close(self) -> None:
        self.stop()
