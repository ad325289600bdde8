"""Run events: everything a run says, typed, delivered off the measurement thread.

Why a separate stream
---------------------
The worker thread measures and writes the run file; nothing else may slow it down or end it.
So every event is handed to each listener through that listener's own bounded queue, drained
by the listener's own dispatch thread:

* a listener that raises is logged (once per kind of error, naming the run) and never changes
  the run's outcome;
* a slow listener never slows the measurement: when its queue is full, progress events
  coalesce (only the newest matters) and other events are dropped and counted; the count is
  reported in the `RunFinished` the listener receives and in the run result;
* `RunStarted` and `RunFinished` are never dropped, and every listener receives a run's
  events in the order the run emitted them (`seq` counts them per run).

The run file is written *before* an event is published, so an event never announces data
that a crash could still lose. Events and file describe data the same way: `RunStarted`
carries the run's :class:`~avlab.data.DataDescription`, which the writer laid the file out from.

Scripts subscribe with a callback (`runner.subscribe(callback)`) or iterate
(`for event in runner.events(): ...`); the CLI progress bar is one listener and the GUI another.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .data import DataDescription

log = logging.getLogger(__name__)
#: Logger of procedures' status lines: the runner publishes them as LogMessage events itself,
#: so handlers that forward log records skip this one.
STATUS_LOGGER = "avlab.run_status"

__all__ = [
    "ChunkWritten",
    "EventHub",
    "EventIterator",
    "LogMessage",
    "MeasurementRecorded",
    "PointRecorded",
    "Progress",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "Subscription",
]


@dataclass(frozen=True)
class RunEvent:
    """Common to every event: which run, and its place in the run's sequence."""

    run_id: str
    seq: int
    wall_time: float


@dataclass(frozen=True)
class RunStarted(RunEvent):
    """The run file exists; everything the run will record is described here."""

    procedure: str
    title: str
    path: str
    parameters: Mapping[str, tuple[Any, str]]
    description: DataDescription
    #: The procedure's declared live views (avlab.views objects), for a GUI to build.
    views: tuple[Any, ...] = ()
    instruments: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PointRecorded(RunEvent):
    """One row of the point table, already on disk."""

    index: int
    values: Mapping[str, Any]


@dataclass(frozen=True)
class ChunkWritten(RunEvent):
    """A piece of an array item (a scanned line, a frame, a histogram), already on disk.

    ``index`` addresses the leading dimensions the values fill, exactly as passed to
    the writer: for an image line (iy,), for a line of frame k (k, iy), for histogram k (k,).
    ``values`` is a private copy, safe to keep.
    """

    item: str
    index: tuple[int, ...]
    values: np.ndarray


