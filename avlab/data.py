"""What a run records, described once: the point table's columns and shaped array items.

One description serves the run file and the live event stream alike (the `RunStarted` event
carries it, the writer lays out the file from it), so a GUI that never opens the file and a
viewer that never saw the run agree on names, units, dtypes and shapes.

Three kinds of data:

* **Columns** — one scalar per recorded point (`ctx.record(...)`), stored as 1-D growable
  datasets in the NXdata group `/entry/data`. The S-curve is a point table.
* **Array items** — an n-D array with a shape known at the start of the run (fixed, or
  derived from the parameters such as pixels per line). Written piecewise: one scanned line,
  one frame or one histogram per call (`ctx.write(item, index, values)`), each write flushed.
  A *stacked* item grows along a new first axis (frames of a power series, one histogram per
  pump power). Each item is its own NXdata group, so a viewer plots it with its axes.
* **Axes** — the coordinates of an array item's dimensions: fixed values known at the start
  (pixel positions in µm) or, for the stack dimension, values written as the stack grows
  (the pump power of each frame).

Why shapes may name parameters: a confocal procedure declares its image once as
``ArrayItem("counts", "counts", shape=("pixels_y", "pixels_x"))``; `resolve()` turns that into
numbers from the run's parameter values, so one declaration serves every field of view.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["ArrayItem", "Axis", "Column", "DataDescription", "check_name"]


def check_name(kind: str, name: object) -> None:
    """HDF5 link names: non-empty, no '/', not '.' (they would create or escape groups)."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"invalid {kind} name {name!r}: must be a non-empty string without '/'")


def _check_dtype(owner: str, dtype: str) -> None:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{owner}: invalid dtype {dtype!r}") from exc
    if not (dt.kind in "biuf" or (dt.kind == "S" and dt.itemsize > 0)):
        raise ValueError(f"{owner}: dtype {dtype!r} is not supported; use a float, integer, "
                         "bool or fixed-length bytes ('S8'-style) dtype")


@dataclass(frozen=True)
class Column:
    """One scalar per recorded point, stored as a 1-D dataset under ``/entry/data``.

    ``dtype`` is a numpy dtype string: floating ("f8", "f4"), integer ("i8", "u1", ...),
    boolean ("?") or fixed-length bytes ("S8": UTF-8 text truncated to 8 bytes). Fixed types
    only, because SWMR appends need a fixed record size.
    """

    name: str
    unit: str
    dtype: str = "f8"
    description: str = ""

    def __post_init__(self) -> None:
        check_name("column", self.name)
        if not isinstance(self.unit, str):
            raise TypeError(f"unit of column {self.name!r} must be a str, got {self.unit!r}")
        _check_dtype(f"column {self.name!r}", self.dtype)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "dtype": self.dtype,
                "shape": (), "description": self.description}


@dataclass(frozen=True)
class Axis:
    """Coordinates of one dimension of array items.

    ``values`` are the fixed coordinates (e.g. pixel centres in µm), given when the run
    starts; ``None`` marks the axis of a stack, whose values are written one per stack entry
    as the stack grows (``ctx.write(axis_name, (k,), value)``).
    """

    name: str
    unit: str
    description: str = ""
    values: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_name("axis", self.name)
        if self.values is not None:
            object.__setattr__(self, "values", tuple(float(v) for v in self.values))

    @property
    def grows(self) -> bool:
        return self.values is None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "description": self.description,
                "length": None if self.values is None else len(self.values)}


