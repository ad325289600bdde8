"""Streaming, crash-safe, NeXus-flavoured HDF5 run files: one file per measurement run.

Why this layout
---------------
A photon-avalanche power sweep can run for hours and the interesting physics is often in
the part measured just before something went wrong, so every measured point must be on
disk as soon as it is taken, and a file must stay readable even if the acquisition process
is killed.  At the same time the file should be self-describing: someone opening it years
later in a generic viewer (silx, h5web, HDFView) should see a sensible default plot, the
unit of every number, the exact instrument identities and the lab configuration that
produced it.

Layout (``NX_class`` attributes follow NeXus so viewers find the default plot)::

    /                      NXroot   default="entry", creator, file_name, file_time, HDF5_Version
    /entry                 NXentry  default="data"
        start_time, end_time         ISO 8601 with timezone; end_time is "" while running
        program_name (@version)      "avlab"
        title, procedure             procedure name
        status                       "running" -> "completed" | "aborted" | "failed"
        status_message               why it ended (fixed length, truncated)
        config                       lab configuration TOML text (a dataset: attributes cap at 64 kB)
        data/        NXdata          one resizable 1-D dataset per column, @units, @long_name;
                                     @signal/@axes/@<axis>_indices name the default plot;
                                     wall_time (unix s) is added automatically
        parameters/  NXcollection    one scalar per procedure parameter, @units
        instrument/  NXinstrument    one NXcollection per role: driver, identity, resource
        sample/      NXsample        optional
        <item>/      NXdata          one group per array item (image, histogram stack, ...):
            <item>                   the signal, @units, @long_name, @interpretation ("image"),
                                     chunked one innermost row per chunk, NaN (floats) or 0
                                     where nothing was written; stacks grow along the first axis
            <axis>                   coordinates with @units (e.g. "um"); one dataset,
                                     hard-linked into every group that shares the axis
            @signal, @axes ("." for a dimension without coordinates), @<axis>_indices
        <results>/   NXprocess       added after the run by RunWriter.add_results()

``/entry@default`` names the first plot: "data" (the point table) or an array item's group.
Axis units follow the UDUNITS spelling NeXus asks for ("um", "ns", "W"): plain ASCII, so
every viewer shows them; readers such as nexusformat pass the attribute through as given.
The root also records the writer's host and pid (``writer_host``, ``writer_pid``) so
``avlab recover`` can refuse a file that is still being written (see avlab/recover.py).

Crash safety
------------
The file is created with ``libver="latest"`` and every dataset the run will ever touch
(including ``status`` and ``end_time``) is created up front; then the file is switched to
SWMR (single-writer/multiple-reader) mode.  From then on HDF5 keeps the file structurally
consistent after every flush, so:

* a reader in another process can follow a run live (``h5py.File(path, "r", swmr=True)``
  and ``Dataset.refresh()``);
* a writer killed with SIGKILL leaves a file holding every flushed point, with
  ``status == "running"``, which is how a crashed run is recognised afterwards.

A file whose writer died still carries HDF5's "open for writing" flag, so it opens only
with ``swmr=True`` (which :func:`read_run` and :func:`summarize` use).  Tools that open it
plainly fail with "file is already open for write"; ``h5clear -s FILE`` (HDF5 command-line
tools) clears the flag.

Appending is cheap: no attribute writes and no reopening per point, only a resize, a write
and (every ``flush_every`` points) a flush. Array writes (:meth:`RunWriter.write`) are whole
rows written as whole chunks, flushed after every call.

Reading
-------
:func:`read_run` loads the point table, parameters and results, and gives array items as
lazy :class:`ArrayHandle` objects (nothing is read until sliced), so opening a gigabyte stack
costs nothing; :func:`open_run` keeps the file open for many slices. Both first check the
file (:func:`check_file`) and refuse a truncated or corrupt one with
:class:`DamagedRunFileError` instead of letting HDF5's SWMR open retry for minutes.
"""

from __future__ import annotations

import datetime as _dt
import errno
import logging
import numbers
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from .data import ArrayItem, Axis, Column, DataDescription, check_name

__all__ = [
    "ArrayHandle",
    "ArrayItem",
    "Axis",
    "Column",
    "DamagedRunFileError",
    "DataDescription",
    "NotARunFileError",
    "RunData",
    "RunFileExistsError",
    "RunWriter",
    "check_file",
    "open_run",
    "read_run",
    "run_entries",
    "summarize",
]

_log = logging.getLogger(__name__)

STATUS_RUNNING = "running"
FINAL_STATUSES = frozenset({"completed", "aborted", "failed"})

#: Byte lengths of the fixed-length string fields.  They are fixed (not variable-length)
#: because they are overwritten in place while the file is in SWMR mode.
STATUS_LEN = 16
MESSAGE_LEN = 512
TIME_LEN = 64

#: Rows per chunk of each column.  Small enough that rewriting the partially filled
#: last chunk on every flush stays cheap (4 kB for f8), large enough to keep the chunk
#: index small for runs of 10^5-10^6 points.
CHUNK_ROWS = 512

#: Name of the column filled automatically with the unix time of each append().
WALL_TIME = "wall_time"

# Children of /entry written by RunWriter; add_results() may not use these names.
_RESERVED_ENTRY_NAMES = frozenset(
    {
        "start_time",
        "end_time",
        "program_name",
        "title",
        "procedure",
        "status",
        "status_message",
        "config",
        "data",
        "parameters",
        "instrument",
        "sample",
    }
)

_STR_DTYPE = h5py.string_dtype("utf-8")  # variable length, for text written once


# --------------------------------------------------------------------------- errors


