"""A simulated Swabian `TimeTagger` module: the part of the vendor API the avlab driver uses,
over the time-tagger twin (`SimTimeTagger`), which keeps the physics.

`SimulatedTimeTaggerSDK(twin)` stands where the driver would use `from Swabian import
TimeTagger`. Covered: `createTimeTagger(serial="")`, `freeTimeTagger(tagger)`,
`CHANNEL_UNUSED`; a tagger's `getSerial`, `getModel`, `setTriggerLevel`, `getTriggerLevel`;
the measurements `Histogram(tagger, click_channel, start_channel, binwidth, n_bins)`,
`Counter(tagger, channels, binwidth, n_values)` and `CountBetweenMarkers(tagger,
click_channel, begin_channel, end_channel, n_values)`, each with `startFor(capture_duration,
clear=True)`, `waitUntilFinished(timeout=-1)`, `stop`, `getData`, `isRunning`; plus
`getBinWidths` and `ready` on CountBetweenMarkers. All times are integer ps, as in the SDK.

Behaviour of the real SDK reproduced: a trigger level outside the input range is applied at the
nearest limit and read back as such (the SDK does not raise); `waitUntilFinished(timeout_ms)`
returns False when the capture did not finish in time; `createTimeTagger` raises RuntimeError
when no tagger (with that serial) is found. Faults of the twin: drop_connection → RuntimeError
on every call (the SDK's C++ exceptions reach Python as RuntimeError); stop_answering → the
measurement never finishes (`waitUntilFinished` blocks for its timeout and returns False).
The built-in test signal (`setTestSignal`) is not simulated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: The SDK's marker for "no channel" (e.g. CountBetweenMarkers without an end channel).
CHANNEL_UNUSED = -134217728


class SimulatedTimeTaggerSDK:
    """The `TimeTagger` module of one simulated Time Tagger (`twin`)."""

    __name__ = "sim_devices.sdk.timetagger"
    CHANNEL_UNUSED = CHANNEL_UNUSED

    def __init__(self, twin: Any, *, serial: str = "2138000SIM",
                 model: str = "Time Tagger Ultra") -> None:
        self.twin = twin
        self.serial = serial
        self.model = model
        self.open_taggers: list[SimTaggerHandle] = []

    def _check_link(self) -> None:
        twin = self.twin
        twin._apply_due_faults(twin.world.clock.now())
        if "drop_connection" in twin.active_faults:
            raise RuntimeError(f"Time Tagger {self.serial}: device disconnected (simulated "
                               "fault)")

    def createTimeTagger(self, serial: str = "",  # noqa: N802 - the SDK's names
                         resolution: Any = None) -> SimTaggerHandle:
        if serial and serial != self.serial:
            raise RuntimeError(f"No Time Tagger with serial {serial!r} found")
        self._check_link()
        handle = SimTaggerHandle(self)
        self.open_taggers.append(handle)
        return handle

    def freeTimeTagger(self, tagger: SimTaggerHandle) -> bool:  # noqa: N802
        if tagger in self.open_taggers:
            self.open_taggers.remove(tagger)
            tagger.freed = True
            return True
        return False

    def Histogram(self, tagger: SimTaggerHandle, click_channel: int,  # noqa: N802
                  start_channel: int, binwidth: int = 1000,
                  n_bins: int = 1000) -> _Measurement:
        def run(capture_ps: int) -> np.ndarray:
            result = self.twin.run_histogram(start_channel, click_channel, int(binwidth),
                                             int(n_bins), capture_ps / 1e12)
            return result.counts.astype(np.int32)

        return _Measurement(tagger, run, np.zeros(int(n_bins), dtype=np.int32))

    def Counter(self, tagger: SimTaggerHandle, channels: list[int],  # noqa: N802
                binwidth: int = 10**9, n_values: int = 1) -> _Measurement:
        channels = [int(c) for c in channels]

        def run(capture_ps: int) -> np.ndarray:
            # A rolling buffer: it holds the last n_values complete bins of the capture.
            n_bins = capture_ps // int(binwidth)
            data = np.zeros((len(channels), int(n_values)), dtype=np.int32)
            if n_bins:
                trace = self.twin.run_count_trace(tuple(channels), int(binwidth), int(n_bins))
                kept = trace.counts[:, -int(n_values):]
                data[:, data.shape[1] - kept.shape[1]:] = kept
            rest_s = (capture_ps - n_bins * int(binwidth)) / 1e12
            if rest_s > 0:
                self.twin.world.clock.sleep(rest_s)
            return data

        return _Measurement(tagger, run, np.zeros((len(channels), int(n_values)), np.int32))

    def CountBetweenMarkers(self, tagger: SimTaggerHandle, click_channel: int,  # noqa: N802
                            begin_channel: int, end_channel: int = CHANNEL_UNUSED,
                            n_values: int = 1000) -> _Measurement:
        end = None if end_channel == CHANNEL_UNUSED else int(end_channel)
        measurement: _Measurement

        def run(capture_ps: int) -> np.ndarray:
            gated = self.twin.run_counts_between_markers(int(click_channel), int(begin_channel),
                                                         end, int(n_values), capture_ps / 1e12)
            widths = gated.gate_widths_ps
            measurement.bin_widths = (np.zeros(int(n_values), np.int64) if widths is None
                                      else widths.astype(np.int64))
            measurement.complete = gated.complete
            return gated.counts.astype(np.int32)

        measurement = _Measurement(tagger, run, np.zeros(int(n_values), dtype=np.int32))
        measurement.bin_widths = np.zeros(int(n_values), np.int64)
        measurement.complete = False
        return measurement


class SimTaggerHandle:
    """What `createTimeTagger` returns: the device's settings calls."""

    def __init__(self, sdk: SimulatedTimeTaggerSDK) -> None:
        self._sdk = sdk
        self.freed = False

    def _check(self) -> None:
        if self.freed:
            raise RuntimeError("The Time Tagger was freed")
        self._sdk._check_link()

    def getSerial(self) -> str:  # noqa: N802
        return self._sdk.serial

    def getModel(self) -> str:  # noqa: N802
        return self._sdk.model

    def setTriggerLevel(self, channel: int, voltage: float) -> None:  # noqa: N802
        """The threshold of a physical input, applied at the nearest level the input has."""
        from ..instruments.time_tagger import TRIGGER_RANGE_V

        self._check()
        if int(channel) < 1:
            raise ValueError(f"invalid channel {channel}")
        low, high = TRIGGER_RANGE_V
        applied = min(max(float(voltage), low), high) if math.isfinite(voltage) else low
        self._sdk.twin.trigger_levels_V[int(channel)] = applied

    def getTriggerLevel(self, channel: int) -> float:  # noqa: N802
        from ..instruments.time_tagger import DEFAULT_TRIGGER_LEVEL_V

        self._check()
        return self._sdk.twin.trigger_levels_V.get(int(channel), DEFAULT_TRIGGER_LEVEL_V)


