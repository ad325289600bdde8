"""The data browser: open any avlab run file — finished, crashed or still being written — and
show it with the same views the run showed live, plus its stored analysis.

The procedure named in the file gives the views (built from the file's parameters); a file of
an unknown procedure is shown with default views of its table. A file still being written is
opened read-only in SWMR mode and can follow the writer (re-read once a second).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..data import Column, DataDescription
from ..storage import RunData, read_run
from ..views import View
from .liveviews import ViewSet, _default_views

log = logging.getLogger(__name__)
FOLLOW_PERIOD_MS = 1000


def description_and_views(run: RunData) -> tuple[DataDescription, tuple[View, ...]]:
    """What the file holds and how to show it: the registered procedure's description and
    views for the stored parameters, else defaults from the file's own columns."""
    from ..errors import ParameterError
    from ..registry import RegistryError, load_procedure

    try:
        cls = load_procedure(run.procedure)
    except RegistryError:
        cls = None
    if cls is not None:
        procedure = cls()
        for name, (value, _unit) in run.parameters.items():
            try:
                procedure.set(name, _plain(value))
            except ParameterError:
                pass  # a parameter renamed or retired since: its default is good enough here
        try:
            description = procedure.describe_data()
            return description, procedure.checked_views(description)
        except (ValueError, KeyError) as exc:
            log.warning("%s: the views of %s do not fit this file (%s); showing defaults",
                        run.path, run.procedure, exc)
    columns = tuple(Column(name, run.units.get(name, "")) for name in run.columns)
    signal = run.signal if run.signal in run.columns else ""
    axes = tuple(a for a in run.axes if a in run.columns)
    description = DataDescription(columns=columns, signal=signal,
                                  plot_axes=axes[:1] if signal else ())
    return description, _default_views(description, run.procedure or run.path.name)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


class DataBrowser(QWidget):
    """Open a run file, show its views, summary and analysis; follow a file being written."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self._followed: tuple[int, int] | None = None  # (size, mtime) last read while following
        self.run: RunData | None = None
        self.views: ViewSet | None = None
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.open_button = QPushButton("Open run file…")
        self.open_button.clicked.connect(self._choose)
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(self.reload)
        self.follow = QCheckBox("follow while it is being written")
        self.follow.setChecked(True)
        self.title = QLabel("no file open")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for widget in (self.open_button, self.reload_button, self.follow):
            bar.addWidget(widget)
        bar.addWidget(self.title, 1)
        layout.addLayout(bar)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.placeholder = QLabel("Open an avlab run file (.h5) to plot it with its analysis.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.splitter.addWidget(self.placeholder)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.splitter.addWidget(self.summary)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        layout.addWidget(self.splitter, 1)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._follow_tick)
        self.start_dir = Path.cwd()

    def _choose(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open run file", str(self.start_dir),
                                              "avlab run files (*.h5 *.hdf5 *.nxs);;all (*)")
        if name:
            self.open(name)

    def open(self, path: str | Path) -> bool:
        """Show a run file; False (and the reason shown) if it cannot be read."""
        self.path = Path(path)
        self._followed = None
        self.start_dir = self.path.parent
        return self.reload()

    def reload(self) -> bool:
        if self.path is None:
            return False
        try:
            run = read_run(self.path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
            log.warning("cannot open %s: %s", self.path, exc)
            self.title.setText(f"cannot open {self.path.name}: {exc}")
            self.timer.stop()
            return False
        self.run = run
        description, views = description_and_views(run)
        viewset = ViewSet(views, description)
        arrays = getattr(run, "arrays", None) or {}
        analysis = run.results.get("analysis", {})
        measurements = run.results.get("measurements", {})
        viewset.load(run.columns, _materialise(arrays), {**measurements, **analysis})
        viewset.refresh()
        old = self.splitter.widget(0)
        self.splitter.replaceWidget(0, viewset)
        old.deleteLater()
        self.splitter.setSizes([4000, 1000])  # the plot gets four fifths of the height
        self.views = viewset
        self.title.setText(f"<b>{run.path.name}</b> · {run.procedure} · {run.status} · "
                           f"{run.n_points} points · started {run.start_time}")
        self.summary.setPlainText(self._summary_text(run))
        if not run.finished and self.follow.isChecked():
            self.timer.start(FOLLOW_PERIOD_MS)
        else:
            self.timer.stop()
        return True

    def _follow_tick(self) -> None:
        if not self.follow.isChecked():
            self.timer.stop()
            return
        # Re-read (on the GUI thread) only when the writer added something: reading and
        # rebuilding the views every second for an unchanged file was pure GUI-thread load.
        try:
            stat = self.path.stat() if self.path is not None else None
        except OSError:
            stat = None
        stamp = (stat.st_size, stat.st_mtime_ns) if stat is not None else None
        if stamp is not None and stamp == self._followed:
            return
        self._followed = stamp
        self.reload()

    @staticmethod
    def _summary_text(run: RunData) -> str:
        from ..storage import summarize

        try:
            return summarize(run.path)
        except Exception as exc:  # noqa: BLE001 - the plot is still worth showing
            return f"(no summary: {exc})"


def _materialise(arrays: Any) -> dict[str, np.ndarray]:
    """Array items as numpy arrays (storage may hand out lazy datasets)."""
    out: dict[str, np.ndarray] = {}
    for name in list(arrays):
        try:
            handle = arrays[name]
            out[name] = np.asarray(handle.read() if hasattr(handle, "read") else handle[()])
        except Exception:  # noqa: BLE001 - one unreadable item must not hide the others
            log.warning("array item %s could not be read", name)
    return out
