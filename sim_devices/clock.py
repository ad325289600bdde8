"""Clocks of the simulated bench.

Procedures never sleep: they wait through the bench, which asks a clock. On the simulated
bench the clock is virtual — a wait advances simulated time at once, so a 100-point S-curve
with 200 ms settling runs in well under a second yet the world sees the same timeline. The
real-time clock ties simulated time to the wall clock for demos and TCP-served simulations.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the bench and the simulated world need of time."""

    def now(self) -> float:
        """Seconds since the clock started."""

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Let `seconds` pass; return False if `cancel` was set before the time was up."""


class VirtualClock:
    """Simulated time that advances only when someone waits."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = float(start_s)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if seconds < 0:
            raise ValueError(f"cannot wait a negative time ({seconds} s)")
        if cancel is not None and cancel.is_set():
            return False
        with self._lock:
            self._now += seconds
        return True


class RealTimeClock:
    """Wall-clock time; waits are interruptible so an abort cuts them short."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if seconds < 0:
            raise ValueError(f"cannot wait a negative time ({seconds} s)")
        if cancel is None:
            time.sleep(seconds)
            return True
        return not cancel.wait(seconds)
