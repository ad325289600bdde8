"""`nidaqmx.Task` on the simulated card: channel collections, timing, the pause trigger and the
streams, as far as the avlab NI-DAQ drivers use them.

A Task only records what is configured; everything that touches the hardware (start, stop,
wait, read, write) is carried out by the card it belongs to (`card.SimDaqCard`), which also
raises the DAQmx errors. Names and keyword defaults follow nidaqmx-python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .constants import AcquisitionType, CountDirection, Edge, Level, TimeUnits, TriggerType

if TYPE_CHECKING:
    from .card import SimDaqCard


def split_channels(physical_channel: str) -> list[str]:
    """'Dev1/ao0, Dev1/ao1' (or 'Dev1/ao0:1') → ['Dev1/ao0', 'Dev1/ao1']."""
    names: list[str] = []
    for part in (p.strip() for p in physical_channel.split(",")):
        if not part:
            continue
        head, _, last = part.rpartition("/")
        prefix = last.rstrip("0123456789:")
        if ":" in last and prefix:
            low, high = last[len(prefix):].split(":")
            names += [f"{head}/{prefix}{i}" for i in range(int(low), int(high) + 1)]
        else:
            names.append(part)
    return names


class AOChannel:
    """An analog-output voltage channel (range in V)."""

    def __init__(self, name: str, min_val: float, max_val: float) -> None:
        self.name = name
        self.ao_min = float(min_val)
        self.ao_max = float(max_val)


class CIChannel:
    """A counter-input edge-counting channel; `ci_count_edges_term` is the input terminal."""

    def __init__(self, counter: str, edge: Edge, initial_count: int,
                 count_direction: CountDirection) -> None:
        self.name = counter
        self.ci_count_edges_active_edge = edge
        self.ci_count_edges_initial_cnt = int(initial_count)
        self.ci_count_edges_dir = count_direction
        self.ci_count_edges_term = ""


class COChannel:
    """A counter-output pulse channel (times in s); `co_pulse_term` routes its output."""

    def __init__(self, counter: str, idle_state: Level, initial_delay: float, low_time: float,
                 high_time: float) -> None:
        self.name = counter
        self.co_pulse_idle_state = idle_state
        self.co_pulse_time_initial_delay = float(initial_delay)
        self.co_pulse_low_time = float(low_time)
        self.co_pulse_high_time = float(high_time)
        self.co_pulse_term = ""


class _Collection:
    def __init__(self, task: Task) -> None:
        self._task = task
        self._channels: list[Any] = []

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self._channels]

    def __len__(self) -> int:
        return len(self._channels)

    def __iter__(self):
        return iter(self._channels)

    def __getitem__(self, index: int) -> Any:
        return self._channels[index]


class AOChannelCollection(_Collection):
    def add_ao_voltage_chan(self, physical_channel: str, name_to_assign_to_channel: str = "",
                            min_val: float = -10.0, max_val: float = 10.0,
                            units: Any = None, custom_scale_name: str = "") -> AOChannel:
        channels = [AOChannel(name, min_val, max_val) for name in split_channels(physical_channel)]
        for channel in channels:
            self._task._card.check_channel(self._task, channel.name, "ao")
        self._channels += channels
        return channels[0]


class CIChannelCollection(_Collection):
    def add_ci_count_edges_chan(self, counter: str, name_to_assign_to_channel: str = "",
                                edge: Edge = Edge.RISING, initial_count: int = 0,
                                count_direction: CountDirection = CountDirection.COUNT_UP,
                                ) -> CIChannel:
        self._task._card.check_channel(self._task, counter, "ctr")
        channel = CIChannel(counter, edge, initial_count, count_direction)
        self._channels.append(channel)
        return channel


class COChannelCollection(_Collection):
    def add_co_pulse_chan_time(self, counter: str, name_to_assign_to_channel: str = "",
                               units: TimeUnits = TimeUnits.SECONDS,
                               idle_state: Level = Level.LOW, initial_delay: float = 0.0,
                               low_time: float = 0.01, high_time: float = 0.01) -> COChannel:
        self._task._card.check_channel(self._task, counter, "ctr")
        if not (initial_delay >= 0 and low_time > 0 and high_time > 0):
            raise self._task._card.error(
                f"Requested pulse times are invalid: initial delay {initial_delay} s, low "
                f"{low_time} s, high {high_time} s", -200077, self._task)
        channel = COChannel(counter, idle_state, initial_delay, low_time, high_time)
        self._channels.append(channel)
        return channel


class Timing:
    """Sample-clock and implicit timing; `samp_clk_rate` reads back the rate the card can
    make (its timebase divided by an integer)."""

    def __init__(self, task: Task) -> None:
        self._task = task
        self.samp_timing_type: str | None = None
        self.samp_clk_src = ""
        self.samp_clk_active_edge = Edge.RISING
        self.samp_quant_samp_mode: AcquisitionType | None = None
        self.samp_quant_samp_per_chan = 0
        self._rate_Hz: float | None = None

    def cfg_samp_clk_timing(self, rate: float, source: str = "",
                            active_edge: Edge = Edge.RISING,
                            sample_mode: AcquisitionType = AcquisitionType.FINITE,
                            samps_per_chan: int = 1000) -> None:
        if not rate > 0:
            raise self._task._card.error(f"Sample clock rate must be positive, got {rate}",
                                         -200077, self._task)
        self.samp_timing_type = "SAMPLE_CLOCK"
        self.samp_clk_src = source
        self.samp_clk_active_edge = active_edge
        self.samp_quant_samp_mode = sample_mode
        self.samp_quant_samp_per_chan = int(samps_per_chan)
        self._rate_Hz = self._task._card.coerce_rate(float(rate)) if not source else float(rate)

    def cfg_implicit_timing(self, sample_mode: AcquisitionType = AcquisitionType.FINITE,
                            samps_per_chan: int = 1000) -> None:
        self.samp_timing_type = "IMPLICIT"
        self.samp_quant_samp_mode = sample_mode
        self.samp_quant_samp_per_chan = int(samps_per_chan)

    @property
    def samp_clk_rate(self) -> float:
        if self._rate_Hz is None:
            raise self._task._card.error("Sample clock rate is not configured", -200452,
                                         self._task)
        return self._rate_Hz


@dataclass
class PauseTrigger:
    """Pauses a counter while `dig_lvl_src` is at `dig_lvl_when` (DIGITAL_LEVEL)."""

    trig_type: TriggerType = TriggerType.NONE
    dig_lvl_src: str = ""
    dig_lvl_when: Level = Level.HIGH


class Triggers:
    def __init__(self) -> None:
        self.pause_trigger = PauseTrigger()


class OutStream:
    def __init__(self, task: Task) -> None:
        self.task = task

    @property
    def total_samp_per_chan_generated(self) -> int:
        return self.task._card.generated(self.task)


class InStream:
    def __init__(self, task: Task) -> None:
        self.task = task


class Task:
    """A DAQmx task on the simulated card; a context manager that closes itself."""

    def __init__(self, card: SimDaqCard, new_task_name: str = "") -> None:
        self._card = card
        self.name = new_task_name or f"_unnamedTask<{card.next_task_number()}>"
        self.ao_channels = AOChannelCollection(self)
        self.ci_channels = CIChannelCollection(self)
        self.co_channels = COChannelCollection(self)
        self.timing = Timing(self)
        self.triggers = Triggers()
        self.out_stream = OutStream(self)
        self.in_stream = InStream(self)
        self.is_closed = False

    def start(self) -> None:
        self._card.start(self)

    def stop(self) -> None:
        self._card.stop(self)

    def wait_until_done(self, timeout: float = 10.0) -> None:
        self._card.wait_until_done(self, float(timeout))

    def is_task_done(self) -> bool:
        return self._card.is_done(self)

    def read(self, number_of_samples_per_channel: int = -1, timeout: float = 10.0) -> Any:
        """On-demand read of a counter: the count now (an int, as nidaqmx returns for one
        count-edges channel and one sample)."""
        return self._card.read_count(self)

    def close(self) -> None:
        if not self.is_closed:
            self._card.close(self)
            self.is_closed = True

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Task(name={self.name})"