class RunFileExistsError(FileExistsError):
    """Raised when the run file already exists: run files are never overwritten.

    Measured data is irreplaceable, so a name clash is an error rather than a silent
    overwrite; the existing file is left exactly as it was.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.message = f"run file {os.fspath(path)} already exists; nothing was overwritten or changed"
        super().__init__(errno.EEXIST, self.message, os.fspath(path))

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[RunFileExistsError], tuple[str]]:
        return (type(self), (self.filename,))  # picklable across processes


class NotARunFileError(ValueError):
    """Raised by :func:`read_run` for an HDF5 file that was not written by avlab."""


class DamagedRunFileError(ValueError):
    """The file is cut short, corrupt or not HDF5 at all, so it is refused before HDF5 opens it.

    Why check first: HDF5's SWMR open retries a failing metadata read for minutes (and does
    not return to Python for Ctrl-C meanwhile), so a truncated copy would hang `avlab
    inspect`. The message says what is wrong and what to do.
    """


# --------------------------------------------------------------------------- columns

# Column (and the shaped items) live in avlab.data; re-exported here for existing callers.
_check_name = check_name


def _fill_value(dt: np.dtype) -> Any:
    """Value stored for a column missing from a row: NaN for floats, 0/False/b"" otherwise."""
    if dt.kind == "f":
        return np.nan
    if dt.kind == "S":
        return b""
    if dt.kind == "b":
        return False
    return 0


def _fit(text: str | bytes, nbytes: int, marker: str = "") -> bytes:
    """Encode as UTF-8 and cut to ``nbytes`` without splitting a character.

    Fixed-length fields must never make a run crash because some text was too long; a
    truncated value is better than a lost point.  ``marker`` (e.g. "...") is appended to
    truncated text so a reader can tell it was cut.
    """
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    if len(raw) <= nbytes:
        return raw
    mark = marker.encode("utf-8")
    keep = max(nbytes - len(mark), 0)
    cut = raw[:keep].decode("utf-8", "ignore").encode("utf-8")
    return (cut + mark)[:nbytes]


class _ColumnSpec:
    """A column plus its on-disk dtype and the rule that converts one row value."""

    __slots__ = ("name", "unit", "description", "np_dtype", "h5_dtype", "fill")

    def __init__(self, column: Column) -> None:
        self.name = column.name
        self.unit = column.unit
        self.description = column.description
        self.np_dtype = np.dtype(column.dtype)
        if self.np_dtype.kind == "S":
            # Flag the fixed-length text as UTF-8 so viewers decode it correctly.
            self.h5_dtype = h5py.string_dtype("utf-8", self.np_dtype.itemsize)
        else:
            self.h5_dtype = self.np_dtype
        self.fill = _fill_value(self.np_dtype)

    def convert(self, value: object) -> Any:
        """Validate one value for this column; raises ValueError with the column name."""
        if value is None:
            return self.fill
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        kind = self.np_dtype.kind
        if kind == "S":
            if isinstance(value, (str, bytes)):
                return _fit(value, self.np_dtype.itemsize)
            raise ValueError(f"column {self.name!r} holds text; got {type(value).__name__} {value!r}")
        if kind == "b":
            if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
                return bool(value)
            raise ValueError(f"column {self.name!r} holds booleans; got {type(value).__name__} {value!r}")
        if isinstance(value, np.bool_):
            value = bool(value)
        if isinstance(value, (str, bytes)) or not isinstance(value, numbers.Real):
            raise ValueError(f"column {self.name!r} holds numbers; got {type(value).__name__} {value!r}")
        if kind == "f":
            return float(value)
        # integer column
        if not isinstance(value, numbers.Integral):
            as_float = float(value)
            if not as_float.is_integer():
                raise ValueError(f"column {self.name!r} holds integers; got non-integral {value!r}")
            as_int = int(as_float)
        else:
            as_int = int(value)
        info = np.iinfo(self.np_dtype)
        if not info.min <= as_int <= info.max:
            raise ValueError(
                f"column {self.name!r} ({self.np_dtype}) cannot hold {value!r}: "
                f"range is {info.min}..{info.max}"
            )
        return as_int


# --------------------------------------------------------------------------- values


def _is_value_unit(item: object) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str)


def _write_value(group: h5py.Group, name: str, value: object, unit: str | None) -> h5py.Dataset:
    """Store a parameter/result/sample value as a dataset, choosing a faithful HDF5 type.

    str -> UTF-8 text; bool -> HDF5 boolean enum; int -> int64; float -> float64; None ->
    an HDF5 "empty" dataset; sequences and arrays -> arrays (numeric or UTF-8 text);
    ``pathlib.Path`` -> text.  ``unit`` becomes the ``units`` attribute (omitted if None).
    """
    where = f"{group.name}/{name}"
    if isinstance(value, Path):
        value = str(value)
    if value is None:
        data: Any = h5py.Empty("f8")
        ds = group.create_dataset(name, data=data)
    elif isinstance(value, str):
        ds = group.create_dataset(name, data=value, dtype=_STR_DTYPE)
    elif isinstance(value, (bool, np.bool_)):
        ds = group.create_dataset(name, data=np.bool_(value))
    elif isinstance(value, np.generic) and value.dtype.kind in "iuf":
        ds = group.create_dataset(name, data=value)  # keep the numpy type the caller chose
    elif isinstance(value, numbers.Integral):
        try:
            ds = group.create_dataset(name, data=np.int64(value))
        except OverflowError as exc:
            raise ValueError(f"{where}: integer {value!r} does not fit in int64") from exc
    elif isinstance(value, numbers.Real):
        ds = group.create_dataset(name, data=np.float64(value))
    elif isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            ds = group.create_dataset(name, data=arr)
        elif arr.dtype.kind == "U" or (arr.dtype.kind == "O" and all(isinstance(x, str) for x in arr.flat)):
            ds = group.create_dataset(name, data=arr.astype(object), dtype=_STR_DTYPE)
        else:
            raise TypeError(f"{where}: cannot store an array of dtype {arr.dtype}")
    else:
        raise TypeError(
            f"{where}: cannot store {type(value).__name__} {value!r}; use str, bool, int, float, "
            "None or a list/array of numbers or strings"
        )
    if unit is not None:
        ds.attrs["units"] = unit
    return ds


def _read_value(ds: h5py.Dataset) -> Any:
    """Inverse of :func:`_write_value`: python scalars, str, None, or numpy arrays."""
    raw = ds[()]
    if isinstance(raw, h5py.Empty):
        return None
    info = h5py.check_string_dtype(ds.dtype)
    if info is not None:
        encoding = info.encoding or "utf-8"
        if ds.shape == ():
            return raw.decode(encoding, "replace") if isinstance(raw, bytes) else str(raw)
        return [x.decode(encoding, "replace") if isinstance(x, bytes) else str(x) for x in np.ravel(raw)]
    if isinstance(raw, np.ndarray) and raw.shape != ():
        return raw
    return raw.item() if hasattr(raw, "item") else raw


def _read_text(group: h5py.Group, name: str, default: str = "") -> str:
    if name not in group:
        return default
    value = _read_value(group[name])
    return value if isinstance(value, str) else str(value)


def _now_iso() -> str:
    """Local time with explicit UTC offset: unambiguous and still readable by the lab."""
    return _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


def _create_fixed_text(group: h5py.Group, name: str, text: str, nbytes: int) -> h5py.Dataset:
    dtype = h5py.string_dtype("utf-8", nbytes)
    return group.create_dataset(name, data=np.array(_fit(text, nbytes), dtype=dtype), dtype=dtype)


def _set_fixed_text(ds: h5py.Dataset, text: str, marker: str = "") -> None:
    ds[()] = np.array(_fit(text, ds.dtype.itemsize, marker), dtype=ds.dtype)


# --------------------------------------------------------------------------- array items

#: Entries per chunk of a growing axis or a stack of scalars (written one value at a time).
AXIS_CHUNK = 512


def _h5_dtype(np_dtype: np.dtype) -> Any:
    return h5py.string_dtype("utf-8", np_dtype.itemsize) if np_dtype.kind == "S" else np_dtype


class _ArrayLayout:
    """The array items and axes of a run, resolved and checked before the file exists."""

    def __init__(self, items: list[ArrayItem], axes: dict[str, Axis], default: str) -> None:
        self.items = items
        self.axes = axes
        self.default = default

    def create(self, entry: h5py.Group) -> dict[str, _WriteTarget]:
        """One NXdata group per item with its signal and axis datasets (pre-SWMR)."""
        targets: dict[str, _WriteTarget] = {}
        axis_datasets: dict[str, h5py.Dataset] = {}
        for item in self.items:
            g = entry.create_group(item.name, track_order=True)
            g.attrs["NX_class"] = "NXdata"
            g.attrs["signal"] = item.name
            names = item.axes or ("",) * item.ndim
            g.attrs["axes"] = np.array([n or "." for n in names], dtype=_STR_DTYPE)
            for dim, axis_name in enumerate(names):
                if axis_name:
                    g.attrs[f"{axis_name}_indices"] = np.int64(dim)
            np_dtype = np.dtype(item.dtype)
            h5_dtype = _h5_dtype(np_dtype)
            ds = g.create_dataset(
                item.name, shape=item.stored_shape(), maxshape=item.max_shape(),
                chunks=item.chunk_shape(), dtype=h5_dtype,
                fillvalue=np.array(_fill_value(np_dtype), dtype=h5_dtype))  # NaN: unwritten shows
            ds.attrs["units"] = item.unit
            ds.attrs["long_name"] = f"{item.name} ({item.unit})" if item.unit else item.name
            if item.interpretation:
                ds.attrs["interpretation"] = item.interpretation
            if item.description:
                ds.attrs["description"] = item.description
            ds.attrs["avlab_stacked"] = np.bool_(item.stacked)
            targets[item.name] = _WriteTarget(f"array item {item.name!r}", ds, item.stacked,
                                              row_chunks=bool(item.shape))
            for axis_name in names:
                if not axis_name:
                    continue
                if axis_name in axis_datasets:  # shared by several items: one dataset
                    g[axis_name] = axis_datasets[axis_name]
                    continue
                axis = self.axes[axis_name]
                if axis.grows:
                    ads = g.create_dataset(axis_name, shape=(0,), maxshape=(None,),
                                           chunks=(AXIS_CHUNK,), dtype="f8", fillvalue=np.nan)
                    targets[axis_name] = _WriteTarget(f"axis {axis_name!r}", ads, True,
                                                      row_chunks=False)
                else:
                    ads = g.create_dataset(axis_name, data=np.asarray(axis.values, dtype="f8"))
                ads.attrs["units"] = axis.unit
                ads.attrs["long_name"] = f"{axis_name} ({axis.unit})" if axis.unit else axis_name
                if axis.description:
                    ads.attrs["description"] = axis.description
                axis_datasets[axis_name] = ads
        return targets


def _plan_arrays(columns: Sequence[Column], arrays: Sequence[ArrayItem],
                 array_axes: Sequence[Axis], default: str,
                 parameters: Mapping[str, tuple[object, str]]) -> _ArrayLayout:
    """Check array items and axes together (names, sizes, default plot); resolve sizes."""
    for obj, kind in [(a, ArrayItem) for a in arrays] + [(x, Axis) for x in array_axes]:
        if not isinstance(obj, kind):
            raise TypeError(f"expected {kind.__name__} instances, got {obj!r}")
    values = {name: value for name, (value, _unit) in parameters.items()} \
        if all(_is_value_unit(v) for v in parameters.values()) else {}
    items = [a if a.resolved else a.resolve(values) for a in arrays]
    desc = DataDescription(columns=tuple(columns), arrays=tuple(items), axes=tuple(array_axes),
                           default=default)
    axes = {x.name: x for x in desc.axes}
    used: set[str] = set()
    for item in desc.arrays:
        if item.name in _RESERVED_ENTRY_NAMES or item.name in ("measurements", WALL_TIME):
            raise ValueError(f"array item name {item.name!r} is reserved by the run file layout")
        named = [a for a in item.axes if a]
        if len(set(named)) != len(named):
            raise ValueError(f"array item {item.name!r} names an axis twice; give each "
                             "dimension its own axis")
        for dim, axis_name in enumerate(item.axes):
            if not axis_name:
                continue
            used.add(axis_name)
            axis = axes[axis_name]
            if item.stacked and dim == 0:
                continue
            size = item.shape[dim - (1 if item.stacked else 0)]
            if axis.values is None or len(axis.values) != size:
                raise ValueError(f"array item {item.name!r}: axis {axis_name!r} has "
                                 f"{'no fixed values' if axis.values is None else len(axis.values)}"
                                 f" for a dimension of size {size}")
            if axis.grows:
                raise ValueError(f"axis {axis_name!r} grows, so it can only be a stack axis")
    unused = sorted(set(axes) - used)
    if unused:
        raise ValueError(f"axes {unused} belong to no array item; name them in an item's axes")
    return _ArrayLayout(list(desc.arrays), axes, desc.default)


class _WriteTarget:
    """One dataset that `RunWriter.write` fills: an array item or a growing axis.

    Why direct chunk writes: a row-chunked item ("one innermost row per chunk") is written a
    whole row at a time, so each row goes to disk as one `write_direct_chunk` call with no
    dataspace selection, type conversion path or chunk cache involved.
    """

    __slots__ = ("what", "ds", "stacked", "row_chunks", "shape", "np_dtype", "h5_dtype",
                 "row_len")

    def __init__(self, what: str, ds: h5py.Dataset, stacked: bool, *, row_chunks: bool) -> None:
        self.what = what
        self.ds = ds
        self.stacked = stacked
        self.row_chunks = row_chunks
        self.shape = list(ds.shape)
        self.np_dtype = np.dtype(ds.dtype.str) if ds.dtype.kind == "S" else ds.dtype
        self.h5_dtype = ds.dtype
        self.row_len = self.shape[-1] if self.shape else 1

    def _fail(self, text: str) -> ValueError:
        return ValueError(f"{self.what} ({tuple(self.shape)} {self.np_dtype}): {text}")

    def _convert(self, values: object) -> np.ndarray:
        arr = np.asarray(values)
        target = self.np_dtype
        if target.kind == "S":
            if arr.dtype.kind not in "SU":
                raise self._fail(f"holds text; got {arr.dtype} values")
            return np.char.encode(arr, "utf-8").astype(target) if arr.dtype.kind == "U" \
                else arr.astype(target)
        if arr.dtype.kind not in "biuf":
            raise self._fail(f"holds numbers; got {arr.dtype} values")
        integral = arr.dtype.kind in "biu" and target.kind in "iu"
        if not integral and not np.can_cast(arr.dtype, target, "same_kind"):
            raise self._fail(f"cannot store {arr.dtype} values without losing their "
                             f"fractional part")
        if target.kind in "iu" and arr.dtype != target and arr.size:
            info = np.iinfo(target)
            if arr.min() < info.min or arr.max() > info.max:
                raise self._fail(f"values outside {info.min}..{info.max}")
        return arr

    def write(self, index: tuple[int, ...], values: object) -> None:
        if not isinstance(index, tuple):
            index = tuple(index)  # type: ignore[arg-type]
        nd = len(self.shape)
        k = len(index)
        for i in index:
            if isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 0:
                raise self._fail(f"index {index!r} must be whole numbers >= 0")
        if k > nd or (k == 0 and self.stacked):
            raise self._fail(f"index {index!r} needs 1 to {nd} entries")
        arr = self._convert(values)
        tail = tuple(self.shape[k:])
        if arr.shape == tail:
            count = 0  # one block at `index`
        elif k >= 1 and arr.ndim == len(tail) + 1 and arr.shape[1:] == tail and arr.shape[0]:
            count = arr.shape[0]  # `count` consecutive entries from index[-1] on
        else:
            raise self._fail(f"values of shape {arr.shape} do not fit at index {index}: "
                             f"expected shape {tail}"
                             + (f", or (n,) + {tail} for n consecutive entries" if k else ""))
        last = k - 1
        for dim in range(k):
            stop = index[dim] + (count if dim == last and count else 1)
            if dim == 0 and self.stacked:
                continue
            if stop > self.shape[dim]:
                raise self._fail(f"index {index} (+{count} entries) is outside the shape")
        if self.stacked:
            stop = index[0] + (count if last == 0 and count else 1)
            if stop > self.shape[0]:
                self.shape[0] = stop
                self.ds.id.set_extent(tuple(self.shape))
        if self.row_chunks and k < nd:
            rows = np.ascontiguousarray(arr, dtype=self.h5_dtype).reshape(-1, self.row_len)
            lead = list(index) + [0] * (nd - 1 - k)  # origin of the first row, last dim excluded
            sizes = ([1] * (k - 1) + [count or 1] if k else []) + list(tail)
            write = self.ds.id.write_direct_chunk
            if len(rows) == 1:
                write((*lead, 0), rows[0])
            else:
                for n, offsets in enumerate(np.ndindex(*sizes[:-1])):
                    write((*(a + b for a, b in zip(lead, offsets)), 0), rows[n])
        else:
            if count:
                sel = tuple(index[:-1]) + (slice(index[-1], index[-1] + count),)
            else:
                sel = tuple(index) if k else ()
            self.ds[sel if sel else ...] = arr


# --------------------------------------------------------------------------- writer


class RunWriter:
    """Writes one measurement run to a new HDF5 file, point by point, surviving crashes.

    Typical use::

        with RunWriter(path, procedure="power_sweep", columns=cols, signal="rate_cps",
                       axes="intensity_kW_cm2", parameters=params, config_text=toml_text,
                       instruments=ids, software_version=avlab.__version__) as run:
            for point in sweep():
                run.append(point)
            run.finish("completed")
        run.add_results("fit", {"nonlinearity": (26.3, "")})

    Leaving the ``with`` block without calling :meth:`finish` finishes the run anyway:
    normally -> "completed", KeyboardInterrupt -> "aborted", any other exception ->
    "failed" with ``repr(exc)`` as message (the exception still propagates).

    Parameters are validated before the file is created, so a bad argument never leaves a
    stray file; if creating the layout fails part-way the half-written file is removed.
    ``flush_every=k`` buffers up to ``k`` points in memory between flushes: faster for very
    fast acquisitions, but a crash may lose up to ``k - 1`` points.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        procedure: str,
        columns: Sequence[Column] = (),
        signal: str = "",
        axes: str | Sequence[str] = (),
        parameters: Mapping[str, tuple[object, str]],
        config_text: str,
        instruments: Mapping[str, Mapping[str, str]],
        software_version: str,
        sample: Mapping[str, object] | None = None,
        measurements: Mapping[str, str] | None = None,
        flush_every: int = 1,
        description: DataDescription | None = None,
        arrays: Sequence[ArrayItem] = (),
        array_axes: Sequence[Axis] = (),
        default: str = "data",
        reserved: bool = False,
        entry: str = "entry",
        add_to_file: bool = False,
    ) -> None:
        self._path = Path(path)
        _check_name("entry", entry)
        if add_to_file and (reserved or entry == "entry"):
            raise ValueError("add_to_file adds a further entry (not 'entry') to an existing "
                             "run file; it cannot be combined with reserved=")
        self._entry_name = entry
        if description is not None:
            if columns or signal or axes or arrays or array_axes or default != "data":
                raise ValueError("give either description= or columns/signal/axes/arrays/"
                                 "array_axes/default, not both")
            columns, signal, axes = description.columns, description.signal, description.plot_axes
            arrays, array_axes, default = description.arrays, description.axes, description.default
            measurements = {**description.measurements, **(measurements or {})}
        self._measurement_units = dict(measurements or {})
        for mname in self._measurement_units:
            _check_name("measurement", mname)
        self._finished = False
        self._n_written = 0
        self._pending: list[tuple[Any, ...]] = []

        # ---- validate everything before touching the filesystem
        if not isinstance(procedure, str) or not procedure:
            raise ValueError("procedure must be a non-empty string")
        if not isinstance(flush_every, int) or isinstance(flush_every, bool) or flush_every < 1:
            raise ValueError(f"flush_every must be an integer >= 1, got {flush_every!r}")
        self._flush_every = flush_every
        columns = list(columns)
        if not columns and not arrays:
            raise ValueError("a run needs at least one column or array item")
        for col in columns:
            if not isinstance(col, Column):
                raise TypeError(f"columns must be Column instances, got {col!r}")
        names = [c.name for c in columns]
        if WALL_TIME in names:
            raise ValueError(f"column name {WALL_TIME!r} is reserved: it is filled automatically")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column names: {duplicates}")
        self._specs = [_ColumnSpec(c) for c in columns]
        wall = Column(WALL_TIME, "s", "f8", "unix time of the point (seconds since 1970-01-01 UTC)")
        self._specs.append(_ColumnSpec(wall))
        self._index = {s.name: i for i, s in enumerate(self._specs)}
        axes_list = [axes] if isinstance(axes, str) else list(axes)
        if columns:
            if not axes_list:
                raise ValueError("axes must name at least one column")
            for name in [signal, *axes_list]:
                if name not in self._index:
                    raise ValueError(f"signal/axes name {name!r} is not a column; columns are {list(self._index)}")
        elif signal or axes_list:
            raise ValueError("signal/axes name the point table's columns, and there are none")
        self._array_layout = _plan_arrays(columns, arrays, array_axes, default, parameters)
        self._default = self._array_layout.default
        for pname, item in parameters.items():
            _check_name("parameter", pname)
            if not _is_value_unit(item):
                raise ValueError(
                    f"parameter {pname!r} must be a (value, unit) tuple with a str unit, got {item!r}"
                )
        for role, info in instruments.items():
            _check_name("instrument role", role)
            if not isinstance(info, Mapping):
                raise TypeError(f"instrument {role!r} must map field -> text, got {info!r}")
            for key in info:
                _check_name(f"instrument {role!r} field", key)
        for key in (sample or {}):
            _check_name("sample field", key)
        if not isinstance(config_text, str):
            raise TypeError("config_text must be the TOML text (str)")

        # ---- create: never overwrite
        if add_to_file:
            # A further run in an existing run file (a series stores each inner run as its
            # own NXentry): the file and its other entries stay as they are.
            if not self._path.is_file():
                raise ValueError(f"run file {self._path} does not exist; cannot add entry {entry!r}")
            self._file = h5py.File(self._path, "r+", libver="latest")
            if not _is_run_file(self._file) or entry in self._file:
                self._file.close()
                raise ValueError(f"{self._path}: cannot add entry {entry!r} (not an avlab run "
                                 "file, or the entry exists already)")
        elif reserved:
            # Reserved by avlab.outputs.reserve_outputs (an empty file created with
            # O_EXCL): take it over, but only while it is still empty.
            try:
                st = os.stat(self._path)
            except FileNotFoundError:
                raise ValueError(f"reserved run file {self._path} does not exist") from None
            if st.st_size != 0 or not os.path.isfile(self._path):
                raise RunFileExistsError(self._path)
            self._file = h5py.File(self._path, "w", libver="latest")
        else:
            if os.path.lexists(self._path):
                raise RunFileExistsError(self._path)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._file = h5py.File(self._path, "x", libver="latest")
            except FileExistsError as exc:  # created by someone else since the check above
                raise RunFileExistsError(self._path) from exc

        try:
            self._build_layout(
                procedure=procedure,
                signal=signal,
                axes=axes_list,
                parameters=parameters,
                config_text=config_text,
                instruments=instruments,
                software_version=software_version,
                sample=sample,
            )
            # From here on no dataset or attribute can be created, only written/resized.
            self._file.swmr_mode = True
            self._file.flush()
        except BaseException:
            if add_to_file:  # the file holds other runs: remove only our half-built entry
                if entry in self._file:
                    del self._file[entry]
                self._file.close()
                raise
            self._file.close()
            self._path.unlink(missing_ok=True)  # ours (mode "x"), and not a valid run
            raise

    def _build_layout(
        self,
        *,
        procedure: str,
        signal: str,
        axes: list[str],
        parameters: Mapping[str, tuple[object, str]],
        config_text: str,
        instruments: Mapping[str, Mapping[str, str]],
        software_version: str,
        sample: Mapping[str, object] | None,
    ) -> None:
        """Create every group, dataset and attribute the run will ever need (pre-SWMR)."""
        f = self._file
        start = _now_iso()
        if self._entry_name != "entry":  # a further run in an existing file: root is set
            self._build_entry(procedure=procedure, signal=signal, axes=axes,
                              parameters=parameters, config_text=config_text,
                              instruments=instruments, software_version=software_version,
                              sample=sample, start=start)
            return
        f.attrs["NX_class"] = "NXroot"
        f.attrs["default"] = "entry"
        f.attrs["creator"] = f"avlab {software_version}"
        f.attrs["HDF5_Version"] = h5py.version.hdf5_version
        f.attrs["h5py_version"] = h5py.version.version
        f.attrs["file_name"] = str(self._path.resolve())
        f.attrs["file_time"] = start
        from .recover import writer_identity

        for key, value in writer_identity().items():  # lets `avlab recover` spot a live writer
            f.attrs[key] = value
        self._build_entry(procedure=procedure, signal=signal, axes=axes, parameters=parameters,
                          config_text=config_text, instruments=instruments,
                          software_version=software_version, sample=sample, start=start)

    def _build_entry(self, *, procedure: str, signal: str, axes: list[str],
                     parameters: Mapping[str, tuple[object, str]], config_text: str,
                     instruments: Mapping[str, Mapping[str, str]], software_version: str,
                     sample: Mapping[str, object] | None, start: str) -> None:
        """The NXentry of this run, with every dataset it will ever need (pre-SWMR)."""
        f = self._file
        entry = f.create_group(self._entry_name, track_order=True)
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = self._default
        entry.create_dataset("title", data=procedure, dtype=_STR_DTYPE)
        entry.create_dataset("procedure", data=procedure, dtype=_STR_DTYPE)
        _create_fixed_text(entry, "start_time", start, TIME_LEN)
        self._end_time = _create_fixed_text(entry, "end_time", "", TIME_LEN)
        program = entry.create_dataset("program_name", data="avlab", dtype=_STR_DTYPE)
        program.attrs["version"] = software_version
        self._status = _create_fixed_text(entry, "status", STATUS_RUNNING, STATUS_LEN)
        self._status_message = _create_fixed_text(entry, "status_message", "", MESSAGE_LEN)

        data = entry.create_group("data", track_order=True)
        data.attrs["NX_class"] = "NXdata"
        if signal:  # a run of array items only has no point-table plot
            data.attrs["signal"] = signal
            # NeXus: @axes has one entry per dimension of the signal, which is 1-D here, so it
            # names the primary axis; further axes are declared by <name>_indices alone.
            data.attrs["axes"] = axes[0]
            for axis in axes:
                data.attrs[f"{axis}_indices"] = np.int64(0)
            data.attrs["avlab_axes"] = np.array(axes, dtype=_STR_DTYPE)
        self._datasets: list[h5py.Dataset] = []
        for spec in self._specs:
            ds = data.create_dataset(
                spec.name,
                shape=(0,),
                maxshape=(None,),
                chunks=(CHUNK_ROWS,),
                dtype=spec.h5_dtype,
                fillvalue=np.array(spec.fill, dtype=spec.h5_dtype),
            )
            ds.attrs["units"] = spec.unit
            ds.attrs["long_name"] = f"{spec.name} ({spec.unit})" if spec.unit else spec.name
            if spec.description:
                ds.attrs["description"] = spec.description
            self._datasets.append(ds)
        # In-memory copy of each column's current chunk (see _write_pending).
        self._chunk_buffers = [np.full(CHUNK_ROWS, spec.fill, dtype=spec.h5_dtype)
                               for spec in self._specs]
        self._chunk_index = 0

        self._targets = self._array_layout.create(entry)

        params = entry.create_group("parameters", track_order=True)
        params.attrs["NX_class"] = "NXcollection"
        for name, (value, unit) in parameters.items():
            _write_value(params, name, value, unit)

        inst = entry.create_group("instrument", track_order=True)
        inst.attrs["NX_class"] = "NXinstrument"
        for role, info in instruments.items():
            g = inst.create_group(role, track_order=True)
            g.attrs["NX_class"] = "NXcollection"
            for key, text in info.items():
                g.create_dataset(key, data=str(text), dtype=_STR_DTYPE)

        if sample:
            sg = entry.create_group("sample", track_order=True)
            sg.attrs["NX_class"] = "NXsample"
            for name, item in sample.items():
                # (value, "unit") tuples carry a unit; anything else is stored as is.
                if _is_value_unit(item):
                    _write_value(sg, name, item[0], item[1])  # type: ignore[index]
                else:
                    _write_value(sg, name, item, None)

        cfg = entry.create_dataset("config", data=config_text, dtype=_STR_DTYPE)
        cfg.attrs["mime_type"] = "application/toml"

        # Scalars measured during the run (e.g. a dark count rate) need their datasets now:
        # SWMR forbids creating them later. NaN until set_measurement() writes them.
        self._measurements: dict[str, h5py.Dataset] = {}
        if self._measurement_units:
            mg = entry.create_group("measurements", track_order=True)
            mg.attrs["NX_class"] = "NXprocess"
            for name, unit in self._measurement_units.items():
                ds = mg.create_dataset(name, data=np.nan, dtype="f8")
                ds.attrs["units"] = unit
                self._measurements[name] = ds

    # ---- properties

    @property
    def path(self) -> Path:
        """Where the run is written."""
        return self._path

    @property
    def n_points(self) -> int:
        """Points appended so far (including any not yet flushed when ``flush_every > 1``)."""
        return self._n_written + len(self._pending)

    # ---- streaming

    def append(self, row: Mapping[str, object]) -> None:
        """Record one measured point.

        Columns missing from ``row`` (or given as None) are stored as NaN for floats and
        0 / False / b"" otherwise.  A key that is not a column, or a value the column cannot
        hold, raises ValueError before anything is written, so the file stays valid.
        ``wall_time`` is set here to the current unix time.
        """
        self._pending.append(self._convert_row(row))
        if len(self._pending) >= self._flush_every:
            self.flush()

    def append_rows(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Record several points (as :meth:`append` each) with one flush at the end: for rows
        measured earlier and stored together. Every row is checked before any is buffered."""
        converted = [self._convert_row(row) for row in rows]
        self._pending.extend(converted)
        self.flush()

    def _convert_row(self, row: Mapping[str, object]) -> tuple[object, ...]:
        """The row as one value per column (checked), with the wall time of now."""
        if self._finished:
            raise RuntimeError(f"run {self._path} is already finished; cannot append")
        unknown = [k for k in row if k not in self._index or k == WALL_TIME]
        if unknown:
            raise ValueError(
                f"unknown column(s) {unknown} in row; columns are {[s.name for s in self._specs[:-1]]}"
                + (f" ({WALL_TIME!r} is filled automatically)" if WALL_TIME in unknown else "")
            )
        values = [spec.fill for spec in self._specs]
        for key, value in row.items():
            i = self._index[key]
            values[i] = self._specs[i].convert(value)
        values[-1] = time.time()
        return tuple(values)

    def write(self, name: str, index: tuple[int, ...], values: object) -> None:
        """Write part of an array item (or one value of a growing axis) and flush.

        ``index`` is the leading position: ``(j,)`` then ``values`` is line ``j`` of an image
        (shape ``(nx,)``), or several lines ``(n, nx)`` starting at ``j``; ``()`` and a whole
        image; ``(k,)`` and frame ``k`` of a stack, ``(k, j)`` and line ``j`` of frame ``k``;
        ``(k,)`` and a scalar for entry ``k`` of a growing axis. A stack grows when ``index[0]``
        reaches its length (entries skipped stay at the fill value). Shapes, indices and
        dtypes are checked first and a ValueError names the item; nothing is written then.
        Each call ends with a flush, so a kill loses at most the write in progress.
        """
        if self._finished:
            raise RuntimeError(f"run {self._path} is already finished; cannot write {name!r}")
        target = self._targets.get(name)
        if target is None:
            raise ValueError(f"{name!r} is not an array item or growing axis of this run; "
                             f"writable: {sorted(self._targets)}")
        target.write(index, values)
        self._file.flush()

    def set_measurement(self, name: str, value: float) -> None:
        """Write a run-level measured scalar declared in `measurements`, and flush."""
        if self._finished:
            raise RuntimeError("run already finished")
        try:
            ds = self._measurements[name]
        except KeyError:
            raise ValueError(f"measurement {name!r} was not declared; declared: "
                             f"{sorted(self._measurements)}") from None
        ds[()] = float(value)
        self._file.flush()

    def flush(self) -> None:
        """Write buffered points and make them durable and visible to SWMR readers."""
        if self._finished:
            return
        self._write_pending()
        self._file.flush()

    def _write_pending(self) -> None:
        """Write buffered rows: each column keeps its current chunk in memory and the whole
        chunk is written with one direct-chunk call. Per point and column that costs ~7 µs,
        where a hyperslab write costs ~20 µs and h5py's resize + slice ~65 µs (the per-point
        overhead budget is 0.5 ms for ~16 columns; benchmarks/scurve_overhead.py)."""
        if not self._pending:
            return
        stop = self._n_written + len(self._pending)
        touched: set[int] = set()
        for n, row in enumerate(self._pending, start=self._n_written):
            chunk, offset = divmod(n, CHUNK_ROWS)
            if chunk != self._chunk_index:
                if touched:  # the batch crosses into a new chunk: finish the old one first
                    self._write_chunks(n)
                    touched.clear()
                self._chunk_index = chunk
                for buffer, spec in zip(self._chunk_buffers, self._specs):
                    buffer[:] = np.array(spec.fill, dtype=spec.h5_dtype)
            for buffer, value in zip(self._chunk_buffers, row):
                buffer[offset] = value
            touched.add(chunk)
        self._write_chunks(stop)
        self._n_written = stop
        self._pending.clear()

    def _write_chunks(self, n_rows: int) -> None:
        """Extend every column to `n_rows` and write its current chunk."""
        origin = (self._chunk_index * CHUNK_ROWS,)
        for buffer, ds in zip(self._chunk_buffers, self._datasets):
            ds.id.set_extent((n_rows,))
            ds.id.write_direct_chunk(origin, buffer.tobytes())

    # ---- sharing the file with another writer

    def suspend(self) -> None:
        """Write buffered points and close the file, so that another writer may add an entry
        to it (a series runs each inner run as its own entry of the series file). Nothing
        may be written until :meth:`resume`; a process killed meanwhile leaves a valid file."""
        if self._finished:
            raise RuntimeError(f"run {self._path} is finished; nothing to suspend")
        self._write_pending()
        self._file.flush()
        # Names now: a closed file's objects no longer know theirs.
        self._suspended_names = (
            [ds.name for ds in self._datasets],
            (self._end_time.name, self._status.name, self._status_message.name),
            {n: ds.name for n, ds in self._measurements.items()},
            {key: target.ds.name for key, target in self._targets.items()})
        self._file.close()

    def resume(self) -> None:
        """Reopen the file after :meth:`suspend` (SWMR again) and carry on writing."""
        if self._finished:
            raise RuntimeError(f"run {self._path} is finished; nothing to resume")
        if self._file.id.valid:
            raise RuntimeError(f"run {self._path} is not suspended")
        columns, (end_time, status, message), measurements, targets = self._suspended_names
        f = self._file = h5py.File(self._path, "r+", libver="latest")
        self._datasets = [f[name] for name in columns]
        self._end_time, self._status, self._status_message = f[end_time], f[status], f[message]
        self._measurements = {n: f[name] for n, name in measurements.items()}
        for key, name in targets.items():
            self._targets[key].ds = f[name]
        f.swmr_mode = True

    # ---- ending

    def finish(self, status: str, message: str = "") -> None:
        """End the run: write buffered points, status, message and end_time, then close.

        ``status`` is "completed", "aborted" or "failed"; ``message`` is truncated to
        MESSAGE_LEN (512) bytes of UTF-8, ending in "..." when cut.  A run ends exactly
        once, so a second call raises RuntimeError rather than silently replacing (or
        ignoring) the first verdict.  If the buffered
        points cannot be written, the run is recorded as "failed" and the error re-raised.
        """
        if self._finished:
            raise RuntimeError(f"run {self._path} was already finished; finish() may be called only once")
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {sorted(FINAL_STATUSES)}, got {status!r}")
        self._finished = True
        error: BaseException | None = None
        try:
            try:
                self._write_pending()
            except Exception as exc:
                error = exc
                lost = len(self._pending)
                message = (
                    f"could not write the last {lost} point(s): {exc!r}; "
                    f"requested status {status!r}: {message}"
                )
                status = "failed"
            _set_fixed_text(self._end_time, _now_iso())
            _set_fixed_text(self._status_message, message, marker="...")
            _set_fixed_text(self._status, status)
            self._file.flush()
        finally:
            self._file.close()
        if error is not None:
            raise error

    def add_results(
        self,
        group: str,
        scalars: Mapping[str, tuple[object, str]],
        arrays: Mapping[str, tuple[np.ndarray, str]] | None = None,
    ) -> None:
        """Store analysis results (fits, derived curves) in ``/entry/<group>`` (NXprocess).

        Only after :meth:`finish`: in SWMR mode no dataset can be created, so the closed
        file is reopened in ordinary read/write mode.  Calling again with the same group
        adds to it; re-using a name already in the group raises ValueError (results are
        not silently replaced).  Every value carries a unit (use "" if dimensionless).
        """
        if not self._finished:
            raise RuntimeError(
                "add_results() needs finish() first: the file is in SWMR mode while the run "
                "is being written, and SWMR files cannot gain new datasets"
            )
        _check_name("results group", group)
        if group in _RESERVED_ENTRY_NAMES:
            raise ValueError(f"results group name {group!r} is reserved by the run file layout")
        arrays = arrays or {}
        for name, item in [*scalars.items(), *arrays.items()]:
            _check_name("result", name)
            if not _is_value_unit(item):
                raise ValueError(f"result {name!r} must be a (value, unit) tuple with a str unit, got {item!r}")
        both = sorted(set(scalars) & set(arrays))
        if both:
            raise ValueError(f"result names given both as scalar and array: {both}")
        with h5py.File(self._path, "r+") as f:
            entry = f[self._entry_name]
            if group in entry:
                g = entry[group]
                if not isinstance(g, h5py.Group) or g.attrs.get("NX_class") != "NXprocess":
                    raise ValueError(f"/{self._entry_name}/{group} exists and is not a results group")
                clash = sorted(n for n in [*scalars, *arrays] if n in g)
                if clash:
                    raise ValueError(f"/{self._entry_name}/{group} already holds {clash}; results are not overwritten")
            else:
                g = entry.create_group(group, track_order=True)
                g.attrs["NX_class"] = "NXprocess"
            for name, (value, unit) in scalars.items():
                _write_value(g, name, value, unit)
            for name, (value, unit) in arrays.items():
                _write_value(g, name, np.asarray(value), unit)

    # ---- context manager

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._finished:
            return None
        if exc_type is None:
            self.finish("completed")
            return None
        status = "aborted" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        try:
            self.finish(status, repr(exc))
        except Exception:  # never mask the exception that ended the run
            _log.exception("could not record status %r in %s", status, self._path)
        return None


# --------------------------------------------------------------------------- reading


@dataclass(eq=False)
class ArrayHandle:
    """A lazy view of one array item: metadata now, values only when sliced.

    ``handle[...]``, ``handle[k]``, ``handle[k, j, :]`` and ``handle.read()`` read just that
    part. Inside ``with open_run(path) as run:`` they use the file already open; otherwise
    each access opens the file (read-only, SWMR, so a live or killed run works too) and
    closes it again. ``shape`` is the shape when the run was read; a stack that is still
    being written may have grown since (a slice reads the current data).
    """

    path: Path
    name: str
    location: str
    shape: tuple[int, ...]
    dtype: np.dtype
    units: str
    axes: tuple[str, ...]
    interpretation: str
    stacked: bool
    description: str = ""
    _file: h5py.File | None = field(default=None, repr=False)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        """Size of the whole item in memory, were it read (bytes)."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def _access(self, action: Any) -> Any:
        if self._file is not None and self._file.id.valid:
            ds = self._file[self.location]
            ds.refresh()
            return action(ds)
        with _open_for_reading(self.path) as f:
            return action(f[self.location])

    def __getitem__(self, key: Any) -> Any:
        return self._access(lambda ds: ds[key])

    def read(self) -> np.ndarray:
        """The whole item (mind :attr:`nbytes` before calling this on a large stack)."""
        return self._access(lambda ds: ds[()])

    def rows_written(self) -> tuple[int, int]:
        """(rows written, rows in the current shape); a row is one line or histogram.

        Counted from HDF5's chunk index (one row per chunk), so it reads no data and is
        exact for integer items too, where no NaN marks an unwritten row.
        """
        return self._access(_rows_written)


