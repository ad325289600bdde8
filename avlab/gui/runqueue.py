"""The run queue: procedures with their parameter values, run one after another.

Whatever happens to a run — completed, failed, aborted, or refused before it started — the
bench is shut down (every laser off) before the next run or before the queue halts. After a
failed run the queue goes on or halts, as the user chose; STOP always halts it.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..bench import Bench
from ..events import RunEvent, RunFinished
from ..procedure import Procedure
from ..runner import ForegroundGate, Runner
from .bridge import EventBridge

log = logging.getLogger(__name__)
_numbers = itertools.count(1)
#: The longest the GUI thread spends handing run events on in one go (s).
DELIVER_BUDGET_S = 0.015


@dataclass
class QueueEntry:
    """One queued run."""

    procedure_cls: type[Procedure]
    values: dict[str, Any]
    status: str = "queued"  # queued | running | completed | failed | aborted
    path: str = ""
    message: str = ""
    number: int = field(default_factory=lambda: next(_numbers))

    def changed_values(self) -> str:
        params = self.procedure_cls.parameters()
        return ", ".join(f"{n}={v:g}" if isinstance(v, float) else f"{n}={v}"
                         for n, v in self.values.items()
                         if n in params and v != params[n].default) or "defaults"


class RunQueue(QObject):
    """Runs entries in order on one bench; every event of the running run goes to `event`."""

    changed = Signal()
    event = Signal(object)  # each RunEvent of the running run, in the GUI thread
    run_prepared = Signal(object)  # the Runner, before it starts (build views now)
    run_started = Signal(object)  # the Runner
    run_ended = Signal(object)  # the QueueEntry

    def __init__(self, bench: Bench, out_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.out_dir = out_dir
        self.entries: list[QueueEntry] = []
        self.continue_after_failure = True
        self.runner: Runner | None = None
        #: Runs pause at it while the window redraws (avlab.runner.ForegroundGate).
        self.gate = ForegroundGate()
        self.active: QueueEntry | None = None
        self._halt = False
        self.bridge = EventBridge(self)
        self.bridge.arrived.connect(self._deliver)
        self._backlog: collections.deque[RunEvent] = collections.deque()
        self._finish_timer = QTimer(self)
        self._finish_timer.setInterval(20)
        self._finish_timer.timeout.connect(self._check_finished)

    @property
    def running(self) -> bool:
        return self.active is not None

    # --- editing ---------------------------------------------------------------------------
    def add(self, procedure_cls: type[Procedure], values: dict[str, Any], *,
            first: bool = False) -> QueueEntry:
        """Queue a run, last, or with `first` ahead of every entry still queued."""
        entry = QueueEntry(procedure_cls, dict(values))
        position = next((i for i, e in enumerate(self.entries) if e.status == "queued"),
                        len(self.entries)) if first else len(self.entries)
        self.entries.insert(position, entry)
        self.changed.emit()
        return entry

    def move(self, index: int, step: int) -> int:
        """Move a queued entry up (-1) or down (+1); returns its new index."""
        target = index + step
        if not (0 <= index < len(self.entries) and 0 <= target < len(self.entries)):
            return index
        if any(self.entries[i].status == "running" for i in (index, target)):
            return index
        self.entries[index], self.entries[target] = self.entries[target], self.entries[index]
        self.changed.emit()
        return target

    def remove(self, index: int) -> None:
        if 0 <= index < len(self.entries) and self.entries[index].status != "running":
            del self.entries[index]
            self.changed.emit()

    # --- running -----------------------------------------------------------------------------
    def start(self) -> None:
        """Run every queued entry in order (no-op while a run goes)."""
        if self.running:
            return
        self._halt = False
        self._next()

    def abort(self, reason: str) -> None:
        self._halt = True
        if self.runner is not None:
            self.runner.abort(reason)

    def _out_path(self, name: str) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        for n in itertools.count():
            path = self.out_dir / f"{name}_{stamp}{f'_{n}' if n else ''}.h5"
            if not path.exists():
                return path
        raise AssertionError("unreachable")

    def _next(self) -> None:
        entry = next((e for e in self.entries if e.status == "queued"), None)
        if entry is None or self._halt:
            return
        path = self._out_path(entry.procedure_cls.name)
        entry.status, entry.path = "running", str(path)
        self.active = entry
        self.changed.emit()
        try:
            procedure = entry.procedure_cls(**entry.values)
            runner = Runner(procedure, self.bench, path, gate=self.gate)
            runner.subscribe(self.bridge, name="gui")
            self.runner = runner
            # Widgets are built before the first event, not while lines stream in.
            self.run_prepared.emit(runner)
            runner.start()
        except Exception as exc:  # noqa: BLE001 - a run refused at start is one failed entry
            log.error("run %d (%s) could not start: %s", entry.number,
                      entry.procedure_cls.name, exc)
            self.bench.shutdown()
            self.runner = None
            entry.status, entry.message = "failed", f"{type(exc).__name__}: {exc}"
            if not path.exists():
                entry.path = ""
            self._ended(entry)
            return
        self.runner = runner
        self.run_started.emit(runner)

    def _deliver(self) -> None:
        """Hand queued events on, for at most DELIVER_BUDGET_S at a time: a burst (a frame's
        lines after a slow moment) is spread over several turns of the event loop, so the
        window keeps redrawing and answering clicks (STOP) in between."""
        self._backlog.extend(self.bridge.drain())
        deadline = time.perf_counter() + DELIVER_BUDGET_S
        while self._backlog:
            if time.perf_counter() > deadline:
                QTimer.singleShot(0, self._deliver)
                return
            event = self._backlog.popleft()
            if self.runner is None or event.run_id != self.runner.run_id:
                continue  # a late event of an earlier run
            self.event.emit(event)
            if isinstance(event, RunFinished):
                if self.active is not None:
                    self.active.message = event.message
                self._finish_timer.start()

    def _check_finished(self) -> None:
        """After RunFinished: wait (without blocking the GUI) until the worker is done."""
        assert self.runner is not None and self.active is not None
        result = self.runner.join(0)
        if result is None:
            return
        self._finish_timer.stop()
        entry = self.active
        entry.status = result.status
        entry.message = result.message
        self.runner = None
        self._ended(entry)

    def _ended(self, entry: QueueEntry) -> None:
        # Whatever happened, the instruments are made safe before anything else runs.
        report = self.bench.shutdown()
        if not report.ok:
            log.critical("after run %d: %s", entry.number, report.outcomes)
        self.active = None
        self.changed.emit()
        self.run_ended.emit(entry)
        if entry.status != "completed" and (not self.continue_after_failure
                                            or entry.status == "aborted"):
            self._halt = True
        QTimer.singleShot(0, self._next)


class QueuePanel(QWidget):
    """The queue as a table with move/remove/run buttons and the after-failure setting."""

    COLUMNS = ["#", "procedure", "parameters", "status", "file", "message"]

    def __init__(self, queue: RunQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(self.COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        bar = QHBoxLayout()
        self.up = QPushButton("Move up")
        self.down = QPushButton("Move down")
        self.remove = QPushButton("Remove")
        self.run = QPushButton("Run queue")
        self.run.setObjectName("run_queue")
        self.keep_going = QCheckBox("go on after a failed run")
        self.keep_going.setChecked(queue.continue_after_failure)
        self.keep_going.toggled.connect(self._set_keep_going)
        self.up.clicked.connect(lambda: self._move(-1))
        self.down.clicked.connect(lambda: self._move(+1))
        self.remove.clicked.connect(self._remove)
        self.run.clicked.connect(queue.start)
        for widget in (self.up, self.down, self.remove):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.keep_going)
        bar.addWidget(self.run)
        layout.addLayout(bar)
        queue.changed.connect(self.redraw)
        self.redraw()

    def _set_keep_going(self, on: bool) -> None:
        self.queue.continue_after_failure = on

    def _selected(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _move(self, step: int) -> None:
        index = self.queue.move(self._selected(), step)
        self.table.selectRow(index)

    def _remove(self) -> None:
        self.queue.remove(self._selected())

    def redraw(self) -> None:
        entries = self.queue.entries
        selected = self._selected()
        self.table.setRowCount(len(entries))
        colours = {"running": "#cfe2ff", "completed": "#d1e7dd", "failed": "#f8d7da",
                   "aborted": "#fff3cd"}
        from PySide6.QtGui import QColor

        for row, entry in enumerate(entries):
            cells = [str(entry.number), entry.procedure_cls.name, entry.changed_values(),
                     entry.status, entry.path, entry.message]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if entry.status in colours:
                    item.setBackground(QColor(colours[entry.status]))
                if column in (2, 4, 5):
                    item.setToolTip(text)
                self.table.setItem(row, column, item)
        if 0 <= selected < len(entries):
            self.table.selectRow(selected)
        self.run.setEnabled(not self.queue.running)
