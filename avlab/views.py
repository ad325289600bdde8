"""Live views a procedure declares, as data: what a GUI should draw, not how.

A procedure lists its views (`Procedure.views()`); a GUI builds one widget per view from these
descriptions and feeds it from run events, with no procedure-specific GUI code. The same
declarations could drive a web view or a notebook. Names refer to the procedure's data
description (columns, array items, axes) and to the scalars of its analysis summary.

Kinds:

* :class:`XYView` — points of the table, y against x (log axes, error bars, series split by a
  column such as the sweep direction, an optional panel of the local log-log slope
  S = d ln y / d ln x, vertical markers at analysis values such as a threshold).
* :class:`ImageView` — an array item shown as an image with its axes in µm, a colour map,
  levels, a cursor read-out and a line profile; for a stack, the newest frame.
* :class:`CurvesView` — rows of a stacked 1-D item (histograms, spectra) as curves against
  an axis, the newest highlighted.
* :class:`ReadoutView` — current values of named measurements / analysis scalars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CurvesView", "ImageView", "ReadoutView", "View", "XYView", "check_views"]


@dataclass(frozen=True)
class View:
    """Base of every declared view."""

    title: str

    @property
    def kind(self) -> str:
        return type(self).__name__

    def names(self) -> tuple[str, ...]:
        """Data names this view reads (checked against the data description)."""
        return ()


@dataclass(frozen=True)
class XYView(View):
    x: str = ""
    y: str = ""
    x_log: bool = False
    y_log: bool = False
    #: Column of 1-sigma errors of y ("" for none).
    error: str = ""
    #: Column whose values split points into series, with a label per value.
    series_by: str = ""
    series_labels: tuple[tuple[Any, str], ...] = ()
    #: Add a panel with the local slope d ln y / d ln x (the S-curve's S).
    slope_panel: bool = False
    #: Analysis scalars (in x units) drawn as vertical markers, e.g. thresholds.
    x_markers: tuple[str, ...] = ()
    #: Only points with y > 0 (a log axis cannot show the rest).
    positive_only: bool = False

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.x, self.y, self.error, self.series_by) if n)


@dataclass(frozen=True)
class ImageView(View):
    item: str = ""
    colormap: str = "inferno"
    #: Show a line profile along x through the cursor.
    line_profile: bool = True

    def names(self) -> tuple[str, ...]:
        return (self.item,)


@dataclass(frozen=True)
class CurvesView(View):
    item: str = ""
    #: The axis along the curve (an Axis name of the item).
    x_axis: str = ""
    y_log: bool = False
    #: How many of the newest rows to draw (0: all).
    newest: int = 0

    def names(self) -> tuple[str, ...]:
        return (self.item,)


@dataclass(frozen=True)
class ReadoutView(View):
    #: Measurement or analysis scalar names, in display order.
    values: tuple[str, ...] = field(default_factory=tuple)


def check_views(views: tuple[View, ...], known_names: set[str]) -> None:
    """Raise ValueError if a view names data the procedure does not record."""
    for view in views:
        missing = [n for n in view.names() if n not in known_names]
        if missing:
            raise ValueError(f"view {view.title!r} ({view.kind}) names {missing}, which the "
                             "procedure does not record")