@dataclass
class RunData:
    """Everything needed to re-analyse a run without knowing the file layout.

    ``status == "running"`` means the writer never finished: the run is either still in
    progress or its process was killed/crashed.  Columns are trimmed to a common length
    (a live file can momentarily have one column a point ahead of another).
    """

    path: Path
    procedure: str
    status: str
    message: str
    start_time: str
    end_time: str
    software_version: str
    columns: dict[str, np.ndarray]
    units: dict[str, str]
    parameters: dict[str, tuple[object, str]]
    instruments: dict[str, dict[str, str]]
    config_text: str
    results: dict[str, dict[str, tuple[object, str]]]
    signal: str = ""
    axes: list[str] = field(default_factory=list)
    sample: dict[str, tuple[object, str]] = field(default_factory=dict)
    #: Array items by name, as lazy handles: nothing is read until they are sliced.
    arrays: dict[str, ArrayHandle] = field(default_factory=dict)
    #: Coordinates of the array items' dimensions (small, so loaded), and their units.
    array_axes: dict[str, np.ndarray] = field(default_factory=dict)
    array_axis_units: dict[str, str] = field(default_factory=dict)
    #: What a viewer plots first: "data" (the point table) or an array item's name.
    default: str = "data"

    @property
    def n_points(self) -> int:
        """Number of measured points (rows)."""
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def finished(self) -> bool:
        """False if the writer never recorded an end (still running, or crashed)."""
        return self.status != STATUS_RUNNING


