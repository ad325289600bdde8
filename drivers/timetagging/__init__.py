"""Time-resolved photon counting (SDK-level devices): rise/decay histograms, count traces.

Importing this package needs numpy only; the Swabian backend (`swabian`) imports the vendor SDK
when a tagger is created.
"""

from .base import (
    PS_PER_S,
    CountTrace,
    GatedCounts,
    TimeHistogram,
    TimeResolvedCounter,
    TimeTaggerConnectionError,
    TimeTaggerTimeoutError,
    as_ps,
    ps_to_seconds,
    seconds_to_ps,
)

__all__ = [
    "PS_PER_S", "CountTrace", "GatedCounts", "TimeHistogram", "TimeResolvedCounter",
    "TimeTaggerConnectionError", "TimeTaggerTimeoutError", "as_ps", "ps_to_seconds",
    "seconds_to_ps",
]
