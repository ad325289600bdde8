"""Time-tagger results and the unit rules behind them: shared by the tagger drivers and their
simulated twins.

Units: the tagger SDKs speak **integer picoseconds**; procedures think in seconds. Both stay
explicit: every time that goes to the hardware is an `int` named `*_ps` (checked by `as_ps`),
every duration a procedure chooses a float named `*_s`, and every result carries its own axes in
seconds (`bin_edges_s`, `times_s`) next to the ps it was measured with. Channels follow the
Swabian convention: inputs are numbered from 1, a negative number is the falling edge of that
input. numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .numbers import is_finite_real, is_integer, is_real

#: Picoseconds per second.
PS_PER_S = 10**12


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