def check_file(path: str | os.PathLike[str]) -> None:
    """Refuse a file HDF5 would choke on: no HDF5 signature, a bad superblock, or cut short.

    Raises :class:`DamagedRunFileError`; OSError (missing file, no permission) passes
    through. Costs one stat and one 96-byte read. "Cut short" means smaller than the end of
    file the superblock records (an interrupted copy or download, a full disk): such a file
    cannot be repaired, only copied again.
    """
    from .recover import RecoverError, read_superblock

    path = Path(path)
    advice = "copy the file again from where the run wrote it (the original may be intact)"
    for attempt in range(3):
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            try:
                sb = read_superblock(fh, size)
            except RecoverError as exc:
                what = "the file is empty" if size == 0 else str(exc)
                raise DamagedRunFileError(
                    f"{path} is not a readable HDF5 file ({what}, {size} bytes); it is damaged "
                    f"or a different kind of file; {advice}") from None
        if not sb.checksum_ok:
            raise DamagedRunFileError(
                f"{path} is damaged: its HDF5 superblock checksum does not match; {advice}")
        if sb.end_address is None or size >= sb.end_address:
            return
        if not sb.write_flags:
            break
        # A live SWMR writer may have flushed the superblock an instant before the file
        # grew to match it: look again shortly before calling the file cut short.
        time.sleep(0.05 * (attempt + 1))
    raise DamagedRunFileError(
        f"{path} is truncated: HDF5 records {sb.end_address} bytes but the file has only {size} "
        f"({100 * size / sb.end_address:.0f}%) - an incomplete copy or download, or a full "
        f"disk; {advice}. A cut file cannot be repaired by avlab recover.")


