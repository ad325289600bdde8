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
The result types and unit checks live in `instrument_data.timetagging` (shared with the
simulated twins) and are re-exported here.

Channels follow the Swabian convention: inputs are numbered from 1, a negative number means the
falling edge of that input (so `start_channel=-2` starts the histogram when the modulation TTL
falls, i.e. at pump switch-off: a decay curve).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from instrument_data.timetagging import (
    PS_PER_S,
    CountTrace,
    GatedCounts,
    TimeHistogram,
    as_ps,
    check_channel,
    check_count,
    check_duration_s,
    ps_to_seconds,
    seconds_to_ps,
)

from ..errors import InstrumentConnectionError, InstrumentTimeoutError


class TimeTaggerTimeoutError(InstrumentTimeoutError, TimeoutError):
    """A measurement did not finish in time (the tagger hung or the USB link stalled)."""


class TimeTaggerConnectionError(InstrumentConnectionError, ConnectionResetError):
    """The time tagger went away (USB reset, unplugged, server lost)."""


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


__all__ = ["PS_PER_S", "CountTrace", "GatedCounts", "TimeHistogram", "TimeResolvedCounter",
           "TimeTaggerConnectionError", "TimeTaggerTimeoutError", "as_ps", "check_channel",
           "check_count", "check_duration_s", "ps_to_seconds", "seconds_to_ps"]
