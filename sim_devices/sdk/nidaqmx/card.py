"""The simulated NI-DAQ card: what its tasks do in bench time, and what is wired to it.

A real card runs its tasks in hardware while the program waits; here the card runs them when
the program waits for them (`wait_until_done`, a read), advancing the bench clock by the time
the hardware would take. What the card's pins see comes from the twins wired to it, which keep
the physics (`sim_devices.instruments`):

* a **photon counter** (`SimPhotonCounter`) on an input terminal: a counter counting that
  terminal, gated by a second counter's pulse (pause trigger), counts `photons_in_gate` of the
  pulse's high time;
* a **galvo scanner** (`SimGalvoScanner`) on two AO channels and an input terminal: the AO
  samples point its beam, and a counter clocked by the AO sample clock latches its cumulative
  count of the terminal's photons (`count_samples`) at every clock edge;
* a **pump modulator** (`SimPumpModulator`) on an output terminal: a continuous counter-output
  pulse train routed to that terminal square-waves the pump (`generate`, `halt`).

Faults are the twins' own (`inject`, `schedule_fault`), shown as the DAQmx errors a real card
gives: drop_connection → -201003 on every call that touches the card; stop_answering → the call
blocks for its timeout, then -200284 (read), -200560 (wait) or -200474 (start, stop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import numpy as np

from ...clock import Clock
from .constants import AcquisitionType, Level, TriggerType
from .errors import DaqError, DaqReadError, DAQmxErrors
from .task import Task

#: The card's master timebase (X-series): sample clocks are this divided by an integer.
TIMEBASE_HZ = 100e6
#: Edges a counter register holds before it wraps.
COUNTER_MODULUS = 2**32


@dataclass
class _Acquisition:
    """The running state of one task on the card."""

    running: bool = False
    done: bool = False
    #: AO: the written buffer (rows in channel order) and samples generated so far.
    buffer: np.ndarray | None = None
    generated: int = 0
    #: CI: edges counted (unwrapped) and, when sample-clocked, the latches not read yet (in
    #: chunks; the first is latch number `latch_base`) and how many were read.
    count: int = 0
    latches: list[np.ndarray] = field(default_factory=list)
    latch_base: int = 0
    read: int = 0


class SimDaqCard:
    """One simulated NI-DAQ device (`name`, e.g. "Dev1") with `ao_count` analog outputs and
    `counter_count` counters, and the twins wired to its pins."""

    def __init__(self, clock: Clock, name: str = "Dev1", *, ao_count: int = 4,
                 counter_count: int = 4, timebase_Hz: float = TIMEBASE_HZ) -> None:
        self.clock = clock
        self.name = name
        self.ao_count = ao_count
        self.counter_count = counter_count
        self.timebase_Hz = timebase_Hz
        self._tasks: dict[int, tuple[Task, _Acquisition]] = {}
        self._task_numbers = 0
        self._fault_sources: list[Any] = []
        self._counter_pins: dict[str, Any] = {}      # terminal → SimPhotonCounter
        self._galvo: Any = None                       # SimGalvoScanner
        self._galvo_axes: dict[str, int] = {}         # "Dev1/ao0" → 0 (x), 1 (y)
        self._galvo_pin = ""                          # terminal of the galvo's detector
        self._output_pins: dict[str, Any] = {}        # terminal → SimPumpModulator

    # --- wiring --------------------------------------------------------------------------------
    def terminal(self, pin: str) -> str:
        """The full terminal path of a pin name: 'PFI8' → '/Dev1/PFI8'."""
        return pin if pin.startswith("/") else f"/{self.name}/{pin}"

    def _watch(self, twin: Any) -> None:
        if twin not in self._fault_sources:
            self._fault_sources.append(twin)

    def wire_photon_counter(self, pin: str, twin: Any) -> None:
        """Connect a detector whose clicks `twin.photons_in_gate(s)` gives to terminal `pin`."""
        self._counter_pins[self.terminal(pin)] = twin
        self._watch(twin)

    def wire_galvo(self, x_channel: str, y_channel: str, pin: str, twin: Any) -> None:
        """Connect the galvo amplifiers to AO `x_channel`/`y_channel` ('ao0') and the
        detector behind the scan optics to terminal `pin`."""
        self._galvo = twin
        self._galvo_axes = {f"{self.name}/{x_channel}": 0, f"{self.name}/{y_channel}": 1}
        self._galvo_pin = self.terminal(pin)
        self._watch(twin)

    def wire_output(self, pin: str, twin: Any) -> None:
        """Connect terminal `pin` to the laser's modulation input (and the tagger's marker)."""
        self._output_pins[self.terminal(pin)] = twin
        self._watch(twin)

    # --- errors and faults ---------------------------------------------------------------------
    def error(self, message: str, code: int, task: Task | None = None) -> DaqError:
        return DaqError(message, code, task.name if task is not None else "")

    def _check(self, task: Task, *, hang_s: float | None = None,
               hung: Callable[[], DaqError] | None = None) -> None:
        """Raise the DAQmx error a faulted twin shows: a dropped card on every call; a hung
        one (`hung()`, when given: made only then, as this runs on every read) after `hang_s`
        of bench time."""
        for twin in self._fault_sources:
            twin._apply_due_faults(self.clock.now())
        active = set().union(*(t.active_faults for t in self._fault_sources))
        if "drop_connection" in active:
            raise self.error(f"Device cannot be accessed. Possible causes: {self.name} is no "
                             "longer present in the system (simulated fault)",
                             DAQmxErrors.DEV_CANNOT_BE_ACCESSED, task)
        if hung is not None and "stop_answering" in active:
            if hang_s:
                self.clock.sleep(hang_s)
            raise hung()

    def check_channel(self, task: Task, channel: str, kind: str) -> None:
        """Raise -200170 unless `channel` ('Dev1/ao0', 'Dev1/ctr1') exists on this card."""
        device, _, local = channel.strip().lstrip("/").partition("/")
        count = self.ao_count if kind == "ao" else self.counter_count
        if device != self.name or local not in {f"{kind}{i}" for i in range(count)}:
            raise self.error(f"Physical channel specified does not exist on this device: "
                             f"{channel}", DAQmxErrors.PHYSICAL_CHAN_DOES_NOT_EXIST, task)

    # --- tasks ---------------------------------------------------------------------------------
    def next_task_number(self) -> int:
        self._task_numbers += 1
        return self._task_numbers

    def new_task(self, new_task_name: str = "") -> Task:
        task = Task(self, new_task_name)
        self._tasks[id(task)] = (task, _Acquisition())
        return task

    def _state(self, task: Task) -> _Acquisition:
        return self._tasks[id(task)][1]

    def coerce_rate(self, rate_Hz: float) -> float:
        """The sample rate the card makes for a request: timebase / integer divisor."""
        divisor = max(1, round(self.timebase_Hz / rate_Hz))
        return self.timebase_Hz / divisor

    def write(self, task: Task, data: np.ndarray) -> None:
        self._check(task)
        state = self._state(task)
        state.buffer = np.array(data, dtype=float)
        state.generated = 0

    def generated(self, task: Task) -> int:
        self._check(task)
        return self._state(task).generated

    def _hung_driver(self, task: Task) -> DaqError | None:
        """What a hung card raises on start/stop of a pulse train (the calls that block there;
        acquisitions hang in their wait or read instead)."""
        if not (len(task.co_channels) and self._continuous(task)):
            return None
        return self.error("The specified operation did not complete, because the specified "
                          "timeout expired (simulated fault)", DAQmxErrors.OPERATION_TIMED_OUT,
                          task)

    def start(self, task: Task) -> None:
        error = self._hung_driver(task)
        self._check(task, hang_s=10.0, hung=None if error is None else lambda: error)
        state = self._state(task)
        if state.running:
            return
        if len(task.ao_channels):
            if state.buffer is None:
                raise self.error("Generation cannot be started, because the output buffer is "
                                 "empty", DAQmxErrors.NO_DATA_AVAILABLE_FOR_GENERATION, task)
            if any(self._on_ao_clock(t) for t, s in self._tasks.values() if s.running):
                volts = self._galvo_volts(task, state.buffer)
                if volts is not None:
                    self._galvo.start_frame(volts, 1.0 / task.timing.samp_clk_rate)
        if len(task.ci_channels):
            state.count = task.ci_channels[0].ci_count_edges_initial_cnt
            state.latches, state.read, state.latch_base = [], 0, 0
        state.running, state.done = True, False
        if len(task.co_channels) and self._continuous(task):
            twin = self._output_twin(task)
            if twin is not None:
                from instrument_data.modulation import PumpWaveform

                channel = task.co_channels[0]
                twin.generate(PumpWaveform.from_on_off(channel.co_pulse_high_time,
                                                       channel.co_pulse_low_time))

    def stop(self, task: Task) -> None:
        error = self._hung_driver(task)
        self._check(task, hang_s=10.0, hung=None if error is None else lambda: error)
        self._halt(task)

    def close(self, task: Task) -> None:
        """Release the task; a running counter output stops (its pin idles low) even when the
        card is faulted, as the driver's release does on a real card."""
        if id(task) in self._tasks:
            self._halt(task)
            del self._tasks[id(task)]

    def _halt(self, task: Task) -> None:
        state = self._state(task)
        if state.running and len(task.co_channels) and self._continuous(task):
            twin = self._output_twin(task)
            if twin is not None:
                twin.halt()
        state.running = False

    def is_done(self, task: Task) -> bool:
        self._check(task)
        return self._state(task).done

    def wait_until_done(self, task: Task, timeout_s: float) -> None:
        def hung() -> DaqError:
            return self.error("Wait Until Done did not indicate that the task was done within "
                              "the specified timeout (simulated fault)",
                              DAQmxErrors.WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE, task)

        self._check(task, hang_s=timeout_s, hung=hung)
        state = self._state(task)
        if not state.running or state.done:
            return
        if len(task.ao_channels):
            self._generate(task, state.buffer.shape[1] if state.buffer is not None else 0)
        elif len(task.co_channels):
            if self._continuous(task):
                self.clock.sleep(timeout_s)  # a pulse train never finishes
                raise hung()
            self._single_pulse(task)
        state.done = True

    def read_count(self, task: Task) -> int:
        """On-demand read of an edge counter: its register now."""
        self._check(task)
        return self._state(task).count % COUNTER_MODULUS

    def read_latches(self, task: Task, n: int, timeout_s: float) -> np.ndarray:
        """The next `n` latches of a sample-clocked counter, generating the AO samples whose
        clock edges take them; DaqReadError -200284 after `timeout_s` if they never come."""
        def not_in_time(read: int) -> DaqReadError:
            return DaqReadError("Some or all of the samples requested have not yet been "
                                "acquired (simulated)", DAQmxErrors.SAMPLES_NOT_YET_AVAILABLE,
                                read, task.name)

        self._check(task, hang_s=timeout_s, hung=lambda: not_in_time(0))
        state = self._state(task)
        ao = self._clocking_ao(task)
        wanted = state.read + n
        limit = task.timing.samp_quant_samp_per_chan
        if not state.running or ao is None or wanted > limit:
            self.clock.sleep(timeout_s)  # no clock edges come: the read times out
            raise not_in_time(0)
        ao_task, ao_state = ao
        # Latch k is taken at AO clock edge k, when sample k goes out.
        self._generate(ao_task, min(wanted, ao_state.buffer.shape[1]))
        # Only the latches not read yet are kept: concatenating every latch of the frame on
        # each read made a 512 x 512 scan quadratic (hundreds of MB copied per frame).
        pending = np.concatenate(state.latches) if state.latches else np.zeros(0, np.int64)
        if state.latch_base + pending.size < wanted:
            self.clock.sleep(timeout_s)
            raise not_in_time(0)
        out = pending[state.read - state.latch_base:wanted - state.latch_base]
        state.latches = [pending[wanted - state.latch_base:]]
        state.latch_base = state.read = wanted
        return (out % COUNTER_MODULUS).astype(np.uint32)

    # --- what happens in time ------------------------------------------------------------------
    @staticmethod
    def _continuous(task: Task) -> bool:
        return (task.timing.samp_timing_type == "IMPLICIT"
                and task.timing.samp_quant_samp_mode == AcquisitionType.CONTINUOUS)

    def _output_twin(self, task: Task) -> Any:
        channel = task.co_channels[0]
        pin = channel.co_pulse_term or self._default_output(channel.name)
        return self._output_pins.get(self.terminal(pin))

    def _default_output(self, counter: str) -> str:
        local = counter.rpartition("/")[2]
        return f"/{self.name}/{local.capitalize()}Out"

    def _internal_output(self, counter: str) -> str:
        local = counter.rpartition("/")[2]
        return f"/{self.name}/{local.capitalize()}InternalOutput"

    def _on_ao_clock(self, task: Task) -> bool:
        return (len(task.ci_channels) > 0
                and task.timing.samp_clk_src == f"/{self.name}/ao/SampleClock")

    def _clocking_ao(self, ci_task: Task) -> tuple[Task, _Acquisition] | None:
        """The running AO task whose sample clock clocks `ci_task`, if any."""
        if not self._on_ao_clock(ci_task):
            return None
        for task, state in self._tasks.values():
            if len(task.ao_channels) and state.running and state.buffer is not None:
                return task, state
        return None

    def _galvo_volts(self, task: Task, samples: np.ndarray) -> np.ndarray | None:
        """The AO samples as the galvos see them, (x, y) rows; None if neither is wired."""
        names = task.ao_channels.channel_names
        rows = {self._galvo_axes[n]: i for i, n in enumerate(names) if n in self._galvo_axes}
        if self._galvo is None or not rows:
            return None
        volts = np.repeat(self._galvo.volts[:, None], samples.shape[1], axis=1)
        for axis, row in rows.items():
            volts[axis] = samples[row]
        return volts

    def _generate(self, task: Task, upto: int) -> None:
        """Generate AO samples up to index `upto` (exclusive): each holds for one clock period,
        and a counter on this clock sees the detector's photons meanwhile."""
        state = self._state(task)
        start = state.generated
        if upto <= start:
            return
        samples = state.buffer[:, start:upto]
        period_s = 1.0 / task.timing.samp_clk_rate
        volts = self._galvo_volts(task, samples)
        counters = [(t, s) for t, s in self._tasks.values()
                    if s.running and self._on_ao_clock(t)]
        if volts is None:
            self.clock.sleep(samples.shape[1] * period_s)
            photons = np.zeros(samples.shape[1], dtype=np.int64)
        elif counters:
            photons = self._galvo.count_samples(volts, period_s)
        else:  # an uncounted move: only where it ends matters
            self._galvo.glide_to(volts[:, -1], samples.shape[1] * period_s)
            photons = np.zeros(samples.shape[1], dtype=np.int64)
        for ci_task, ci_state in counters:
            # Each edge latches the count so far, then the sample's period adds its photons.
            seen = self.terminal(ci_task.ci_channels[0].ci_count_edges_term) == self._galvo_pin
            added = photons if seen else np.zeros_like(photons)
            cumulative = ci_state.count + np.concatenate(([0], np.cumsum(added)))
            ci_state.latches.append(cumulative[:-1])
            ci_state.count = int(cumulative[-1])
        state.generated = upto

    def _single_pulse(self, task: Task) -> None:
        """One counter-output pulse (delay, high, low); counters paused by its level count
        their terminal's photons while it lets them."""
        channel = task.co_channels[0]
        source = self._internal_output(channel.name)
        phases = ((channel.co_pulse_time_initial_delay, channel.co_pulse_idle_state),
                  (channel.co_pulse_high_time, Level.HIGH),
                  (channel.co_pulse_low_time, Level.LOW))
        for duration_s, level in phases:
            if duration_s <= 0:
                continue
            counting = []
            for ci_task, ci_state in self._tasks.values():
                if not (ci_state.running and len(ci_task.ci_channels)) \
                        or self._on_ao_clock(ci_task):
                    continue
                trigger = ci_task.triggers.pause_trigger
                paused = (trigger.trig_type == TriggerType.DIGITAL_LEVEL
                          and trigger.dig_lvl_src == source and trigger.dig_lvl_when == level)
                if not paused:
                    counting.append((ci_task, ci_state))
            self._elapse(duration_s, counting)

    def _elapse(self, duration_s: float, counting: list[tuple[Task, _Acquisition]]) -> None:
        """Let `duration_s` pass; each counting task adds the photons on its terminal."""
        by_pin: dict[str, list[_Acquisition]] = {}
        for task, state in counting:
            pin = self.terminal(task.ci_channels[0].ci_count_edges_term or "")
            by_pin.setdefault(pin, []).append(state)
        wired = [(pin, states) for pin, states in by_pin.items() if pin in self._counter_pins]
        if not wired:
            self.clock.sleep(duration_s)
            return
        pin, states = wired[0]  # one detector per card is simulated
        photons = self._counter_pins[pin].photons_in_gate(duration_s)
        for state in states:
            state.count += photons