def _open_for_reading(path: Path) -> h5py.File:
    """Open read-only after :func:`check_file`; HDF5 errors become DamagedRunFileError.

    swmr=True also opens files whose writer is still active or was killed (their "open for
    write" flag is still set); it works on ordinary HDF5 files too.
    """
    check_file(path)
    try:
        return h5py.File(path, "r", swmr=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except (OSError, RuntimeError) as exc:
        raise DamagedRunFileError(f"{path} could not be opened by HDF5 ({exc}); it is damaged "
                                  "or not a complete run file") from exc


def _is_run_file(f: h5py.File, entry_name: str = "entry") -> bool:
    entry = f.get(entry_name)
    return (
        str(f.attrs.get("creator", "")).startswith("avlab")
        and isinstance(entry, h5py.Group)
        and isinstance(entry.get("status"), h5py.Dataset)
        and isinstance(entry.get("data"), h5py.Group)
    )


def _attr_text(obj: h5py.HLObject, name: str, default: str = "") -> str:
    value = obj.attrs.get(name, default)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def read_run(path: str | os.PathLike[str], entry: str = "entry") -> RunData:
    """Read a run file (finished, live or crashed) into a :class:`RunData`.

    Opens read-only with ``swmr=True`` so it works while the run is still being written and
    on files left behind by a killed writer. The point table, parameters and results are
    loaded; array items are not (see :class:`ArrayHandle`). Raises
    :class:`NotARunFileError` for HDF5 files not written by avlab and
    :class:`DamagedRunFileError` for truncated or corrupt files.
    """
    path = Path(path)
    with _open_for_reading(path) as f:
        return _read(f, path, bind=False, entry_name=entry)


def run_entries(path: str | os.PathLike[str]) -> list[str]:
    """The runs a file holds, in file order: "entry" first, then the further NXentry groups
    (one per inner run of a series); read each with ``read_run(path, entry=name)``."""
    with _open_for_reading(Path(path)) as f:
        names = [name for name, g in f.items()
                 if isinstance(g, h5py.Group) and _attr_text(g, "NX_class") == "NXentry"
                 and _is_run_file(f, name)]
    return sorted(names, key=lambda n: (n != "entry",))


@dataclass(frozen=True)
class RunOutcome:
    """How one run of a file ended and its scalar results: what a series needs of each of
    its steps, read without the point table, the arrays or the instrument records."""

    entry: str
    status: str
    message: str
    #: results group name → {scalar name: (value, unit)}; array results are left out.
    scalars: dict[str, dict[str, tuple[object, str]]]


def read_outcomes(path: str | os.PathLike[str],
                  entries: Sequence[str] | None = None) -> list[RunOutcome]:
    """Status, message and scalar results of the runs `entries` of a file (default: every
    run it holds, in file order), with one opening of the file. Much cheaper than
    :func:`read_run` per entry when only the outcome is wanted (a series' analysis)."""
    path = Path(path)
    with _open_for_reading(path) as f:
        if entries is None:
            entries = sorted((name for name, g in f.items()
                              if isinstance(g, h5py.Group)
                              and _attr_text(g, "NX_class") == "NXentry"
                              and _is_run_file(f, name)), key=lambda n: (n != "entry",))
        outcomes = []
        for name in entries:
            if not _is_run_file(f, name):
                raise KeyError(f"{path} holds no run {name!r}")
            entry = f[name]
            scalars = {
                group_name: {key: (_read_value(ds), _attr_text(ds, "units"))
                             for key, ds in g.items()
                             if isinstance(ds, h5py.Dataset) and ds.shape == ()}
                for group_name, g in entry.items()
                if isinstance(g, h5py.Group) and _attr_text(g, "NX_class") == "NXprocess"}
            outcomes.append(RunOutcome(name, _read_text(entry, "status"),
                                       _read_text(entry, "status_message"), scalars))
    return outcomes


@contextmanager
def open_run(path: str | os.PathLike[str], entry: str = "entry") -> Iterator[RunData]:
    """Like :func:`read_run`, keeping the file open so array slices need no reopening::

        with open_run("runs/scan.h5") as run:
            line = run.arrays["counts"][17]
    """
    path = Path(path)
    f = _open_for_reading(path)
    run: RunData | None = None
    try:
        run = _read(f, path, bind=True, entry_name=entry)
        yield run
    finally:
        if run is not None:
            for handle in run.arrays.values():
                handle._file = None
        f.close()


def _array_groups(entry: h5py.Group) -> list[tuple[str, h5py.Dataset]]:
    """(name, signal dataset) of every array item group under /entry, in file order."""
    found = []
    for name, g in entry.items():
        if name == "data" or not isinstance(g, h5py.Group):
            continue
        if _attr_text(g, "NX_class") != "NXdata" or _attr_text(g, "signal") != name:
            continue
        ds = g.get(name)
        if isinstance(ds, h5py.Dataset):
            found.append((name, ds))
    return found


def _rows_written(ds: h5py.Dataset) -> tuple[int, int]:
    """(rows written, rows) of an array item: chunks allocated, for one-row chunks."""
    if ds.ndim == 0:
        return (1, 1)
    stacked_scalars = ds.ndim == 1 and bool(ds.attrs.get("avlab_stacked", False))
    if stacked_scalars:
        return (ds.shape[0], ds.shape[0])
    total = int(np.prod(ds.shape[:-1], dtype=np.int64))
    if ds.chunks is None or ds.chunks[-1] != ds.shape[-1] or any(c != 1 for c in ds.chunks[:-1]):
        return (total, total)  # not row-chunked: no way to tell without reading
    return (int(ds.id.get_num_chunks()), total)


def _read(f: h5py.File, path: Path, *, bind: bool, entry_name: str = "entry") -> RunData:
    if not _is_run_file(f, entry_name):
        if entry_name != "entry" and _is_run_file(f):
            raise KeyError(f"{path} holds no run {entry_name!r}")
        raise NotARunFileError(f"{path} is not an avlab run file")
    entry = f[entry_name]
    data = entry["data"]

    datasets = {name: ds for name, ds in data.items() if isinstance(ds, h5py.Dataset)}
    n = min((ds.shape[0] for ds in datasets.values()), default=0)
    columns = {name: ds[:n] for name, ds in datasets.items()}
    units = {name: _attr_text(ds, "units") for name, ds in datasets.items()}
    if "avlab_axes" in data.attrs:
        axes = [a.decode() if isinstance(a, bytes) else str(a) for a in np.ravel(data.attrs["avlab_axes"])]
    else:
        axes = [_attr_text(data, "axes")] if "axes" in data.attrs else []

    def collect(group_name: str) -> dict[str, tuple[object, str]]:
        g = entry.get(group_name)
        if not isinstance(g, h5py.Group):
            return {}
        return {
            name: (_read_value(ds), _attr_text(ds, "units"))
            for name, ds in g.items()
            if isinstance(ds, h5py.Dataset)
        }

    instruments: dict[str, dict[str, str]] = {}
    inst = entry.get("instrument")
    if isinstance(inst, h5py.Group):
        for role, g in inst.items():
            if isinstance(g, h5py.Group):
                instruments[role] = {
                    k: _read_text(g, k) for k, ds in g.items() if isinstance(ds, h5py.Dataset)
                }

    results = {
        name: collect(name)
        for name, g in entry.items()
        if isinstance(g, h5py.Group) and _attr_text(g, "NX_class") == "NXprocess"
    }

    arrays: dict[str, ArrayHandle] = {}
    array_axes: dict[str, np.ndarray] = {}
    axis_units: dict[str, str] = {}
    for name, ds in _array_groups(entry):
        group = ds.parent
        dims = group.attrs.get("axes", [])
        dims = [d.decode() if isinstance(d, bytes) else str(d) for d in np.ravel(dims)]
        dims = [("" if d == "." else d) for d in dims]
        for axis_name in dims:
            if axis_name and axis_name not in array_axes and isinstance(group.get(axis_name), h5py.Dataset):
                array_axes[axis_name] = group[axis_name][()]
                axis_units[axis_name] = _attr_text(group[axis_name], "units")
        arrays[name] = ArrayHandle(
            path=path, name=name, location=ds.name, shape=tuple(ds.shape),
            dtype=np.dtype(ds.dtype.str) if ds.dtype.kind == "S" else ds.dtype,
            units=_attr_text(ds, "units"), axes=tuple(dims),
            interpretation=_attr_text(ds, "interpretation"),
            stacked=bool(ds.attrs.get("avlab_stacked", False)),
            description=_attr_text(ds, "description"), _file=f if bind else None)

    program = entry.get("program_name")
    return RunData(
        path=path,
        procedure=_read_text(entry, "procedure") or _read_text(entry, "title"),
        status=_read_text(entry, "status"),
        message=_read_text(entry, "status_message"),
        start_time=_read_text(entry, "start_time"),
        end_time=_read_text(entry, "end_time"),
        software_version=_attr_text(program, "version") if program is not None else "",
        columns=columns,
        units=units,
        parameters=collect("parameters"),
        instruments=instruments,
        config_text=_read_text(entry, "config"),
        results=results,
        signal=_attr_text(data, "signal"),
        axes=axes,
        sample=collect("sample"),
        arrays=arrays,
        array_axes=array_axes,
        array_axis_units=axis_units,
        default=_attr_text(entry, "default", "data"),
    )


# --------------------------------------------------------------------------- summary


def _fmt_number(x: object) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (numbers.Integral,)):
        return str(int(x))  # type: ignore[call-overload]
    if isinstance(x, numbers.Real):
        return f"{float(x):.6g}"
    return str(x)