class _Measurement:
    """A measurement: it captures (in bench time) when waited for or read."""

    def __init__(self, tagger: SimTaggerHandle, run: Any, empty: np.ndarray) -> None:
        tagger._check()
        self._tagger = tagger
        self._run = run
        self._data = empty
        self._capture_ps: int | None = None
        self.bin_widths: np.ndarray | None = None
        self.complete = False

    def startFor(self, capture_duration: int, clear: bool = True) -> None:  # noqa: N802
        self._tagger._check()
        self._capture_ps = int(capture_duration)
        if clear:
            self._data = np.zeros_like(self._data)

    def isRunning(self) -> bool:  # noqa: N802
        return self._capture_ps is not None

    def waitUntilFinished(self, timeout: int = -1) -> bool:  # noqa: N802
        """True once the capture is done; False if it did not finish within `timeout` ms
        (a negative timeout waits for ever — in a hung simulation, for the capture time)."""
        if self._capture_ps is None:
            return True
        sdk = self._tagger._sdk
        self._tagger._check()
        if "stop_answering" in sdk.twin.active_faults:
            wait_s = timeout / 1e3 if timeout >= 0 else self._capture_ps / 1e12
            sdk.twin.world.clock.sleep(wait_s)
            return False
        capture_ps, self._capture_ps = self._capture_ps, None
        self._data = self._data + self._run(capture_ps)
        return True

    def stop(self) -> None:
        self._capture_ps = None

    def getData(self) -> np.ndarray:  # noqa: N802
        if self._capture_ps is not None:
            self.waitUntilFinished()
        return self._data.copy()

    def getBinWidths(self) -> np.ndarray:  # noqa: N802
        return (np.zeros(0, np.int64) if self.bin_widths is None else self.bin_widths.copy())

    def ready(self) -> bool:
        return bool(self.complete)
