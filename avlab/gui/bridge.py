"""Run events and log records into the Qt thread.

A `Runner` delivers events on a dispatch thread of each listener's own; Qt widgets may only be
touched from the GUI thread. The bridge queues events on the dispatch thread and emits one
queued signal per batch, so a burst (512 image lines) costs the GUI thread one wake-up, not 512.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..events import STATUS_LOGGER, RunEvent


class EventBridge(QObject):
    """Callable run-event listener: `runner.subscribe(bridge)`; connect `arrived` and call
    `drain()` in the GUI thread to get every event queued since the last drain, in order."""

    arrived = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: collections.deque[RunEvent] = collections.deque()
        self._lock = threading.Lock()
        self._pending = False

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self._queue.append(event)
            if self._pending:
                return
            self._pending = True
        self.arrived.emit()  # queued: the bridge lives in the GUI thread

    def drain(self) -> list[RunEvent]:
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            self._pending = False
        return events


class LogBridge(QObject):
    """Log records from any thread as a Qt signal: (level, logger, message, thread name)."""

    record = Signal(int, str, str, str)


class GuiLogHandler(logging.Handler):
    """Forwards warnings and errors from every thread to the log panel.

    While a run goes, the runner already forwards warnings and errors as `LogMessage` run
    events (tagged with the run); those records are skipped here so each appears once.
    """

    #: Loggers the runner's own handler does not forward (they are about the stream itself).
    _NOT_FORWARDED_BY_RUN = ("avlab.events", STATUS_LOGGER)

    def __init__(self, bridge: LogBridge, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.bridge = bridge

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == STATUS_LOGGER:
            return  # published as LogMessage events by the runner
        if (record.levelno >= logging.WARNING and record.name not in self._NOT_FORWARDED_BY_RUN
                and _run_handler_installed()):
            return
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__})"
        except Exception:  # noqa: BLE001 - a bad log call must not break anything
            message = str(record.msg)
        try:
            self.bridge.record.emit(record.levelno, record.name, message, record.threadName or "")
        except RuntimeError:  # the panel is gone (window closed while a thread logs)
            pass


def _run_handler_installed() -> bool:
    from ..events import RunLogHandler

    root: Any = logging.getLogger()
    return any(isinstance(h, RunLogHandler) for h in list(root.handlers))
