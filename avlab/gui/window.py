"""The main window: instruments on the left, STOP and progress on top, procedures and queue,
live views, the data browser and the log in tabs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..bench import Bench
from ..events import (
    LogMessage,
    Progress,
    RunEvent,
    RunFinished,
    RunStarted,
)
from ..procedure import Procedure
from ..runner import Runner
from .browser import DataBrowser
from .form import ParameterForm
from .instruments import InstrumentPanel
from .liveviews import ViewSet
from .logpanel import LogPanel
from .runqueue import QueueEntry, QueuePanel, RunQueue

log = logging.getLogger(__name__)

#: Live views redraw at most this often (ms): events only fill buffers in between.
REFRESH_PERIOD_MS = 33
#: How long closing the window waits for an aborted run to finish writing its file (s).
CLOSE_WAIT_S = 15.0


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {(seconds % 3600) // 60:02.0f} min"


def registered_procedures() -> dict[str, type[Procedure]]:
    """Every procedure installed packages register; one that fails to load is logged."""
    from ..registry import RegistryError, load_procedure, procedure_names

    found: dict[str, type[Procedure]] = {}
    for name in procedure_names():
        try:
            found[name] = load_procedure(name)
        except RegistryError as exc:
            log.warning("%s", exc)
    return found


class MainWindow(QMainWindow):
    """The cockpit. Owns no instrument: the bench is given (and closed by whoever made it)."""

    def __init__(self, bench: Bench, *, procedures: Mapping[str, type[Procedure]] | None = None,
                 out_dir: str | Path = "runs") -> None:
        super().__init__()
        self.bench = bench
        self.setWindowTitle(f"avlab — {bench.config.name}")
        self.procedures = dict(procedures) if procedures is not None else registered_procedures()
        self.queue = RunQueue(bench, Path(out_dir), self)
        self.viewset: ViewSet | None = None
        self._views_for = ""  # the run whose views are shown
        self._progress: Progress | None = None
        self.last_finished: RunFinished | None = None
        self._closing = False

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.addLayout(self._top_bar())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(splitter, 1)
        # Late-bound: whoever replaces `ask` (a test, an embedding app) is asked.
        self.instruments = InstrumentPanel(bench, lambda title, text: self.ask(title, text))
        splitter.addWidget(self.instruments)
        self.tabs = QTabWidget()
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        self.tabs.addTab(self._procedure_tab(), "Procedures and queue")
        self.live = QStackedWidget()
        self.live_placeholder = QLabel("Live views appear here when a run starts.")
        self.live_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.live.addWidget(self.live_placeholder)
        self.tabs.addTab(self.live, "Live")
        self.browser = DataBrowser()
        self.browser.start_dir = Path(out_dir)
        self.tabs.addTab(self.browser, "Data browser")
        self.log_panel = LogPanel()
        self.tabs.addTab(self.log_panel, "Log")
        self.setCentralWidget(central)
        self.resize(1400, 860)

        self.queue.event.connect(self._on_event)
        self.queue.run_prepared.connect(self._prepare_views)
        self.queue.run_started.connect(self._on_run_started)
        self.queue.run_ended.connect(self._on_run_ended)
        self.instruments.message.connect(
            lambda level, role, text: self.log_panel.add(level, "", f"control {role}", text))
        for role, problem in bench.failures.items():
            self.log_panel.add(logging.ERROR, "", role, f"not connected: {problem}")
        self.refresh_timer = QTimer(self)
        self.refresh_timer.timeout.connect(self.refresh)
        self.refresh_timer.start(REFRESH_PERIOD_MS)

    # --- layout ------------------------------------------------------------------------------------
    def _top_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.stop_button = QPushButton("STOP")
        self.stop_button.setObjectName("stop")
        self.stop_button.setToolTip("Abort the run and switch every laser off now")
        font = QFont()
        font.setPointSize(20)
        font.setBold(True)
        self.stop_button.setFont(font)
        self.stop_button.setMinimumSize(180, 64)
        self.stop_button.setStyleSheet(
            "QPushButton { background: #c62828; color: white; border-radius: 8px; }"
            "QPushButton:pressed { background: #8e0000; }")
        self.stop_button.clicked.connect(self.stop)
        bar.addWidget(self.stop_button)
        column = QVBoxLayout()
        self.run_label = QLabel("idle")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p %")
        self.progress_label = QLabel("")
        column.addWidget(self.run_label)
        column.addWidget(self.progress)
        column.addWidget(self.progress_label)
        bar.addLayout(column, 1)
        return bar

    def _procedure_tab(self) -> QWidget:
        tab = QWidget()
        layout = QHBoxLayout(tab)
        left = QVBoxLayout()
        self.chooser = QComboBox()
        self.chooser.addItems(list(self.procedures))
        self.chooser.currentTextChanged.connect(self._choose)
        left.addWidget(self.chooser)
        self.form_stack = QStackedWidget()
        left.addWidget(self.form_stack, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add to queue")
        self.add_button.clicked.connect(lambda: self.add_to_queue())
        self.run_now = QPushButton("Run now")
        self.run_now.setObjectName("run_now")
        self.run_now.setToolTip("Run this next, ahead of the runs still queued")
        self.run_now.clicked.connect(self._run_now)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.run_now)
        left.addLayout(buttons)
        holder = QWidget()
        holder.setLayout(left)
        holder.setMinimumWidth(420)
        layout.addWidget(holder, 2)
        self.queue_panel = QueuePanel(self.queue)
        layout.addWidget(self.queue_panel, 3)
        self.forms: dict[str, ParameterForm] = {}
        if self.procedures:
            self._choose(self.chooser.currentText())
        return tab

    def _choose(self, name: str) -> None:
        if name not in self.forms:
            self.forms[name] = ParameterForm(self.procedures[name])
            self.form_stack.addWidget(self.forms[name])
        self.form_stack.setCurrentWidget(self.forms[name])

    @property
    def form(self) -> ParameterForm:
        return self.forms[self.chooser.currentText()]

    # --- actions -----------------------------------------------------------------------------------
    def ask(self, title: str, text: str) -> bool:
        """A yes/no question; tests replace this (no dialog can be answered offscreen)."""
        answer = QMessageBox.question(self, title, text,
                                      QMessageBox.StandardButton.Yes
                                      | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def add_to_queue(self, *, first: bool = False) -> QueueEntry | None:
        """Queue the form's procedure if every value is valid and fits the bench (`first`:
        ahead of the entries still queued)."""
        form = self.form
        procedure = form.procedure()
        if procedure is None:
            return None
        try:
            procedure.check(self.bench)
        except Exception as exc:  # noqa: BLE001 - shown at the form, nothing runs
            form.show_general_error(str(exc))
            return None
        return self.queue.add(form.procedure_cls, form.values() or {}, first=first)

    def _run_now(self) -> None:
        """This run next (after the one going, if any), then the queue as before."""
        if self.add_to_queue(first=True) is not None:
            self.queue.start()

    def stop(self) -> None:
        """STOP: abort the run, switch every laser off at once, run nothing more."""
        self.queue.abort("STOP pressed")
        self.instruments.stop_actions()
        report = self.bench.shutdown()
        level = logging.WARNING if report.ok else logging.CRITICAL
        self.log_panel.add(level, self.log_panel.current_run, "STOP",
                           "; ".join(f"{role}: {text}" for role, text in report.outcomes.items())
                           or "no lasers on this bench")

    # --- run events --------------------------------------------------------------------------------
    def _on_run_started(self, runner: Runner) -> None:
        self.instruments.set_run_active(True)
        self.log_panel.current_run = runner.run_id
        self.progress.setValue(0)

    def _on_run_ended(self, entry: QueueEntry) -> None:
        self.instruments.set_run_active(self.queue.running)
        self.log_panel.current_run = ""
        if entry.status != "completed":
            self.log_panel.add(logging.ERROR if entry.status == "failed" else logging.WARNING,
                               "", f"queue #{entry.number}",
                               f"{entry.procedure_cls.name} {entry.status}: {entry.message}")

    def _on_event(self, event: RunEvent) -> None:
        if isinstance(event, RunStarted):
            self._show_run(event)
        elif isinstance(event, Progress):
            self._progress = event  # shown on the next refresh: text layout is not free
        elif isinstance(event, LogMessage):
            if event.level >= logging.WARNING or event.logger == self._procedure_name():
                self.log_panel.add(event.level, event.run_id, event.logger, event.message,
                                   event.wall_time)
        elif isinstance(event, RunFinished):
            self.refresh()  # the last progress first, then the outcome
            self.last_finished = event
            self.progress_label.setText(
                f"{event.status}: {event.n_points} points · {event.path}"
                + (f" · {event.message}" if event.message else ""))
            if event.status == "completed":
                self.progress.setValue(1000)
            self.run_label.setText(self.run_label.text().replace("running", event.status))
            for line in event.summary:
                self.log_panel.add(logging.INFO, event.run_id, "analysis", line)
            if event.analysis_error:
                self.log_panel.add(logging.WARNING, event.run_id, "analysis",
                                   event.analysis_error)
            if event.dropped_events:
                self.log_panel.add(logging.WARNING, event.run_id, "gui",
                                   f"the live view missed {event.dropped_events} events")
        if self.viewset is not None:
            self.viewset.feed(event)

    def _procedure_name(self) -> str:
        return self.queue.active.procedure_cls.name if self.queue.active else ""

    def _prepare_views(self, runner: Runner) -> None:
        """Build the run's views before it starts: widget construction takes a good part of
        a second, which must not fall on the stream of the first lines."""
        self.instruments.set_run_active(True)  # no idle polling from here on
        viewset = ViewSet.for_views(runner.views, runner.description,
                                    runner.procedure.title or runner.procedure.name)
        self._install_views(viewset, runner.run_id)
        # Their first paint too (every axis and label laid out and drawn, some 25 ms): once
        # the run's worker computes, each paint shares the interpreter with it and takes
        # two to three times as long.
        self.tabs.setCurrentWidget(self.live)
        if self.isVisible():
            QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            self.repaint()

    def _install_views(self, viewset: ViewSet, run_id: str) -> None:
        for problem in viewset.problems:
            self.log_panel.add(logging.WARNING, run_id, "gui", problem)
        old = self.viewset
        self.live.addWidget(viewset)
        self.live.setCurrentWidget(viewset)
        if old is not None:
            self.live.removeWidget(old)
            old.deleteLater()
        self.viewset = viewset
        self._views_for = run_id

    def _show_run(self, event: RunStarted) -> None:
        if self.viewset is None or self._views_for != event.run_id:
            self._install_views(ViewSet.for_run(event), event.run_id)
        self.run_label.setText(f"<b>{event.title}</b> running · run {event.run_id} · "
                               f"{event.path}")
        self.tabs.setCurrentWidget(self.live)

    def refresh(self) -> None:
        """Draw what changed since the last tick: views and the newest progress."""
        if self.viewset is not None:
            # The run's worker pauses while the views draw and paint (at once, not when Qt
            # gets round to the paint event): a paint that shares the interpreter with the
            # worker takes two to five times as long.
            with self.queue.gate.held():
                if self.viewset.refresh() and self.isVisible():
                    # pyqtgraph marks its scene dirty through a queued call: run that, then
                    # paint now rather than later, outside the gate
                    QApplication.sendPostedEvents(None, QEvent.Type.MetaCall)
                    self.live.repaint()
        event, self._progress = self._progress, None
        if event is not None:
            self.progress.setValue(int(event.fraction * 1000))
            left = ("" if event.remaining_s is None
                    else f" · about {_duration(event.remaining_s)} left")
            self.progress_label.setText(f"{event.message}{left} · "
                                        f"{_duration(event.elapsed_s)} elapsed")

    # --- closing -----------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.queue.running and not self._closing:
            if not self.ask("A run is going",
                            "A run is going. Abort it, switch every laser off and quit?"):
                event.ignore()
                return
            self._closing = True
            self.queue.abort("window closed")
            self.instruments.stop_actions()
            self.bench.shutdown()
            runner = self.queue.runner
            if runner is not None and runner.join(CLOSE_WAIT_S) is None:
                log.critical("the run did not end within %g s of closing the window: its "
                             "file %s may stay incomplete ('avlab recover' repairs it); "
                             "lasers were switched off", CLOSE_WAIT_S, runner.out_path)
        self.queue.abort("window closed")  # nothing queued starts while the window goes
        self.shutdown_gui()
        event.accept()

    def close_without_asking(self) -> None:
        """Close from a script or a timer (headless): a run going is stopped first, as STOP
        does, since nobody can answer the question a close during a run asks."""
        if self.queue.running:
            self.stop()
        self._closing = True
        self.close()

    def shutdown_gui(self) -> None:
        """Stop timers, polling and log forwarding; lasers off (idempotent)."""
        self.refresh_timer.stop()
        self.instruments.close_panel()
        self.browser.timer.stop()
        self.log_panel.detach()
        self.bench.shutdown()
