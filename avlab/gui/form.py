"""A procedure's parameter form, generated from its typed parameters.

Each field shows the unit, the limits and the parameter's doc as tooltip, and is checked by the
parameter's own `validate()` as it is edited, so a bad value is marked at the field before
anything runs. Cross-checks against the bench (`Procedure.check`) are shown the same way when a
run is queued.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ..errors import ParameterError
from ..procedure import Bool, Parameter, Procedure

_BAD = "QLineEdit { border: 2px solid #d62728; background: #fff0f0; }"


def _limits(param: Parameter) -> str:
    low, high = getattr(param, "minimum", None), getattr(param, "maximum", None)
    unit = f" {param.unit}" if param.unit else ""
    if low is not None and high is not None:
        return f"{low:g} … {high:g}{unit}"
    if low is not None:
        return f"≥ {low:g}{unit}"
    if high is not None:
        return f"≤ {high:g}{unit}"
    return ""


class ParameterForm(QWidget):
    """Fields for every parameter of one procedure class; `values()` when all are valid."""

    changed = Signal()

    def __init__(self, procedure_cls: type[Procedure], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.procedure_cls = procedure_cls
        self.params = procedure_cls.parameters()
        self.editors: dict[str, QLineEdit | QCheckBox] = {}
        self.messages: dict[str, QLabel] = {}
        self.errors: dict[str, str] = {}
        outer = QVBoxLayout(self)
        doc = (procedure_cls.__doc__ or "").strip().splitlines()
        heading = QLabel(f"<b>{procedure_cls.title or procedure_cls.name}</b>"
                         + (f"<br>{doc[0]}" if doc else ""))
        heading.setWordWrap(True)
        outer.addWidget(heading)
        form = QFormLayout()
        outer.addLayout(form)
        for name, param in self.params.items():
            tip = param.doc + (f"\nlimits: {_limits(param)}" if _limits(param) else "") + \
                f"\ndefault: {param.default!r}"
            editor: QLineEdit | QCheckBox
            if isinstance(param, Bool):
                editor = QCheckBox()
                editor.setChecked(bool(param.default))
                editor.toggled.connect(lambda _=False, n=name: self._check(n))
            else:
                editor = QLineEdit(self._text(param.default))
                editor.setPlaceholderText(_limits(param))
                editor.textChanged.connect(lambda _="", n=name: self._check(n))
            editor.setToolTip(tip)
            editor.setObjectName(f"param_{name}")
            self.editors[name] = editor
            row = QHBoxLayout()
            row.addWidget(editor, 1)
            unit = QLabel(param.unit)
            unit.setMinimumWidth(50)
            row.addWidget(unit)
            message = QLabel()
            message.setStyleSheet("color: #d62728;")
            message.setWordWrap(True)
            message.hide()
            self.messages[name] = message
            column = QVBoxLayout()
            column.setSpacing(1)
            column.addLayout(row)
            column.addWidget(message)
            label = QLabel(name + ":")
            label.setToolTip(tip)
            form.addRow(label, column)
        self.general = QLabel()
        self.general.setStyleSheet("color: #d62728;")
        self.general.setWordWrap(True)
        self.general.hide()
        outer.addWidget(self.general)
        outer.addStretch(1)

    @staticmethod
    def _text(value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    def raw(self, name: str) -> Any:
        editor = self.editors[name]
        return editor.isChecked() if isinstance(editor, QCheckBox) else editor.text()

    def set_value(self, name: str, value: Any) -> None:
        editor = self.editors[name]
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        else:
            editor.setText(self._text(value))

    def _check(self, name: str) -> bool:
        param = self.params[name]
        try:
            param.validate(self.raw(name))
        except ParameterError as exc:
            self.show_error(name, str(exc))
            self.changed.emit()
            return False
        self.show_error(name, "")
        self.general.hide()
        self.changed.emit()
        return True

    def show_error(self, name: str, message: str) -> None:
        """Mark a field as invalid (or clear it with an empty message)."""
        editor, label = self.editors[name], self.messages[name]
        if message:
            self.errors[name] = message
            label.setText(message)
            label.show()
            if isinstance(editor, QLineEdit):
                editor.setStyleSheet(_BAD)
        else:
            self.errors.pop(name, None)
            label.hide()
            editor.setStyleSheet("")

    def show_general_error(self, message: str) -> None:
        """A problem not tied to one field (or also shown at the field it names)."""
        # whole names only: "max_refine_points" must not also mark "points"
        named = [n for n in self.params if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", message)]
        for name in named:
            self.show_error(name, message)
        self.general.setText(message)
        self.general.setVisible(bool(message))

    def values(self) -> dict[str, Any] | None:
        """Every parameter validated, or None (and the bad fields marked)."""
        ok = all([self._check(name) for name in self.params])
        if not ok:
            return None
        return {name: self.params[name].validate(self.raw(name)) for name in self.params}

    def procedure(self) -> Procedure | None:
        """A procedure instance with the form's values, or None if any is invalid."""
        values = self.values()
        if values is None:
            return None
        try:
            return self.procedure_cls(**values)
        except ParameterError as exc:
            self.show_general_error(str(exc))
            return None
