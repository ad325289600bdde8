"""Widgets for the views procedures declare (avlab.views), fed by run events or a run file.

One widget class per view kind, none per procedure. A `ViewSet` builds the widgets for one run
from its `DataDescription` and declared views, routes events to them and redraws at most once
per refresh tick: events only change buffers (cheap, in the order they came), `refresh()`
draws what changed. The same ViewSet replays a finished file (`load_run`), so a run looks the
same live and in the data browser.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..data import ArrayItem, DataDescription
from ..events import (
    ChunkWritten,
    MeasurementRecorded,
    PointRecorded,
    RunEvent,
    RunFinished,
    RunStarted,
)
from ..views import CurvesView, ImageView, ReadoutView, View, XYView

#: Curves longer than this are drawn decimated (pyqtgraph's peak downsampling, clipped to
#: the visible range); error bars are left out above it.
DECIMATE_ABOVE = 5000
#: While an image streams in, its line profile follows the newest line at most this often (s)
#: (the cursor's profile follows the cursor at once), and the histogram beside the colour
#: bar is recomputed at most this often.
PROFILE_PERIOD_S = 0.25
HISTOGRAM_PERIOD_S = 0.5
#: The colour bar's scale while streaming spans this many times the current level range.
HISTOGRAM_HEADROOM = 1.25
#: Width of an image view's value axes (px): room for tick labels such as "1.5e+05".
VALUE_AXIS_WIDTH_PX = 64
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def unit_text(unit: str) -> str:
    """A unit as people write it: kW/cm^2 -> kW/cm², um -> µm."""
    text = unit.replace("^2", "²").replace("^3", "³").replace("^-1", "⁻¹")
    return "µm" if text == "um" else text


#: Unit suffixes of data names (`intensity_kW_cm2`); a label shows the unit once, apart.
UNIT_SUFFIXES = ("_kW_cm2", "_cps", "_um", "_nm", "_ms", "_us", "_W", "_s", "_K")


def plain_name(name: str) -> str:
    """`threshold_s_peak_kW_cm2` -> "threshold s peak": words, without the unit suffix."""
    for suffix in UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ")


def axis_label(name: str, unit: str) -> str:
    label = plain_name(name)
    return f"{label} [{unit_text(unit)}]" if unit else label


def format_value(value: Any, unit: str = "") -> str:
    if isinstance(value, (float, np.floating)):
        text = "NaN" if math.isnan(value) else f"{value:.4g}"
    elif isinstance(value, np.ndarray):
        text = np.array2string(value, precision=4, threshold=6)
    else:
        text = str(value)
    return f"{text} {unit_text(unit)}".strip()


class _Growing:
    """A 1-D float buffer that grows by doubling (appends are O(1) amortised)."""

    def __init__(self) -> None:
        self._data = np.empty(256)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self._data):
            self._data = np.resize(self._data, 2 * len(self._data))
        self._data[self.n] = value
        self.n += 1

    def extend(self, values: np.ndarray) -> None:
        for v in np.asarray(values, dtype=float).ravel():
            self.append(v)

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.n]


def local_log_slope(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S = d ln y / d ln x at each distinct positive x (neighbour differences, x sorted).

    For display only: the procedure's analysis gives the stated figures with errors.
    """
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3:
        return np.empty(0), np.empty(0)
    order = np.argsort(x, kind="stable")
    lx, ly = np.log(x[order]), np.log(y[order])
    lx, first = np.unique(lx, return_index=True)
    ly = np.array([seg.mean() for seg in np.split(ly, first[1:])]) if len(first) else ly
    if len(lx) < 3:
        return np.empty(0), np.empty(0)
    return np.exp(lx), np.gradient(ly, lx)


