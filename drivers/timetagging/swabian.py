"""Swabian Instruments Time Tagger (20, Ultra, X) through the vendor's Python SDK.

Install with ``pip install Swabian-TimeTagger`` (Linux or Windows), which provides
``from Swabian import TimeTagger``; installations from the vendor's own installer provide
``import TimeTagger``. Both are tried, and only when a tagger is created, so this module imports
on a machine without the SDK.

Every measurement follows the SDK's documented pattern: create it (it starts accumulating at
once), ``startFor(capture_ps)`` (clears, then runs for exactly that capture time and stops),
``waitUntilFinished(timeout_ms)``, ``getData()``. All SDK times are integer picoseconds; the
conversion from the seconds procedures use happens here and nowhere else.

Wiring for rise/decay curves: detector TTL → click channel (default 1), pump-modulation TTL (high
while the pump is on) → start channel (default 2). ``start_channel=-2`` starts on the falling
edge, i.e. at pump switch-off.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import import_optional
from .base import (
    CountTrace,
    GatedCounts,
    TimeHistogram,
    TimeTaggerConnectionError,
    TimeTaggerTimeoutError,
    as_ps,
    check_channel,
    check_count,
    check_duration_s,
    seconds_to_ps,
)

INSTALL_HINT = ("pip install Swabian-TimeTagger (provides `from Swabian import TimeTagger`; "
                "older vendor installers provide `import TimeTagger`)")

#: Largest difference between the requested and the applied trigger level that is put down to
#: the DAC's discretization; beyond it the level was outside the input range.
TRIGGER_LEVEL_TOLERANCE_V = 0.01


def _import_sdk() -> Any:
    # The pip package first; older vendor installations provide a top-level module.
    return import_optional(("Swabian.TimeTagger", "TimeTagger"), "The Swabian Time Tagger",
                           INSTALL_HINT)


class SwabianTimeTagger:
    """A Swabian Time Tagger; `serial` picks one of several (empty: the first found).

    `sdk` is the TimeTagger module to use: by default the installed one (imported here), on the
    simulated bench a simulated one (`sim_devices.sdk`).
    """

    def __init__(self, serial: str = "", *, timeout_margin_s: float = 10.0,
                 sdk: Any = None) -> None:
        self._sdk = _import_sdk() if sdk is None else sdk
        self.serial = serial
        self.timeout_margin_s = float(timeout_margin_s)
        try:
            self._tagger = (self._sdk.createTimeTagger(serial) if serial
                            else self._sdk.createTimeTagger())
        except RuntimeError as exc:  # the SDK reports "no Time Tagger found" this way
            where = f" with serial {serial!r}" if serial else ""
            raise TimeTaggerConnectionError(f"cannot open a Swabian Time Tagger{where}: "
                                            f"{exc}") from exc

    # --- device ----------------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        parts = ["Swabian Time Tagger"]
        for getter in ("getModel", "getSerial"):
            method = getattr(self._tagger, getter, None)
            if method is not None:
                parts.append(str(method()))
        return " ".join(parts)

    def set_trigger_level(self, channel: int, volts: float) -> None:
        """Threshold of a physical input (V), read back: a level the tagger cannot apply
        (outside its input range) raises ValueError instead of passing silently."""
        channel = check_channel(channel)
        if channel < 0:
            raise ValueError(f"trigger levels belong to physical inputs (positive numbers), "
                             f"got {channel}")
        if not math.isfinite(volts):
            raise ValueError(f"trigger level must be a finite voltage, got {volts}")
        self._tagger.setTriggerLevel(channel, float(volts))
        applied = float(self._tagger.getTriggerLevel(channel))
        if abs(applied - volts) > TRIGGER_LEVEL_TOLERANCE_V:
            raise ValueError(f"channel {channel}: the Time Tagger applied {applied:g} V instead "
                             f"of {volts:g} V (outside its input range?)")

    def set_test_signal(self, channels: Sequence[int], enabled: bool) -> None:
        """Built-in test signal on physical inputs: a self-test without detector or laser."""
        self._tagger.setTestSignal([check_channel(c) for c in channels], bool(enabled))

    # --- measurements ----------------------------------------------------------------------------
    def histogram(self, start_channel: int, click_channel: int, binwidth_ps: int, n_bins: int,
                  duration_s: float) -> TimeHistogram:
        start_channel = check_channel(start_channel, "start_channel")
        click_channel = check_channel(click_channel, "click_channel")
        binwidth_ps = as_ps(binwidth_ps, "binwidth_ps")
        n_bins = check_count(n_bins, "n_bins")
        capture_ps = self._capture_ps(duration_s)
        with self._sdk_errors("creating a Histogram"):
            measurement = self._sdk.Histogram(self._tagger, click_channel=click_channel,
                                              start_channel=start_channel,
                                              binwidth=binwidth_ps, n_bins=n_bins)
        self._run(measurement, capture_ps)
        counts = np.asarray(measurement.getData(), dtype=np.int64).reshape(-1)
        if counts.size != n_bins:
            raise RuntimeError(f"Time Tagger histogram has {counts.size} bins, expected {n_bins}")
        return TimeHistogram(counts, binwidth_ps, start_channel, click_channel,
                             capture_ps / 1e12)

    def count_rate_trace(self, channels: Sequence[int], binwidth_ps: int,
                         n_values: int) -> CountTrace:
        channels = tuple(check_channel(c) for c in channels)
        if not channels:
            raise ValueError("count_rate_trace needs at least one channel")
        binwidth_ps = as_ps(binwidth_ps, "binwidth_ps")
        n_values = check_count(n_values, "n_values")
        with self._sdk_errors("creating a Counter"):
            measurement = self._sdk.Counter(self._tagger, channels=list(channels),
                                            binwidth=binwidth_ps, n_values=n_values)
        # Stopping after exactly n_values bins keeps the circular buffer from overwriting.
        self._run(measurement, binwidth_ps * n_values)
        counts = np.asarray(measurement.getData(), dtype=np.int64).reshape(len(channels), -1)
        return CountTrace(counts, channels, binwidth_ps)

    def counts_between_markers(self, click_channel: int, begin_channel: int,
                               end_channel: int | None, n_values: int,
                               duration_s: float) -> GatedCounts:
        click_channel = check_channel(click_channel, "click_channel")
        begin_channel = check_channel(begin_channel, "begin_channel")
        if end_channel is not None:
            end_channel = check_channel(end_channel, "end_channel")
        n_values = check_count(n_values, "n_values")
        capture_ps = self._capture_ps(duration_s)
        with self._sdk_errors("creating a CountBetweenMarkers"):
            measurement = self._sdk.CountBetweenMarkers(
                self._tagger, click_channel=click_channel, begin_channel=begin_channel,
                end_channel=self._sdk.CHANNEL_UNUSED if end_channel is None else end_channel,
                n_values=n_values)
        self._run(measurement, capture_ps)
        counts = np.asarray(measurement.getData(), dtype=np.int64).reshape(-1)
        widths_getter = getattr(measurement, "getBinWidths", None)
        widths = (None if widths_getter is None
                  else np.asarray(widths_getter(), dtype=np.int64).reshape(-1))
        return GatedCounts(counts, click_channel, begin_channel, end_channel, widths,
                           bool(measurement.ready()))

    def _capture_ps(self, duration_s: float) -> int:
        return as_ps(seconds_to_ps(check_duration_s(duration_s)), "capture duration")

    @contextlib.contextmanager
    def _sdk_errors(self, action: str) -> Iterator[None]:
        """The SDK reports a lost USB link (and most device errors) as RuntimeError."""
        try:
            yield
        except RuntimeError as exc:
            raise TimeTaggerConnectionError(
                f"lost the connection to the Time Tagger ({action}): {exc}") from exc

    def _run(self, measurement: Any, capture_ps: int) -> None:
        with self._sdk_errors("measuring"):
            self._start_and_wait(measurement, capture_ps)

    def _start_and_wait(self, measurement: Any, capture_ps: int) -> None:
        measurement.startFor(capture_ps)
        timeout_ms = int(math.ceil((capture_ps / 1e12 + self.timeout_margin_s) * 1e3))
        # Documented to return False on timeout; older SDKs return None and always finish.
        if measurement.waitUntilFinished(timeout_ms) is False:
            measurement.stop()
            raise TimeTaggerTimeoutError(
                f"Time Tagger measurement of {capture_ps / 1e12:g} s did not finish within "
                f"{timeout_ms / 1e3:g} s")

    def close(self) -> None:
        tagger, self._tagger = self._tagger, None
        if tagger is not None:
            self._sdk.freeTimeTagger(tagger)

    def __enter__(self) -> SwabianTimeTagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