def _fmt_value(value: object, unit: str = "") -> str:
    suffix = f" {unit}" if unit else ""
    if value is None:
        return "None"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):  # list of strings
        return repr(value) if len(value) <= 6 else f"{len(value)} strings"
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return "[" + ", ".join(_fmt_number(v) for v in value.ravel()) + "]" + suffix
        return f"array{value.shape} {value.dtype} {_fmt_range(value)}{suffix}"
    return _fmt_number(value) + suffix


def _fmt_range(values: np.ndarray) -> str:
    if values.size == 0:
        return "(no points)"
    if values.dtype.kind == "S":
        return f"({len(np.unique(values))} distinct values)"
    if values.dtype.kind == "f":
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            return "(all NaN)"
        nan_note = f" ({values.size - finite.size} NaN)" if finite.size < values.size else ""
        return f"{_fmt_number(finite.min())} .. {_fmt_number(finite.max())}{nan_note}"
    return f"{_fmt_number(values.min())} .. {_fmt_number(values.max())}"


def summarize(path: str | os.PathLike[str]) -> str:
    """Human-readable multi-line summary of a run file (for ``avlab inspect FILE.h5``).

    Works on any HDF5 file: for files not written by avlab it lists every dataset with
    shape, dtype and ``units`` attribute instead.
    """
    path = Path(path)
    try:
        with open_run(path) as run:
            text = _summarize_run(path, run)
    except NotARunFileError:
        return _summarize_foreign(path)
    further = [name for name in run_entries(path) if name != "entry"]
    if not further:
        return text
    lines = [text, f"further runs in this file ({len(further)}; read_run(path, entry=NAME)):"]
    for name in further:
        inner = read_run(path, entry=name)
        lines.append(f"  {name}: {inner.procedure}, {inner.status}, {inner.n_points} points"
                     + (f" - {inner.message}" if inner.message else ""))
        for value_name, (value, unit) in inner.results.get("analysis", {}).items():
            if not isinstance(value, np.ndarray):
                lines.append(f"    {value_name} = {_fmt_value(value, unit)}")
    return "\n".join(lines)


