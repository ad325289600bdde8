"""The log panel: every warning and error from any thread, with the run it belongs to.

Two sources: `LogMessage` run events (tagged with their run by the runner) and a logging
handler for everything outside a run (bench connection, manual controls, listener trouble).
"""

from __future__ import annotations

import datetime as dt
import logging

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from .bridge import GuiLogHandler, LogBridge

MAX_ROWS = 5000
_COLOURS = {logging.WARNING: "#fff3cd", logging.ERROR: "#f8d7da", logging.CRITICAL: "#f1a7ae"}


class LogPanel(QTableWidget):
    """Time, level, run, source and message; newest at the bottom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 5, parent)
        self.setHorizontalHeaderLabels(["time", "level", "run", "source", "message"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().hide()
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)
        #: The run the GUI is running now: records from outside the run's stream get it too.
        self.current_run = ""
        self.bridge = LogBridge(self)
        self.bridge.record.connect(self._from_handler)
        self.handler = GuiLogHandler(self.bridge)
        logging.getLogger().addHandler(self.handler)

    def detach(self) -> None:
        logging.getLogger().removeHandler(self.handler)

    def _from_handler(self, level: int, logger: str, message: str, thread: str) -> None:
        self.add(level, self.current_run, logger, message)

    def add(self, level: int, run_id: str, source: str, message: str,
            when: float | None = None) -> None:
        stamp = dt.datetime.fromtimestamp(when) if when else dt.datetime.now()
        row = self.rowCount()
        self.insertRow(row)
        cells = [stamp.strftime("%H:%M:%S"), logging.getLevelName(level), run_id, source,
                 message]
        colour = _COLOURS.get(level)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if colour:
                item.setBackground(QColor(colour))
            self.setItem(row, column, item)
        while self.rowCount() > MAX_ROWS:
            self.removeRow(0)
        self.scrollToBottom()

    def messages(self) -> list[tuple[str, str, str]]:
        """(level, run, message) of every row, oldest first (for tests and export)."""
        return [(self.item(r, 1).text(), self.item(r, 2).text(), self.item(r, 4).text())
                for r in range(self.rowCount())]
