"""Wait until a reading settles: the polling loop shared by the temperature controllers, the
laser-diode TEC and the camera cooler.

Time passes only through the `wait(seconds)` callable a driver is given (the bench's
interruptible wait, or a simulated clock's sleep). Elapsed time is counted one of two ways,
and each driver keeps the one it documents:

* with `now` (a clock, e.g. `time.monotonic` or the bench clock): elapsed time is read from it,
  so time spent in the queries counts too;
* without `now`: elapsed time is the sum of the waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def check_settle_arguments(tolerance: float, stable_s: float, timeout_s: float,
                           poll_s: float) -> None:
    """Raise ValueError unless tolerance, timeout and poll interval are positive and the hold
    time is not negative (checked before anything is sent)."""
    if tolerance <= 0 or stable_s < 0 or timeout_s <= 0 or poll_s <= 0:
        raise ValueError("tolerance_K, timeout_s and poll_s must be positive, stable_s ≥ 0")


def wait_until_stable(
    read: Callable[[], T],
    settled: Callable[[T], bool],
    *,
    stable_s: float,
    timeout_s: float,
    poll_s: float,
    wait: Callable[[float], object],
    now: Callable[[], float] | None,
    timeout_error: Callable[[T], BaseException],
    hold_slack_s: float = 0.0,
    clip_wait_to_timeout: bool = False,
) -> T:
    """Poll until `settled(reading)` has held for `stable_s`; return that last reading.

    Each poll: `reading = read()`, then the time is taken (`now()`, or the waits so far), then
    `settled(reading)` is asked (so a check that sends a query runs after the clock is read).
    The hold starts at the first settled poll and restarts after any unsettled one; it is
    complete once `t - start of hold ≥ stable_s - hold_slack_s`. Once `timeout_s` has elapsed
    without that, `timeout_error(reading)` is raised. Between polls `wait(poll_s)` — or, with
    `clip_wait_to_timeout`, only what is left until the timeout if that is shorter.
    """
    by_waits = now is None
    start = 0.0 if now is None else now()
    waited = 0.0
    stable_since: float | None = None
    while True:
        reading = read()
        t = waited if by_waits else now()  # type: ignore[misc]
        if settled(reading):
            if stable_since is None:
                stable_since = t
            if t - stable_since >= stable_s - hold_slack_s:
                return reading
        else:
            stable_since = None
        if t - start >= timeout_s:
            raise timeout_error(reading)
        step = min(poll_s, timeout_s - (t - start)) if clip_wait_to_timeout else poll_s
        wait(step)
        waited += step