class LiveView(QWidget):
    """Base of every view widget: buffers fed by events, drawn on refresh."""

    def __init__(self, view: View, description: DataDescription,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.description = description
        self.dirty = False
        self.n_draws = 0

    def feed(self, event: RunEvent) -> None:
        """Take one event's data into the buffers (no drawing)."""

    def feed_scalars(self, scalars: Mapping[str, tuple[Any, str]]) -> None:
        """Analysis scalars or measurements (name -> (value, unit))."""

    def load(self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray]) -> None:
        """Everything at once, from a run file."""

    def refresh(self) -> bool:
        """Redraw if anything changed; True if it drew."""
        if not self.dirty:
            return False
        self.dirty = False
        self.draw()
        self.n_draws += 1
        return True

    def draw(self) -> None:
        pass

    def unit_of(self, name: str) -> str:
        for column in self.description.columns:
            if column.name == name:
                return column.unit
        for item in self.description.arrays:
            if item.name == name:
                return item.unit
        for axis in self.description.axes:
            if axis.name == name:
                return axis.unit
        return ""


class _LazyMenuViewBox(pg.ViewBox):
    """A ViewBox that builds its context menu on the first right-click.

    pyqtgraph builds every plot's menu (axis controls from a Qt Designer form) when the plot
    is made; the first one in a process costs about 90 ms of the GUI thread, which landed
    right when a run's first lines arrived. A user pays it once, on a click, instead."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(enableMenu=False, **kwargs)
        self.state["enableMenu"] = True

    def getMenu(self, ev: Any) -> Any:
        if self.menu is None:
            from pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu import ViewBoxMenu

            self.menu = ViewBoxMenu(self)
            self.updateViewLists()
        return self.menu

    def getContextMenus(self, event: Any) -> list:
        return self.getMenu(event).actions() if self.menuEnabled() else []


def _add_plot(graphics: pg.GraphicsLayoutWidget, **kwargs: Any) -> pg.PlotItem:
    return graphics.addPlot(viewBox=_LazyMenuViewBox(), **kwargs)


def _plot_widget() -> pg.GraphicsLayoutWidget:
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground("w")
    return widget


def _style_plot(plot: pg.PlotItem) -> None:
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen("#333"))
        axis.setTextPen(pg.mkPen("#222"))
    plot.showGrid(x=True, y=True, alpha=0.25)


class XYLiveView(LiveView):
    """y against x from the point table: series, log axes, error bars, slope panel, markers."""

    view: XYView

    def __init__(self, view: XYView, description: DataDescription,
                 parent: QWidget | None = None) -> None:
        super().__init__(view, description, parent)
        self.columns: dict[str, _Growing] = {
            name: _Growing() for name in view.names()}
        self.markers: dict[str, float] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = _plot_widget()
        layout.addWidget(self.graphics)
        self.plot = _add_plot(self.graphics, row=0, col=0)
        _style_plot(self.plot)
        self.plot.setTitle(view.title, color="#222", size="12pt")
        self.plot.setLogMode(x=view.x_log, y=view.y_log)
        self.plot.setLabel("bottom", axis_label(view.x, self.unit_of(view.x)))
        self.plot.setLabel("left", axis_label(view.y, self.unit_of(view.y)))
        self.legend = self.plot.addLegend(offset=(10, 10), labelTextColor="#222")
        self.series: dict[Any, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self.slope_plot: pg.PlotItem | None = None
        self.slope_curves: dict[Any, pg.PlotDataItem] = {}
        if view.slope_panel:
            self.slope_plot = _add_plot(self.graphics, row=1, col=0)
            _style_plot(self.slope_plot)
            self.slope_plot.setLogMode(x=view.x_log, y=False)
            self.slope_plot.setXLink(self.plot)
            self.slope_plot.setLabel("bottom", axis_label(view.x, self.unit_of(view.x)))
            self.slope_plot.setLabel("left", "d ln y / d ln x")
            self.graphics.ci.layout.setRowStretchFactor(0, 3)
            self.graphics.ci.layout.setRowStretchFactor(1, 2)
        self.marker_lines: list[pg.InfiniteLine] = []

    # --- data ----------------------------------------------------------------------------------
    def feed(self, event: RunEvent) -> None:
        if isinstance(event, PointRecorded):
            for name, buffer in self.columns.items():
                value = event.values.get(name, math.nan)
                buffer.append(float(value) if value is not None else math.nan)
            self.dirty = True
        elif isinstance(event, RunFinished):
            self.feed_scalars(event.scalars)

    def feed_scalars(self, scalars: Mapping[str, tuple[Any, str]]) -> None:
        for name in self.view.x_markers:
            if name in scalars:
                value = scalars[name][0]
                if isinstance(value, (int, float, np.number)) and math.isfinite(float(value)):
                    self.markers[name] = float(value)
                    self.dirty = True

    def load(self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray]) -> None:
        for name, buffer in self.columns.items():
            if name in columns:
                buffer.extend(np.asarray(columns[name], dtype=float))
        self.dirty = True

    @property
    def n_points(self) -> int:
        return self.columns[self.view.x].n if self.view.x in self.columns else 0

    # --- drawing -------------------------------------------------------------------------------
    def _series_keys(self) -> list[tuple[Any, str, np.ndarray]]:
        view = self.view
        n = self.n_points
        if not view.series_by:
            return [(None, view.y.replace("_", " "), np.ones(n, bool))]
        split = self.columns[view.series_by].values[:n]
        labels = dict(view.series_labels)
        keys = [k for k, _ in view.series_labels] + sorted(
            set(np.unique(split[np.isfinite(split)]).tolist()) - {k for k, _ in view.series_labels})
        return [(k, labels.get(k, f"{view.series_by} = {k:g}"), split == k) for k in keys]

    def draw(self) -> None:
        view = self.view
        n = self.n_points
        x = self.columns[view.x].values[:n]
        y = self.columns[view.y].values[:n]
        err = self.columns[view.error].values[:n] if view.error else None
        keep = np.isfinite(x) & np.isfinite(y)
        if view.positive_only or view.y_log:
            keep &= y > 0
        if view.x_log:
            keep &= x > 0
        best: tuple[float, float] | None = None
        for index, (key, label, mask) in enumerate(self._series_keys()):
            sel = mask & keep
            if key not in self.series and not sel.any():
                continue
            colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
            if key not in self.series:
                points = self.plot.plot([], [], pen=pg.mkPen(colour, width=1.5), symbol="o",
                                        symbolSize=6, symbolBrush=colour, symbolPen=None,
                                        name=label)
                points.setDownsampling(auto=True, method="peak")
                points.setClipToView(True)
                bars = self.plot.plot([], [], pen=pg.mkPen(colour, width=1), connect="pairs")
                self.series[key] = (points, bars)
            points, bars = self.series[key]
            order = np.argsort(x[sel], kind="stable")
            xs, ys = x[sel][order], y[sel][order]
            # Points in the order measured would zig-zag (fill passes); the line joins them
            # along x, as the curve is read.
            points.setData(xs, ys)
            if err is not None and 0 < len(xs) <= DECIMATE_ABOVE:
                es = np.abs(err[sel][order])
                # On a log axis a bar reaching zero has no end: drawn down to a tenth.
                low = np.where(ys - es > 0.1 * ys, ys - es, 0.1 * ys) if view.y_log else ys - es
                bars.setData(np.repeat(xs, 2), np.column_stack([low, ys + es]).ravel())
            else:
                bars.setData([], [])
            if self.slope_plot is not None:
                # Only points clearly above their error: noise would make the slope jump.
                clear = ys > 3 * np.abs(err[sel][order]) if err is not None else slice(None)
                sx, slope = local_log_slope(xs[clear], ys[clear])
                if key not in self.slope_curves:
                    self.slope_curves[key] = self.slope_plot.plot(
                        [], [], pen=pg.mkPen(colour, width=1.5), symbol="o", symbolSize=4,
                        symbolBrush=colour, symbolPen=None)
                self.slope_curves[key].setData(sx, slope)
                if len(slope) and index == 0:
                    i = int(np.nanargmax(slope))
                    best = (float(slope[i]), float(sx[i]))
        if self.slope_plot is not None:
            unit = unit_text(self.unit_of(view.x))
            text = (f"local log-log slope: max ≈ {best[0]:.1f} at {best[1]:.3g} {unit}"
                    if best else "local slope S (needs 3 points)")
            self.slope_plot.setTitle(text, color="#222", size="10pt")
        self._draw_markers()

    def _draw_markers(self) -> None:
        for line in self.marker_lines:
            for plot in (self.plot, self.slope_plot):
                if plot is not None and line in plot.items:
                    plot.removeItem(line)
        self.marker_lines = []
        unit = unit_text(self.unit_of(self.view.x))
        for i, (name, value) in enumerate(self.markers.items()):
            if self.view.x_log and value <= 0:
                continue
            position = math.log10(value) if self.view.x_log else value
            label = plain_name(name)
            for plot in (self.plot, self.slope_plot):
                if plot is None:
                    continue
                line = pg.InfiniteLine(
                    pos=position, angle=90, pen=pg.mkPen("#555", width=1, style=Qt.PenStyle.DashLine),
                    label=f"{label} = {value:.3g} {unit}" if plot is self.plot else None,
                    labelOpts={"position": 0.12 + 0.12 * i, "color": "#222",
                               "fill": (255, 255, 255, 200)})
                plot.addItem(line)
                self.marker_lines.append(line)


class ImageLiveView(LiveView):
    """An array item as an image in µm with colour map, levels, cursor read-out and profile.

    For a stacked item the newest record (frame) is shown. Pixels not yet measured are drawn at
    the bottom of the colour scale and marked in `measured` (the read-out says so).
    """

    view: ImageView

    def __init__(self, view: ImageView, description: DataDescription,
                 parent: QWidget | None = None) -> None:
        super().__init__(view, description, parent)
        self.item: ArrayItem = description.array(view.item)
        if len(self.item.shape) != 2:
            raise ValueError(f"image view {view.title!r}: item {view.item!r} has record shape "
                             f"{self.item.shape}, not 2-D")
        ny, nx = (int(n) for n in self.item.shape)
        self.buffer = np.zeros((ny, nx))
        self.measured = np.zeros((ny, nx), dtype=bool)
        self.levels = (0.0, 1.0)
        self.frame = 0
        self.last_line = 0
        self.x_um, self.x_unit = self._axis_values(-1, nx)
        self.y_um, self.y_unit = self._axis_values(-2, ny)
        self.cursor: tuple[int, int] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = _plot_widget()
        layout.addWidget(self.graphics, 1)
        self.readout = QLabel("move the cursor over the image")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.readout)
        self.plot = _add_plot(self.graphics, row=0, col=0)
        _style_plot(self.plot)
        # No grid over an image: the grid lines belong to the axes, whose paint area then
        # covers the whole image, so every image update repainted both axes as well.
        self.plot.showGrid(x=False, y=False)
        self.plot.setTitle(view.title, color="#222", size="12pt")
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", f"x [{unit_text(self.x_unit)}]")
        self.plot.setLabel("left", f"y [{unit_text(self.y_unit)}]")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        dx = (self.x_um[-1] - self.x_um[0]) / max(nx - 1, 1) if nx > 1 else 1.0
        dy = (self.y_um[-1] - self.y_um[0]) / max(ny - 1, 1) if ny > 1 else 1.0
        self.rect = QRectF(self.x_um[0] - dx / 2, self.y_um[0] - dy / 2, dx * nx, dy * ny)
        self.image.setImage(self.buffer, autoLevels=False, levels=(0.0, 1.0), rect=self.rect)
        # The frame's extent is known from its axes: set once. Auto-range would re-measure
        # the image's bounds on every update (and re-lay the axes out).
        self.plot.disableAutoRange()
        self.plot.setRange(rect=self.rect, padding=0.0)
        self.lut = pg.HistogramLUTItem(orientation="vertical")
        self.lut.setImageItem(self.image)
        colormap = self._colormap(view.colormap)
        # A map such as inferno has 256 stops; the colour bar's editor makes a graphics item
        # of each (50 ms of the Run click) and builds its table point by point in Python. The
        # bar gets the map sampled at 17 stops (the eye sees no difference); the image keeps
        # the full 256-entry table.
        stops = np.linspace(0.0, 1.0, 17)
        self.lut.gradient.setColorMap(pg.ColorMap(stops, colormap.map(stops)))
        self.lut.gradient.showTicks(False)
        self.image.setLookupTable(colormap.getLookupTable(0.0, 1.0, 256))
        # The histogram beside the colour bar is redrawn at most every HISTOGRAM_PERIOD_S
        # while lines stream (and when the frame is complete), not with every image update.
        self.image.sigImageChanged.disconnect(self.lut.imageChanged)
        self._histogram_at = -math.inf
        self.lut.axis.setLabel(unit_text(self.item.unit))
        self.graphics.addItem(self.lut, row=0, col=1)
        # Axes whose tick labels change while lines stream (the profile's and the colour
        # bar's) get a fixed width: an axis that widens re-lays out and repaints every plot.
        for axis in (self.plot.getAxis("left"), self.lut.axis):
            axis.setWidth(VALUE_AXIS_WIDTH_PX)
        self.auto_levels = True
        self.lut.sigLevelChangeFinished.connect(self._levels_set_by_user)
        self._setting_levels = False
        self._histogram_range = (0.0, 1.0)
        self.profile: pg.PlotItem | None = None
        self._profile_at = -math.inf
        self._profile_row = -1
        if view.line_profile:
            self.profile = _add_plot(self.graphics, row=1, col=0)
            _style_plot(self.profile)
            self.profile.setLabel("bottom", f"x [{unit_text(self.x_unit)}]")
            self.profile.setLabel("left", unit_text(self.item.unit))
            self.profile.setXLink(self.plot)
            self.profile.getAxis("left").setWidth(VALUE_AXIS_WIDTH_PX)
            # The title row is there from the start: one that appears with the first line
            # re-lays out (and repaints) the whole view.
            self.profile.setTitle("line profile", color="#222", size="10pt")
            self.profile_curve = self.profile.plot([], [], pen=pg.mkPen("#1f77b4", width=1.5))
            self.graphics.ci.layout.setRowStretchFactor(0, 3)
            self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

    def _axis_values(self, dim: int, size: int) -> tuple[np.ndarray, str]:
        names = self.item.axes
        if names and names[dim]:
            axis = self.description.axis(names[dim])
            if axis.values is not None and len(axis.values) == size:
                return np.asarray(axis.values, dtype=float), axis.unit
        return np.arange(size, dtype=float), "pixel"

    @staticmethod
    def _colormap(name: str) -> pg.ColorMap:
        try:
            return pg.colormap.get(name)
        except Exception:  # noqa: BLE001 - an unknown map name falls back, never fails a run
            return pg.colormap.get("viridis")

    def _levels_set_by_user(self) -> None:
        if not self._setting_levels:
            self.auto_levels = False

    # --- data ----------------------------------------------------------------------------------
    def feed(self, event: RunEvent) -> None:
        if not isinstance(event, ChunkWritten) or event.item != self.view.item:
            return
        index = tuple(event.index)
        if self.item.stacked:
            if not index:
                return
            frame, index = index[0], index[1:]
            if frame != self.frame:
                self.frame = frame
                self.buffer = np.zeros_like(self.buffer)
                self.measured[:] = False
        values = np.asarray(event.values, dtype=float)
        count = 1
        if index and values.ndim == self.buffer.ndim - len(index) + 1:
            # several consecutive lines in one chunk (one hardware read)
            count = len(values)
            index = index[:-1] + (slice(index[-1], index[-1] + count),)
        self.buffer[index] = values
        self.measured[index] = np.isfinite(values)
        if len(index) == 1:
            self.last_line = (index[0].stop - 1) if isinstance(index[0], slice) else index[0]
        self.dirty = True

    def load(self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray]) -> None:
        data = arrays.get(self.view.item)
        if data is None:
            return
        data = np.asarray(data, dtype=float)
        if self.item.stacked:
            if len(data) == 0:
                return
            self.frame, data = len(data) - 1, data[-1]
        self.measured = np.isfinite(data)
        self.buffer = np.where(self.measured, data, 0.0)
        self.last_line = len(data) - 1
        self.dirty = True

    # --- drawing -------------------------------------------------------------------------------
    def draw(self) -> None:
        if self.auto_levels and self.measured.any():
            values = self.buffer[self.measured]
            low, high = float(values.min()), float(values.max())
            self.levels = (low, high if high > low else low + 1.0)
        elif not self.auto_levels:
            self.levels = tuple(float(v) for v in self.lut.getLevels())
        complete = bool(self.measured.all())
        self._setting_levels = True
        self.image.setImage(self.buffer, autoLevels=False, levels=self.levels)
        now = time.perf_counter()
        if complete or now - self._histogram_at >= HISTOGRAM_PERIOD_S:
            self._histogram_at = now
            self.lut.imageChanged(autoLevel=False)
        else:
            self.lut.region.setRegion(self.levels)
        if self.auto_levels:
            self._set_histogram_range(complete)
        self._setting_levels = False
        if (self.cursor is not None or complete
                or now - self._profile_at >= PROFILE_PERIOD_S):
            self._draw_profile()

    def _set_histogram_range(self, exact: bool) -> None:
        """The colour bar's scale: while lines stream it grows in steps with headroom (a new
        scale is a new axis to lay out and paint), at the end it fits the levels."""
        low, high = self.levels
        shown_low, shown_high = self._histogram_range
        if exact:
            wanted = (low, high)
        elif low < shown_low or high > shown_high or high < shown_low + 0.5 * (
                shown_high - shown_low):
            wanted = (low, low + HISTOGRAM_HEADROOM * (high - low))
        else:
            return
        if wanted != self._histogram_range:
            self._histogram_range = wanted
            self.lut.setHistogramRange(*wanted)

    def _draw_profile(self) -> None:
        if self.profile is None:
            return
        self._profile_at = time.perf_counter()
        row = self.cursor[1] if self.cursor is not None else self.last_line
        self.profile_curve.setData(self.x_um, np.where(self.measured[row], self.buffer[row],
                                                       np.nan), connect="finite")
        if row != self._profile_row:  # a new title is a new layout of the whole plot
            self._profile_row = row
            self.profile.setTitle(f"line profile at y = {self.y_um[row]:.3g} "
                                  f"{unit_text(self.y_unit)}", color="#222", size="10pt")

    def _mouse_moved(self, position: QPointF) -> None:
        if not self.plot.sceneBoundingRect().contains(position):
            return
        point = self.plot.vb.mapSceneToView(position)
        self.show_cursor(point.x(), point.y())

    def show_cursor(self, x: float, y: float) -> None:
        """Read-out at (x, y) in axis units: position, pixel and value; profile through it."""
        ny, nx = self.buffer.shape
        ix = int(np.floor((x - self.rect.left()) / self.rect.width() * nx))
        iy = int(np.floor((y - self.rect.top()) / self.rect.height() * ny))
        if not (0 <= ix < nx and 0 <= iy < ny):
            return
        self.cursor = (ix, iy)
        value = self.buffer[iy, ix]
        self.readout.setText(
            f"x = {self.x_um[ix]:.3f} {unit_text(self.x_unit)}, y = {self.y_um[iy]:.3f} "
            f"{unit_text(self.y_unit)}  (pixel {ix}, {iy}):  "
            + (format_value(value, self.item.unit) if self.measured[iy, ix]
               else "not measured yet"))
        self._draw_profile()


class CurvesLiveView(LiveView):
    """Rows of a 1-D item (histograms, spectra) against its axis, the newest highlighted."""

    view: CurvesView

    def __init__(self, view: CurvesView, description: DataDescription,
                 parent: QWidget | None = None) -> None:
        super().__init__(view, description, parent)
        self.item = description.array(view.item)
        if len(self.item.shape) != 1:
            raise ValueError(f"curves view {view.title!r}: item {view.item!r} has record shape "
                             f"{self.item.shape}, not 1-D")
        n = int(self.item.shape[0])
        x_name = view.x_axis or (self.item.axes[-1] if self.item.axes else "")
        self.x, self.x_unit = np.arange(n, dtype=float), "bin"
        if x_name:
            axis = description.axis(x_name)
            if axis.values is not None and len(axis.values) == n:
                self.x, self.x_unit = np.asarray(axis.values, dtype=float), axis.unit
        self.stack_axis = (self.item.axes[0] if self.item.stacked and self.item.axes
                           else "")
        self.rows: dict[int, np.ndarray] = {}
        self.labels: dict[int, str] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = _plot_widget()
        layout.addWidget(self.graphics)
        self.plot = _add_plot(self.graphics)
        _style_plot(self.plot)
        self.plot.setTitle(view.title, color="#222", size="12pt")
        self.plot.setLogMode(y=view.y_log)
        self.plot.setLabel("bottom", axis_label(x_name or "index", self.x_unit))
        self.plot.setLabel("left", unit_text(self.item.unit))
        self.curves: list[pg.PlotDataItem] = []

    def feed(self, event: RunEvent) -> None:
        if not isinstance(event, ChunkWritten):
            return
        if event.item == self.view.item:
            k = event.index[0] if self.item.stacked and event.index else 0
            self.rows[k] = np.asarray(event.values, dtype=float).ravel()
            self.dirty = True
        elif self.stack_axis and event.item == self.stack_axis and event.index:
            unit = unit_text(self.description.axis(self.stack_axis).unit)
            self.labels[event.index[0]] = format_value(float(np.ravel(event.values)[0]), unit)
            self.dirty = True

    def load(self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray]) -> None:
        data = arrays.get(self.view.item)
        if data is None:
            return
        data = np.asarray(data, dtype=float)
        if self.item.stacked:
            self.rows = {k: row for k, row in enumerate(data)}
            if self.stack_axis in arrays:
                unit = unit_text(self.description.axis(self.stack_axis).unit)
                self.labels = {k: format_value(float(v), unit)
                               for k, v in enumerate(np.ravel(arrays[self.stack_axis]))}
        else:
            self.rows = {0: data}
        self.dirty = True

    def draw(self) -> None:
        keys = sorted(self.rows)
        if self.view.newest:
            keys = keys[-self.view.newest:]
        while len(self.curves) < len(keys):
            curve = self.plot.plot([], [])
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.curves.append(curve)
        for curve in self.curves[len(keys):]:
            curve.setData([], [])
        colours = pg.colormap.get("viridis")
        for i, (k, curve) in enumerate(zip(keys, self.curves)):
            newest = i == len(keys) - 1
            colour = (colours.map(i / max(len(keys) - 1, 1), mode="qcolor") if not newest
                      else pg.mkColor("#d62728"))
            if not newest:
                colour.setAlpha(120)
            y = self.rows[k]
            x = self.x[: len(y)]
            if self.view.y_log:
                y = np.where(y > 0, y, np.nan)
            curve.setData(x, y, pen=pg.mkPen(colour, width=2.5 if newest else 1))
        if keys:
            label = self.labels.get(keys[-1], f"#{keys[-1]}")
            self.plot.setTitle(f"{self.view.title} — newest: {label}", color="#222", size="12pt")


class ReadoutLiveView(LiveView):
    """Current values of named measurements and analysis scalars."""

    view: ReadoutView

    def __init__(self, view: ReadoutView, description: DataDescription,
                 parent: QWidget | None = None) -> None:
        super().__init__(view, description, parent)
        box = QGroupBox(view.title)
        form = QFormLayout(box)
        self.values: dict[str, tuple[Any, str]] = {}
        self.labels: dict[str, QLabel] = {}
        for name in view.values:
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.labels[name] = label
            form.addRow(plain_name(name) + ":", label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)

    def feed(self, event: RunEvent) -> None:
        if isinstance(event, MeasurementRecorded):
            self.feed_scalars({event.name: (event.value, event.unit)})
        elif isinstance(event, RunFinished):
            self.feed_scalars(event.scalars)

    def feed_scalars(self, scalars: Mapping[str, tuple[Any, str]]) -> None:
        for name, value in scalars.items():
            if name in self.labels:
                self.values[name] = value
                self.dirty = True

    def draw(self) -> None:
        for name, (value, unit) in self.values.items():
            self.labels[name].setText(format_value(value, unit))


_WIDGETS: dict[type, type[LiveView]] = {
    XYView: XYLiveView, ImageView: ImageLiveView, CurvesView: CurvesLiveView,
    ReadoutView: ReadoutLiveView,
}


def build_view(view: View, description: DataDescription) -> LiveView:
    """The widget for one declared view (any subclass of a known kind works)."""
    for kind, widget in _WIDGETS.items():
        if isinstance(view, kind):
            return widget(view, description)
    raise ValueError(f"no widget for view kind {view.kind}")


class ViewSet(QWidget):
    """Every view of one run: plots side by side, read-outs in a column on the right."""

    def __init__(self, views: Sequence[View], description: DataDescription,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.description = description
        self.widgets: list[LiveView] = []
        self.problems: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        layout.addWidget(splitter)
        plots = QSplitter(Qt.Orientation.Horizontal)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 0, 0)
        for view in views:
            try:
                widget = build_view(view, description)
            except (ValueError, KeyError) as exc:
                self.problems.append(f"view {view.title!r} not shown: {exc}")
                continue
            self.widgets.append(widget)
            if isinstance(widget, ReadoutLiveView):
                side_layout.addWidget(widget)
            else:
                plots.addWidget(widget)
        side_layout.addStretch(1)
        splitter.addWidget(plots)
        if side_layout.count() > 1:
            splitter.addWidget(side)
            splitter.setStretchFactor(0, 4)
            splitter.setStretchFactor(1, 1)

    @classmethod
    def for_run(cls, event: RunStarted) -> ViewSet:
        return cls.for_views(event.views, event.description, event.title)

    @classmethod
    def for_views(cls, views: Sequence[View], description: DataDescription,
                  title: str) -> ViewSet:
        """The declared views, or default ones for a procedure that declares none."""
        return cls(tuple(views) or _default_views(description, title), description)

    def feed(self, event: RunEvent) -> None:
        for widget in self.widgets:
            widget.feed(event)

    def load(self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray],
             scalars: Mapping[str, tuple[Any, str]]) -> None:
        for widget in self.widgets:
            widget.load(columns, arrays)
            widget.feed_scalars(scalars)

    def refresh(self) -> int:
        return sum(widget.refresh() for widget in self.widgets)

    def view_of(self, kind: type[LiveView]) -> LiveView | None:
        return next((w for w in self.widgets if isinstance(w, kind)), None)


def _default_views(description: DataDescription, title: str) -> tuple[View, ...]:
    """What to show for a run that declares no views: the table's signal against its axis,
    and every 2-D item as an image, every 1-D item as curves."""
    views: list[View] = []
    if description.columns and description.signal and description.plot_axes:
        views.append(XYView(title, x=description.plot_axes[0], y=description.signal))
    for item in description.arrays:
        if len(item.shape) == 2:
            views.append(ImageView(item.name, item=item.name))
        elif len(item.shape) == 1:
            views.append(CurvesView(item.name, item=item.name))
    return tuple(views)