def _describe_array(handle: ArrayHandle, run: RunData) -> list[str]:
    """Two or more lines on one array item: what it is, how much was written, its axes."""
    written, total = handle.rows_written()
    dims = " x ".join(str(n) for n in handle.shape) or "scalar"
    unit = f" [{handle.units}]" if handle.units else ""
    kind = handle.interpretation or "array"
    row_word = "lines" if handle.interpretation == "image" else "rows"
    if handle.stacked:
        entries = handle.shape[0]
        inner = " x ".join(str(n) for n in handle.shape[1:]) or "scalar"
        what = f"{kind} stack {entries} x ({inner})"
        if handle.ndim > 1:
            done = f"{entries} entries, {written} of {total} {row_word} written"
        else:
            done = f"{entries} entries written"
    else:
        what = f"{kind} {dims}"
        done = f"{written} of {total} {row_word} written"
        if 0 < written < total:
            done += " (incomplete)"
    lines = [f"  {handle.name}{unit}  {what} {handle.dtype}: {done}"]
    for axis in handle.axes:
        if not axis:
            continue
        values = run.array_axes.get(axis)
        if values is None:
            continue
        axis_unit = run.array_axis_units.get(axis, "")
        lines.append(f"    axis {axis}: {values.size} values, {_fmt_range(np.asarray(values))}"
                     + (f" {axis_unit}" if axis_unit else ""))
    return lines