@dataclass(frozen=True)
class ArrayItem:
    """An n-D array recorded piecewise during a run (an image, a stack, histograms).

    ``shape`` is the shape of one *record*: (ny, nx) for an image, (n_bins,) for a histogram;
    entries may be parameter names, replaced by the parameter's value in :meth:`resolve`.
    With ``stacked=True`` records accumulate along a new first dimension (frames, one
    histogram per pump power) that grows while the run goes.

    ``axes`` names one :class:`Axis` per stored dimension (stack dimension first), or "" for
    a dimension without coordinates. ``interpretation`` is the NeXus hint for viewers
    ("image", "spectrum", or "" for none).

    Storage chunks one innermost row (one scanned line, one histogram) per chunk, so every
    write of a row or more is whole chunks, and flushes after every write.
    """

    name: str
    unit: str
    shape: tuple[int | str, ...]
    dtype: str = "f8"
    description: str = ""
    stacked: bool = False
    axes: tuple[str, ...] = ()
    interpretation: str = ""

    def __post_init__(self) -> None:
        check_name("array item", self.name)
        if not isinstance(self.unit, str):
            raise TypeError(f"unit of array item {self.name!r} must be a str")
        _check_dtype(f"array item {self.name!r}", self.dtype)
        object.__setattr__(self, "shape", tuple(self.shape))
        object.__setattr__(self, "axes", tuple(self.axes))
        if not self.shape and not self.stacked:
            raise ValueError(f"array item {self.name!r}: a scalar item must be stacked "
                             "(use a Column for one scalar per point)")
        for n in self.shape:
            if isinstance(n, bool) or not isinstance(n, (numbers.Integral, str)):
                raise ValueError(f"array item {self.name!r}: shape entries are sizes or "
                                 f"parameter names, got {n!r}")
            if isinstance(n, numbers.Integral) and n < 1:
                raise ValueError(f"array item {self.name!r}: size {n} must be at least 1")
        if self.axes and len(self.axes) != self.ndim:
            raise ValueError(f"array item {self.name!r}: {len(self.axes)} axes for "
                             f"{self.ndim} stored dimensions")
        if self.interpretation not in ("", "image", "spectrum", "scalar"):
            raise ValueError(f"array item {self.name!r}: unknown interpretation "
                             f"{self.interpretation!r}")

    @property
    def ndim(self) -> int:
        """Dimensions of the stored dataset (the stack dimension included)."""
        return len(self.shape) + (1 if self.stacked else 0)

    @property
    def resolved(self) -> bool:
        return all(not isinstance(n, str) for n in self.shape)

    def resolve(self, parameters: Mapping[str, Any]) -> ArrayItem:
        """This item with parameter names in its shape replaced by their (integer) values."""
        sizes: list[int] = []
        for n in self.shape:
            if isinstance(n, str):
                if n not in parameters:
                    raise ValueError(f"array item {self.name!r}: shape names {n!r}, which is "
                                     "not a parameter")
                value = parameters[n]
                value = value[0] if isinstance(value, tuple) else value
                if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                    raise ValueError(f"array item {self.name!r}: parameter {n} = {value!r} "
                                     "is not a positive whole number")
                sizes.append(int(value))
            else:
                sizes.append(int(n))
        return replace(self, shape=tuple(sizes))

    def stored_shape(self) -> tuple[int, ...]:
        """Shape of the dataset when the run starts (0 along a stack dimension)."""
        self._need_resolved()
        return ((0,) if self.stacked else ()) + tuple(int(n) for n in self.shape)

    def max_shape(self) -> tuple[int | None, ...]:
        self._need_resolved()
        return ((None,) if self.stacked else ()) + tuple(int(n) for n in self.shape)

    def chunk_shape(self) -> tuple[int, ...]:
        """One innermost row per chunk: a line write is one whole-chunk write."""
        self._need_resolved()
        if not self.shape:  # a stacked scalar: many entries per chunk
            return (512,)
        return (1,) * (self.ndim - 1) + (int(self.shape[-1]),)

    def _need_resolved(self) -> None:
        if not self.resolved:
            raise ValueError(f"array item {self.name!r} has unresolved sizes {self.shape}; "
                             "call resolve(parameters) first")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "dtype": self.dtype,
                "shape": self.shape, "stacked": self.stacked, "axes": self.axes,
                "interpretation": self.interpretation, "description": self.description}


@dataclass(frozen=True)
class DataDescription:
    """Everything a run will record, resolved for one run's parameters.

    ``default`` names what a viewer should plot first: "data" (the point table) or the name
    of an array item.
    """

    columns: tuple[Column, ...] = ()
    arrays: tuple[ArrayItem, ...] = ()
    axes: tuple[Axis, ...] = ()
    measurements: Mapping[str, str] = field(default_factory=dict)
    signal: str = ""
    plot_axes: tuple[str, ...] = ()
    default: str = "data"

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "arrays", tuple(self.arrays))
        object.__setattr__(self, "axes", tuple(self.axes))
        object.__setattr__(self, "plot_axes", tuple(self.plot_axes))
        object.__setattr__(self, "measurements", dict(self.measurements))
        names: list[str] = [c.name for c in self.columns]
        names += [a.name for a in self.arrays] + [x.name for x in self.axes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"data names used twice: {duplicates}")
        axis_names = {x.name for x in self.axes}
        for item in self.arrays:
            for axis in item.axes:
                if axis and axis not in axis_names:
                    raise ValueError(f"array item {item.name!r} names axis {axis!r}, which is "
                                     "not declared")
            if item.stacked and item.axes and item.axes[0]:
                if not self.axis(item.axes[0]).grows:
                    raise ValueError(f"array item {item.name!r}: its stack axis "
                                     f"{item.axes[0]!r} must be a growing axis (values=None)")
            for dim, axis in enumerate(item.axes[1 if item.stacked else 0:]):
                if not axis:
                    continue
                values = self.axis(axis).values
                size = item.shape[dim]
                if values is None or (not isinstance(size, str) and len(values) != size):
                    raise ValueError(f"array item {item.name!r}: axis {axis!r} has "
                                     f"{'no fixed values' if values is None else len(values)} "
                                     f"for a dimension of size {size}")
        if self.columns:
            column_names = {c.name for c in self.columns}
            for name in (self.signal, *self.plot_axes):
                if name and name not in column_names:
                    raise ValueError(f"signal/axes name {name!r} is not a column")
        if self.default != "data" and self.default not in {a.name for a in self.arrays}:
            raise ValueError(f"default plot {self.default!r} is neither 'data' nor an array item")
        if self.default == "data" and not self.columns and self.arrays:
            object.__setattr__(self, "default", self.arrays[0].name)

    def axis(self, name: str) -> Axis:
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise KeyError(name)

    def array(self, name: str) -> ArrayItem:
        for item in self.arrays:
            if item.name == name:
                return item
        raise KeyError(name)

    def describe(self) -> dict[str, Any]:
        """A plain-data form (for events, logs and JSON)."""
        return {"columns": [c.describe() for c in self.columns],
                "arrays": [a.describe() for a in self.arrays],
                "axes": [x.describe() for x in self.axes],
                "measurements": dict(self.measurements),
                "signal": self.signal, "plot_axes": list(self.plot_axes),
                "default": self.default}


def as_tuple(values: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    """Axis values from any 1-D sequence (convenience for procedures)."""
    return tuple(float(v) for v in np.ravel(values))
