"""The small interface of a time tagger as procedures need it: rise/decay curves, count traces.

A photon-avalanche rise curve is a histogram of detector clicks against the time since the pump
was switched on: the pump is square-wave modulated, the modulation TTL goes to the tagger's
*start* channel, the detector to its *click* channel, and every period adds to one histogram
(docs/protocols.md §5). Anything with this shape can serve a `time_tagger` role: the Swabian backend
(`swabian.py`), the simulated twin in `sim_devices`, later a PicoHarp.

Units: the tagger SDKs speak **integer picoseconds**; procedures think in seconds. Both stay
explicit: every argument that goes to the hardware as a time is an `int` named `*_ps`
(checked by `as_ps`), every duration a procedure chooses is a float named `*_s`, and every result
carries its own axes in seconds (`bin_edges_s`, `times_s`) next to the ps it was measured with.

Channels follow the Swabian convention: inputs are numbered from 1, a negative number means the
falling edge of that input (so `start_channel=-2` starts the histogram when the modulation TTL
falls, i.e. at pump switch-off: a decay curve).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import InstrumentConnectionError, InstrumentTimeoutError
from ..validators import is_finite_real, is_integer, is_real

PS_PER_S = 10**12


class TimeTaggerTimeoutError(InstrumentTimeoutError, TimeoutError):
    """A measurement did not finish in time (the tagger hung or the USB link stalled)."""


class TimeTaggerConnectionError(InstrumentConnectionError, ConnectionResetError):
    """The time tagger went away (USB reset, unplugged, server lost)."""


def as_ps(value: int, name: str = "time", *, minimum: int = 1) -> int:
    """`value` as a Python int of picoseconds; refuses floats with a fraction, bools, and values
    below `minimum` (ps), so a seconds value passed by mistake fails loudly instead of becoming
    a 0-ps bin."""
    if not is_real(value):
        raise ValueError(f"{name} must be an integer number of ps, got {value!r}")
    if not is_integer(value):
        if not is_finite_real(value) or value != int(value):
            raise ValueError(f"{name} must be an integer number of ps, got {value!r} "
                             "(convert seconds with seconds_to_ps)")
    result = int(value)
    if result < minimum:
        raise ValueError(f"{name} must be at least {minimum} ps, got {result} ps")
    return result


def seconds_to_ps(seconds: float) -> int:
    """Seconds to the nearest integer picosecond (the SDK's unit)."""
    if not math.isfinite(seconds):
        raise ValueError(f"time must be finite, got {seconds} s")
    return int(round(seconds * PS_PER_S))


def ps_to_seconds(ps: int | np.ndarray) -> float | np.ndarray:
    """Picoseconds to seconds (a float, or a float array for an array)."""
    return ps / PS_PER_S


def check_channel(channel: int, name: str = "channel") -> int:
    """A non-zero integer channel (negative: falling edge)."""
    if not is_integer(channel) or channel == 0:
        raise ValueError(f"{name} must be a non-zero integer (negative: falling edge), "
                         f"got {channel!r}")
    return int(channel)


def check_count(value: int, name: str) -> int:
    """A positive integer number of bins or values."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_duration_s(duration_s: float, name: str = "duration_s") -> float:
    if not is_finite_real(duration_s) or duration_s <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {duration_s!r}")
    return float(duration_s)


@dataclass(frozen=True, eq=False)
class TimeHistogram:
    """Clicks on `click_channel` binned by their delay after each event on `start_channel`
    (multiple start, multiple stop), accumulated over `duration_s` of capture."""

    #: Clicks per bin (int64), bin i covering [i, i+1) · binwidth after a start.
    counts: np.ndarray
    binwidth_ps: int
    start_channel: int
    click_channel: int
    #: Capture time the histogram accumulated over (s).
    duration_s: float

    @property
    def n_bins(self) -> int:
        return int(self.counts.size)

    @property
    def binwidth_s(self) -> float:
        return self.binwidth_ps / PS_PER_S

    @property
    def bin_edges_ps(self) -> np.ndarray:
        """n_bins + 1 edges in integer ps, as the hardware bins them."""
        return np.arange(self.n_bins + 1, dtype=np.int64) * self.binwidth_ps

    @property
    def bin_edges_s(self) -> np.ndarray:
        """n_bins + 1 edges in s."""
        return self.bin_edges_ps / PS_PER_S

    @property
    def bin_centers_s(self) -> np.ndarray:
        return (np.arange(self.n_bins) + 0.5) * self.binwidth_s


@dataclass(frozen=True, eq=False)
class CountTrace:
    """Clicks per time bin on each channel, over consecutive bins of `binwidth_ps`."""

    #: Shape (len(channels), n_values), int64; row k belongs to channels[k].
    counts: np.ndarray
    channels: tuple[int, ...]
    binwidth_ps: int

    @property
    def n_values(self) -> int:
        return int(self.counts.shape[1])

    @property
    def binwidth_s(self) -> float:
        return self.binwidth_ps / PS_PER_S

    @property
    def times_s(self) -> np.ndarray:
        """Start of each bin (s) after the trace began."""
        return np.arange(self.n_values) * self.binwidth_s

    @property
    def rates_cps(self) -> np.ndarray:
        """Counts per second in each bin (not dead-time corrected)."""
        return self.counts / self.binwidth_s


@dataclass(frozen=True, eq=False)
class GatedCounts:
    """Clicks counted within each gate opened by `begin_channel` (and closed by `end_channel`,
    or by the next begin event when `end_channel` is None)."""

    #: Clicks per gate (int64), in gate order; gates that never came stay 0.
    counts: np.ndarray
    click_channel: int
    begin_channel: int
    end_channel: int | None
    #: Length of each gate (int64 ps) where the backend reports it, else None.
    gate_widths_ps: np.ndarray | None
    #: True when all requested gates were filled within the capture time.
    complete: bool

    @property
    def gate_widths_s(self) -> np.ndarray | None:
        return None if self.gate_widths_ps is None else self.gate_widths_ps / PS_PER_S


@runtime_checkable
class TimeResolvedCounter(Protocol):
    """A time tagger: histograms against a start signal, count traces, gated counts.

    Every call blocks for its capture time (bench time on the simulated bench). SDK-level
    errors surface as `TimeoutError` (the measurement never finished) or `ConnectionError`
    subclasses (the device went away); the bench maps them to its instrument errors.
    """

    @property
    def identity(self) -> str:
        """Human-readable description of the tagger (model, serial)."""

    def set_trigger_level(self, channel: int, volts: float) -> None:
        """Input threshold of a physical channel (V). Raises ValueError if the device cannot
        apply it (out of its input range)."""

    def histogram(self, start_channel: int, click_channel: int, binwidth_ps: int, n_bins: int,
                  duration_s: float) -> TimeHistogram:
        """Accumulate the delays of clicks after starts for `duration_s` of capture."""

    def count_rate_trace(self, channels: Sequence[int], binwidth_ps: int,
                         n_values: int) -> CountTrace:
        """Count clicks on `channels` in `n_values` consecutive bins (capture time
        binwidth · n_values)."""

    def counts_between_markers(self, click_channel: int, begin_channel: int,
                               end_channel: int | None, n_values: int,
                               duration_s: float) -> GatedCounts:
        """Count clicks within up to `n_values` gates seen during `duration_s` of capture."""

    def close(self) -> None:
        """Release the hardware."""