def _summarize_run(path: Path, run: RunData) -> str:
    lines = [f"avlab run file: {path}", f"procedure:   {run.procedure}"]
    if run.finished:
        lines.append(f"status:      {run.status}" + (f" - {run.message}" if run.message else ""))
    else:
        lines.append(
            "status:      running (did not complete: writer never finished - "
            "still being written, or its process was killed/crashed)"
        )
    lines.append(f"started:     {run.start_time}")
    lines.append(f"ended:       {run.end_time or '-'}")
    lines.append(f"software:    avlab {run.software_version}")
    lines.append(f"points:      {run.n_points}")
    if run.default != "data" and run.default in run.arrays:
        lines.append(f"default plot: {run.default} (array item)")
    else:
        lines.append(f"default plot: {run.signal or '?'} vs {run.axes[0] if run.axes else '?'}")

    lines.append("columns:")
    labels = {n: f"{n} [{run.units[n]}]" if run.units.get(n) else n for n in run.columns}
    width = max((len(label) for label in labels.values()), default=0)
    for name, values in run.columns.items():
        label = labels[name]
        if name == WALL_TIME and values.size and np.isfinite(values).any():
            rng = f"span {_fmt_number(np.nanmax(values) - np.nanmin(values))} s"
        else:
            rng = _fmt_range(values)
        lines.append(f"  {label:<{width}}  {rng}")
    if run.arrays:
        lines.append("arrays:")
        for handle in run.arrays.values():
            lines.extend(_describe_array(handle, run))

    def section(title: str, items: Mapping[str, tuple[object, str]]) -> None:
        lines.append(f"{title}:" if items else f"{title}: (none)")
        for name, (value, unit) in items.items():
            lines.append(f"  {name} = {_fmt_value(value, unit)}")

    section("parameters", run.parameters)
    if run.sample:
        section("sample", run.sample)
    lines.append("instruments:" if run.instruments else "instruments: (none)")
    for role, info in run.instruments.items():
        lines.append(f"  {role}: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    lines.append(f"config:      {len(run.config_text.splitlines())} lines of TOML")
    if not run.results:
        lines.append("results: (none)")
    for group, items in run.results.items():
        section(f"results ({group})", items)
    return "\n".join(lines)


def _summarize_foreign(path: Path) -> str:
    lines = [f"{path}: not an avlab run file; HDF5 datasets:"]

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            units = obj.attrs.get("units", obj.attrs.get("unit"))
            if isinstance(units, bytes):
                units = units.decode("utf-8", "replace")
            unit_text = f"  units={units!r}" if units is not None else ""
            lines.append(f"  /{name}  shape={obj.shape} dtype={obj.dtype}{unit_text}")

    with _open_for_reading(path) as f:
        f.visititems(visit)
    if len(lines) == 1:
        lines.append("  (no datasets)")
    return "\n".join(lines)