@dataclass(frozen=True)
class MeasurementRecorded(RunEvent):
    """A run-level measured value (a dark rate, a beam waist)."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class Progress(RunEvent):
    """How far the run is, with an estimate of the time left (None until one is possible)."""

    fraction: float
    message: str
    elapsed_s: float
    remaining_s: float | None
    bench_elapsed_s: float


@dataclass(frozen=True)
class LogMessage(RunEvent):
    """A warning, error or status message from any thread, belonging to this run."""

    level: int
    logger: str
    message: str

    @property
    def level_name(self) -> str:
        return logging.getLevelName(self.level)


@dataclass(frozen=True)
class RunFinished(RunEvent):
    """The run ended and its file is closed (analysis stored, if any)."""

    status: str  # completed | aborted | failed
    message: str
    path: str
    n_points: int
    summary: tuple[str, ...] = ()
    scalars: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    analysis_error: str = ""
    #: Events this listener lost to a full queue (filled in per listener on delivery).
    dropped_events: int = 0


#: Events no listener may lose: a view must know that a run started and that it ended.
_ESSENTIAL = (RunStarted, RunFinished)

Callback = Callable[[RunEvent], None]


class Subscription:
    """One listener's queue and dispatch thread.

    The queue is bounded by `capacity`; when full, a `Progress` replaces the newest queued
    `Progress` (coalescing), any other event is dropped and counted. Essential events are
    always queued.
    """

    def __init__(self, callback: Callback, *, name: str = "", capacity: int = 10_000,
                 keep_backlog: bool = False) -> None:
        self.callback = callback
        #: At the run's end, keep delivering what is queued instead of dropping it after the
        #: drain time (for scripts that want every event and wait for them: `join()`).
        self.keep_backlog = keep_backlog
        self.name = name or getattr(callback, "__qualname__", type(callback).__name__)
        self.capacity = capacity
        self.dropped = 0
        self._queue: collections.deque[RunEvent] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._reported_errors: set[tuple[str, str]] = set()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._dispatch, name=f"avlab-events-{self.name}",
                                        daemon=True)
        self._thread.start()

    # --- producer side (the worker thread) ----------------------------------------------------
    def put(self, event: RunEvent) -> None:
        with self._cond:
            if len(self._queue) >= self.capacity and not isinstance(event, _ESSENTIAL):
                if isinstance(event, Progress) and self._replace_last_progress(event):
                    return
                self.dropped += 1
                return
            self._queue.append(event)
            self._idle.clear()
            self._cond.notify()

    def _replace_last_progress(self, event: Progress) -> bool:
        for i in range(len(self._queue) - 1, max(len(self._queue) - 64, -1), -1):
            if isinstance(self._queue[i], Progress):
                self._queue[i] = event
                return True
        return False

    def close(self, *, drain_s: float = 2.0) -> bool:
        """Let the listener catch up for up to `drain_s`, then discard what it still has not
        taken except essential events; True if everything was delivered."""
        delivered = self._idle.wait(drain_s)
        with self._cond:
            self._closing = True
            if not delivered and not self.keep_backlog:
                kept = collections.deque(e for e in self._queue if isinstance(e, _ESSENTIAL))
                self.dropped += len(self._queue) - len(kept)
                self._queue = kept
            self._cond.notify()
        return delivered

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- consumer side (this subscription's thread) -------------------------------------------
    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._idle.set()
                    self._cond.wait()
                if not self._queue:
                    self._idle.set()
                    return
                event = self._queue.popleft()
            if isinstance(event, RunFinished):
                event = replace(event, dropped_events=self.dropped)
            try:
                self.callback(event)
            except Exception as exc:  # noqa: BLE001 - a listener never ends a run
                self._report(event, exc)

    def _report(self, event: RunEvent, exc: Exception) -> None:
        key = (type(exc).__name__, type(event).__name__)
        if key in self._reported_errors:
            return
        self._reported_errors.add(key)
        log.error("run %s: listener %s raised %s on %s: %s (reported once per kind; the run "
                  "goes on)", event.run_id, self.name, type(exc).__name__,
                  type(event).__name__, exc, exc_info=exc)


class EventIterator:
    """Iterate a run's events in a script: `for event in runner.events(): ...`.

    Ends after `RunFinished`. It only collects (never blocks the dispatcher) and keeps its
    backlog at the run's end, so a script that iterates gets every event.
    """

    def __init__(self) -> None:
        self._queue: collections.deque[RunEvent] = collections.deque()
        self._cond = threading.Condition()

    def __call__(self, event: RunEvent) -> None:
        with self._cond:
            self._queue.append(event)
            self._cond.notify()

    def __iter__(self) -> Iterator[RunEvent]:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                event = self._queue.popleft()
            yield event
            if isinstance(event, RunFinished):
                return


class EventHub:
    """Numbers a run's events and hands each to every subscription.

    Publishing costs the worker a dataclass and one short lock per listener; it never waits
    for a listener.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._seq = 0
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []

    def subscribe(self, callback: Callback, *, name: str = "", capacity: int = 10_000,
                  keep_backlog: bool = False) -> Subscription:
        sub = Subscription(callback, name=name, capacity=capacity, keep_backlog=keep_backlog)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions)

    def publish(self, kind: type[RunEvent], **fields: Any) -> RunEvent:
        """Make the next event of this run and queue it for every listener."""
        with self._lock:
            self._seq += 1
            event = kind(run_id=self.run_id, seq=self._seq, wall_time=time.time(), **fields)
            for sub in self._subscriptions:
                sub.put(event)
        return event

    def close(self, *, drain_s: float = 2.0) -> dict[str, int]:
        """Give listeners `drain_s` in all to catch up; return events dropped per listener."""
        deadline = time.monotonic() + drain_s
        for sub in self._subscriptions:
            sub.close(drain_s=max(deadline - time.monotonic(), 0.0))
        return {sub.name: sub.dropped for sub in self._subscriptions}


class RunLogHandler(logging.Handler):
    """Forwards log records raised while a run goes (any thread) as `LogMessage` events.

    Warnings and errors from anywhere, and info from the run's own worker thread: what a
    user watching the run should see next to the data.
    """

    def __init__(self, hub: EventHub, worker_name: str) -> None:
        super().__init__(logging.INFO)
        self.hub = hub
        self.worker_name = worker_name

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in (__name__, STATUS_LOGGER):
            # Listener failures are about the stream itself, not the run; status messages
            # were published by the runner already.
            return
        if record.levelno < logging.WARNING and record.threadName != self.worker_name:
            return
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call must not break the run
            message = str(record.msg)
        self.hub.publish(LogMessage, level=record.levelno, logger=record.name, message=message)
