"""Galvo raster scanning with photon counting on one NI-DAQ card (nidaqmx, imported only when
used; recipe and API names: docs/protocols.md §4).

Two analog outputs drive the x and y galvos with a precomputed waveform, one sample per pixel.
A counter counts the detector's TTL pulses and latches its cumulative count on every edge of
the AO sample clock (`/<dev>/ao/SampleClock`), so each pixel's dwell is exactly one clock
period of the card — no software timing anywhere. The counter is armed before the AO task
starts, so it cannot miss the first edge. Per-pixel counts are `np.diff` of the cumulative
latches in uint32 arithmetic, which also absorbs the 32-bit register wrap.

The whole frame is one finite AO/CI task pair; the counter buffer is read one line at a time,
so lines reach the caller (and the HDF5 file) while the scan runs. Every waveform is checked
against the calibration's voltage and slew limits before a task is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import NIDAQMX_INSTALL_HINT, classify_daq_error, import_optional, sdk_part
from .base import LineResult, RasterFrame, ScannerConnectionError, ScannerTimeoutError
from .calibration import GalvoCalibration, RasterWaveform, raster_waveform

#: Sample rate of the slew-limited moves of `park` and of the move to a frame's start.
DEFAULT_PARK_RATE_HZ = 100_000.0
#: Added to every read/wait timeout beyond the time the samples take on the clock.
TIMEOUT_MARGIN_S = 5.0
#: Scan time (s) one counter read covers at most: lines shorter than this are read in blocks.
READ_PERIOD_S = 0.02


def _import_nidaqmx() -> Any:
    return import_optional("nidaqmx", "The NI-DAQ galvo scanner", NIDAQMX_INSTALL_HINT)


def lines_per_read(samples_per_line: int, sample_rate_Hz: float,
                   read_period_s: float = READ_PERIOD_S) -> int:
    """Lines per counter read: as many as the sample clock fills in `read_period_s` (at least
    one). Fast lines are read in blocks, as a DAQ program reads what its buffer holds: one read
    per line would cost a call, a health check and a file flush every few ms for nothing a
    live view could show."""
    line_s = samples_per_line / sample_rate_Hz
    return max(1, int(read_period_s // line_s))


def counts_from_cumulative(cumulative: np.ndarray, previous: int | None = None) -> np.ndarray:
    """Photons per sample (int64) from cumulative counter latches (uint32).

    With `previous` (the last latch of the preceding read) every latch closes one sample;
    without it the first latch is only the reference, so n latches give n−1 samples. The
    difference is taken in uint32, so a register wrap between two latches is harmless.
    """
    latches = np.asarray(cumulative, dtype=np.uint32)
    if previous is not None:
        latches = np.concatenate([np.array([previous], dtype=np.uint32), latches])
    return np.diff(latches).astype(np.int64)


class NIDAQGalvoScanner:
    """Galvos on AO `x_channel`/`y_channel` of `device`, photons counted by `counter` from
    the TTL on `photon_terminal`, both clocked by the AO sample clock.

    The card cannot report where its outputs stand at connection; the driver assumes 0 V
    (the NI power-up state) until its first move. Park first if a previous program may have
    left the galvos elsewhere.

    `sdk` is the nidaqmx module to use: by default the installed one (imported here), on the
    simulated bench a simulated one (`sim_devices.sdk`).
    """

    def __init__(self, device: str = "Dev1", *, calibration: GalvoCalibration,
                 x_channel: str = "ao0", y_channel: str = "ao1", counter: str = "ctr0",
                 photon_terminal: str = "PFI8",
                 park_rate_Hz: float = DEFAULT_PARK_RATE_HZ, sdk: Any = None) -> None:
        self._nidaqmx = _import_nidaqmx() if sdk is None else sdk
        if not park_rate_Hz > 0:
            raise ValueError(f"park rate must be positive, got {park_rate_Hz} Hz")
        self.device = device
        self.calibration = calibration
        self.x_channel = x_channel
        self.y_channel = y_channel
        self.counter = counter
        self.photon_terminal = photon_terminal
        self.park_rate_Hz = float(park_rate_Hz)
        self._volts = np.zeros(2)

    # --- names on the card -------------------------------------------------------------------
    @property
    def ao_channels(self) -> str:
        """Physical AO channels, x first (the row order of the written waveform)."""
        return f"{self.device}/{self.x_channel}, {self.device}/{self.y_channel}"

    @property
    def counter_channel(self) -> str:
        return f"{self.device}/{self.counter}"

    @property
    def photon_terminal_path(self) -> str:
        return f"/{self.device}/{self.photon_terminal}"

    @property
    def sample_clock(self) -> str:
        return f"/{self.device}/ao/SampleClock"

    # --- the interface -------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        return (f"NI-DAQ {self.device}: galvos x {self.x_channel}, y {self.y_channel} "
                f"(±{self.calibration.max_volts:g} V, ≤{self.calibration.max_slew_V_per_ms:g} "
                f"V/ms); photons on {self.counter} from {self.photon_terminal}, clocked by "
                "ao/SampleClock")

    @property
    def position_um(self) -> tuple[float, float]:
        x, y = self.calibration.to_um(self._volts)
        return float(x), float(y)

    def check_frame(self, frame: RasterFrame) -> None:
        raster_waveform(frame, self.calibration)

    def scan_lines(self, frame: RasterFrame) -> Iterator[LineResult]:
        waveform = raster_waveform(frame, self.calibration)  # raises before any task exists
        return self._run_frame(waveform)

    def park(self, x_um: float, y_um: float) -> None:
        self._move_to(self.calibration.to_volts((x_um, y_um)))

    def close(self) -> None:
        """Tasks are opened per frame and per move; nothing stays allocated."""

    # --- hardware ------------------------------------------------------------------------------
    def _add_ao(self, task: Any) -> None:
        limit = self.calibration.max_volts
        task.ao_channels.add_ao_voltage_chan(self.ao_channels, min_val=-limit, max_val=limit)

    def _move_to(self, target_volts: np.ndarray) -> None:
        """Slew-limited straight move of the outputs to `target_volts` (checked first)."""
        target = np.asarray(target_volts, dtype=float).reshape(2)
        ramp = self.calibration.ramp(self._volts, target, self.park_rate_Hz)
        if np.allclose(target, self._volts, rtol=0.0, atol=1e-12):
            return  # already there: nothing to generate
        AcquisitionType = sdk_part(self._nidaqmx, "constants").AcquisitionType
        DaqError = sdk_part(self._nidaqmx, "errors").DaqError
        writers = sdk_part(self._nidaqmx, "stream_writers")
        AnalogMultiChannelWriter = writers.AnalogMultiChannelWriter

        n = ramp.shape[1]
        done = False
        with self._nidaqmx.Task() as ao:
            try:
                self._add_ao(ao)
                ao.timing.cfg_samp_clk_timing(self.park_rate_Hz,
                                              sample_mode=AcquisitionType.FINITE,
                                              samps_per_chan=n)
                AnalogMultiChannelWriter(ao.out_stream).write_many_sample(
                    np.ascontiguousarray(ramp))
                ao.start()
                ao.wait_until_done(timeout=n / self.park_rate_Hz + TIMEOUT_MARGIN_S)
                done = True
            except DaqError as exc:
                self._raise_translated(exc, "moving the galvos")
            finally:
                self._volts = target if done else self._stopped_at(ao, ramp, fallback=0)

    def _run_frame(self, waveform: RasterWaveform) -> Iterator[LineResult]:
        self._move_to(waveform.volts[:, 0])
        constants = sdk_part(self._nidaqmx, "constants")
        AcquisitionType, CountDirection, Edge = (constants.AcquisitionType,
                                                 constants.CountDirection, constants.Edge)
        DaqError = sdk_part(self._nidaqmx, "errors").DaqError
        CounterReader = sdk_part(self._nidaqmx, "stream_readers").CounterReader
        writers = sdk_part(self._nidaqmx, "stream_writers")
        AnalogMultiChannelWriter = writers.AnalogMultiChannelWriter

        n, rate = waveform.n_samples, waveform.sample_rate_Hz
        per_line = waveform.samples_per_line
        lines_done = 0
        completed = False
        with self._nidaqmx.Task() as ao, self._nidaqmx.Task() as ci:
            try:
                self._add_ao(ao)
                ao.timing.cfg_samp_clk_timing(rate, sample_mode=AcquisitionType.FINITE,
                                              samps_per_chan=n)
                channel = ci.ci_channels.add_ci_count_edges_chan(
                    self.counter_channel, edge=Edge.RISING, initial_count=0,
                    count_direction=CountDirection.COUNT_UP)
                channel.ci_count_edges_term = self.photon_terminal_path
                ci.timing.cfg_samp_clk_timing(rate, source=self.sample_clock,
                                              active_edge=Edge.RISING,
                                              sample_mode=AcquisitionType.FINITE,
                                              samps_per_chan=n)
                actual_rate = float(ao.timing.samp_clk_rate)  # the card may coerce the rate
                if actual_rate != rate:  # slew is per second: check again at the real rate
                    self.calibration.check_waveform(waveform.volts, actual_rate)
                AnalogMultiChannelWriter(ao.out_stream).write_many_sample(
                    np.ascontiguousarray(waveform.volts))
                reader = CounterReader(ci.in_stream)
                ci.start()  # armed first: it latches on every AO sample-clock edge
                ao.start()
                previous: int | None = None
                per_read = lines_per_read(per_line, actual_rate)
                line = 0
                while line < waveform.lines:
                    block = min(per_read, waveform.lines - line)
                    size = block * per_line + (0 if previous is not None else 1)
                    cumulative = np.zeros(size, dtype=np.uint32)
                    reader.read_many_sample_uint32(
                        cumulative, number_of_samples_per_channel=size,
                        timeout=size / actual_rate + TIMEOUT_MARGIN_S)
                    counts = counts_from_cumulative(cumulative, previous)
                    previous = int(cumulative[-1])
                    for i in range(block):
                        lines_done = line + 1
                        yield waveform.line_result(line, counts[i * per_line:(i + 1) * per_line],
                                                   1.0 / actual_rate, read_end=i == block - 1)
                        line += 1
                ao.wait_until_done(timeout=TIMEOUT_MARGIN_S)
                completed = True
            except DaqError as exc:
                self._raise_translated(exc, f"scanning line {lines_done}")
            finally:
                if completed:
                    self._volts = waveform.volts[:, -1].copy()
                else:
                    for task in (ao, ci):
                        try:
                            task.stop()
                        except Exception:  # noqa: BLE001 - stopping is best effort here
                            pass
                    self._volts = self._stopped_at(ao, waveform.volts,
                                                   fallback=lines_done * per_line)

    def _stopped_at(self, ao: Any, volts: np.ndarray, *, fallback: int) -> np.ndarray:
        """Where an interrupted generation left the outputs: the last sample generated, or
        `fallback` if the card cannot say."""
        try:
            generated = int(ao.out_stream.total_samp_per_chan_generated)
            index = generated - 1 if generated > 0 else None
        except Exception:  # noqa: BLE001 - the card may be gone
            index = fallback
        if index is None:
            return self._volts.copy()  # nothing was generated: the outputs did not move
        return volts[:, min(max(index, 0), volts.shape[1] - 1)].copy()

    def _raise_translated(self, exc: Exception, action: str) -> None:
        """Re-raise a DaqError: timeouts (drivers.errors.DAQMX_TIMEOUT_CODES) as
        ScannerTimeoutError, connection loss as ScannerConnectionError, the rest unchanged
        (NI's own message names the problem)."""
        translated = classify_daq_error(f"NI-DAQ galvo scanner {self.device}", action,
                                        timeout_error=ScannerTimeoutError,
                                        connection_error=ScannerConnectionError)(exc)
        if translated is not None:
            raise translated from exc
        raise exc
