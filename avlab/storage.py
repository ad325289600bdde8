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
        <results>/   NXprocess       added after the run by RunWriter.add_results()

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
and (every ``flush_every`` points) a flush.
"""

from __future__ import annotations

import datetime as _dt
import errno
import logging
import numbers
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from .data import Column

__all__ = [
    "Column",
    "NotARunFileError",
    "RunData",
    "RunFileExistsError",
    "RunWriter",
    "read_run",
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


# --------------------------------------------------------------------------- columns


def _check_name(kind: str, name: object) -> None:
    """HDF5 link names: non-empty, no '/', not '.' (they would create or escape groups)."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"invalid {kind} name {name!r}: must be a non-empty string without '/'")


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
        columns: Sequence[Column],
        signal: str,
        axes: str | Sequence[str],
        parameters: Mapping[str, tuple[object, str]],
        config_text: str,
        instruments: Mapping[str, Mapping[str, str]],
        software_version: str,
        sample: Mapping[str, object] | None = None,
        measurements: Mapping[str, str] | None = None,
        flush_every: int = 1,
    ) -> None:
        self._path = Path(path)
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
        if not columns:
            raise ValueError("a run needs at least one column")
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
        if not axes_list:
            raise ValueError("axes must name at least one column")
        for name in [signal, *axes_list]:
            if name not in self._index:
                raise ValueError(f"signal/axes name {name!r} is not a column; columns are {list(self._index)}")
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
        f.attrs["NX_class"] = "NXroot"
        f.attrs["default"] = "entry"
        f.attrs["creator"] = f"avlab {software_version}"
        f.attrs["HDF5_Version"] = h5py.version.hdf5_version
        f.attrs["h5py_version"] = h5py.version.version
        f.attrs["file_name"] = str(self._path.resolve())
        f.attrs["file_time"] = start

        entry = f.create_group("entry", track_order=True)
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
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
        self._pending.append(tuple(values))
        if len(self._pending) >= self._flush_every:
            self.flush()

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
            entry = f["entry"]
            if group in entry:
                g = entry[group]
                if not isinstance(g, h5py.Group) or g.attrs.get("NX_class") != "NXprocess":
                    raise ValueError(f"/entry/{group} exists and is not a results group")
                clash = sorted(n for n in [*scalars, *arrays] if n in g)
                if clash:
                    raise ValueError(f"/entry/{group} already holds {clash}; results are not overwritten")
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

    @property
    def n_points(self) -> int:
        """Number of measured points (rows)."""
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def finished(self) -> bool:
        """False if the writer never recorded an end (still running, or crashed)."""
        return self.status != STATUS_RUNNING


def _open_for_reading(path: Path) -> h5py.File:
    # swmr=True also opens files whose writer is still active or was killed (their
    # "open for write" flag is still set); it works on ordinary HDF5 files too.
    return h5py.File(path, "r", swmr=True)


def _is_run_file(f: h5py.File) -> bool:
    entry = f.get("entry")
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


def read_run(path: str | os.PathLike[str]) -> RunData:
    """Read a run file (finished, live or crashed) into a :class:`RunData`.

    Opens read-only with ``swmr=True`` so it works while the run is still being written and
    on files left behind by a killed writer.  Raises :class:`NotARunFileError` for HDF5
    files not written by avlab.
    """
    path = Path(path)
    with _open_for_reading(path) as f:
        if not _is_run_file(f):
            raise NotARunFileError(f"{path} is not an avlab run file")
        entry = f["entry"]
        data = entry["data"]

        datasets = {name: ds for name, ds in data.items() if isinstance(ds, h5py.Dataset)}
        n = min((ds.shape[0] for ds in datasets.values()), default=0)
        columns = {name: ds[:n] for name, ds in datasets.items()}
        units = {name: _attr_text(ds, "units") for name, ds in datasets.items()}
        if "avlab_axes" in data.attrs:
            axes = [a.decode() if isinstance(a, bytes) else str(a) for a in np.ravel(data.attrs["avlab_axes"])]
        else:
            axes = [_attr_text(data, "axes")]

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
        run = read_run(path)
    except NotARunFileError:
        return _summarize_foreign(path)

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
    lines.append(f"default plot: {run.signal} vs {run.axes[0] if run.axes else '?'}")

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
