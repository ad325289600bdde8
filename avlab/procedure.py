"""Procedures: typed parameters with units and limits, a body that records points.

A procedure says *what* to measure; the runner decides *how* it runs (worker thread, storage,
shutdown). Parameters are declared on the class; values are validated when set — from Python,
from `--set name=value` strings on the command line, or from a GUI form — so a bad value is
rejected before any instrument is touched.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from .data import ArrayItem, Axis, Column, DataDescription
from .errors import ParameterError
from .views import View, XYView, check_views

if TYPE_CHECKING:
    from .bench import Bench
    from .storage import RunData

T = TypeVar("T")


class Parameter(Generic[T]):
    """A typed procedure parameter (a descriptor on the procedure class)."""

    type_name = "value"

    def __init__(self, default: T, *, unit: str = "", doc: str = "") -> None:
        self.default = default
        self.unit = unit
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._values.get(self.name, self.default)

    def __set__(self, obj: Any, value: Any) -> None:
        obj._values[self.name] = self.validate(value)

    def validate(self, value: Any) -> T:
        return value

    def fail(self, value: Any, problem: str) -> ParameterError:
        unit = f" {self.unit}" if self.unit else ""
        return ParameterError(f"parameter {self.name}: {_short_repr(value)}{unit} {problem}")

    def describe(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        return f"{self.name} ({self.type_name}{unit}, default {self.default!r}): {self.doc}"


def _short_repr(value: Any, limit: int = 60) -> str:
    """repr() for an error message: cut to `limit` characters, and safe for values whose repr
    itself fails (an int of more than 4300 digits)."""
    try:
        text = repr(value)
    except ValueError:
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[:limit - 5] + "…" + text[-4:]


class Float(Parameter[float]):
    type_name = "float"

    def __init__(self, default: float, *, minimum: float | None = None,
                 maximum: float | None = None, unit: str = "", doc: str = "") -> None:
        super().__init__(default, unit=unit, doc=doc)
        self.minimum, self.maximum = minimum, maximum

    def validate(self, value: Any) -> float:
        if isinstance(value, bool):
            raise self.fail(value, "is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(value, "is not a number") from None
        except OverflowError:  # an int beyond the float range (e.g. 10**400)
            raise self.fail(value, "is not finite") from None
        if not math.isfinite(number):
            raise self.fail(value, "is not finite")
        if self.minimum is not None and number < self.minimum:
            raise self.fail(value, f"is below the minimum {self.minimum:g}")
        if self.maximum is not None and number > self.maximum:
            raise self.fail(value, f"is above the maximum {self.maximum:g}")
        return number


class Int(Parameter[int]):
    type_name = "int"

    def __init__(self, default: int, *, minimum: int | None = None, maximum: int | None = None,
                 unit: str = "", doc: str = "") -> None:
        super().__init__(default, unit=unit, doc=doc)
        self.minimum, self.maximum = minimum, maximum

    def validate(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.fail(value, "is not a whole number")
        try:
            number = int(value) if isinstance(value, int) else int(str(value), 10)
        except ValueError:
            raise self.fail(value, "is not a whole number") from None
        if self.minimum is not None and number < self.minimum:
            raise self.fail(value, f"is below the minimum {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise self.fail(value, f"is above the maximum {self.maximum}")
        return number


class Bool(Parameter[bool]):
    type_name = "bool"
    _WORDS = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}

    def validate(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in self._WORDS:
            raise self.fail(value, "is not true/false")
        return self._WORDS[word]


class Text(Parameter[str]):
    type_name = "text"

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(value, "is not text")
        return value.strip()


def parse_number_list(text: str, name: str) -> list[float]:
    """The positive numbers of a comma- (or semicolon-) separated Text parameter, such as a
    list of pump powers; a bad item is refused naming the parameter and the item."""
    values: list[float] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ParameterError(f"parameter {name}: {part!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise ParameterError(f"parameter {name}: {part!r} must be a positive number")
        values.append(value)
    return values


@contextmanager
def roles_needed(needs: str, hint: str = "") -> Iterator[None]:
    """Inside `check()`: a role the procedure needs that the bench lacks (or has twice, or of
    another kind) is the user's choice of bench or role parameter, so the bench's KeyError
    becomes a ParameterError saying what the procedure `needs` (and `hint`, e.g. which
    parameter names the role) — refused like any bad parameter, before anything runs."""
    try:
        yield
    except KeyError as exc:
        reason = exc.args[0] if exc.args else str(exc)
        raise ParameterError(f"{needs}: {reason}{hint}") from None


class RunContext:
    """What a procedure body gets: the bench, time, stop checks, progress and recording.

    Every recording call writes to the run file first (flushed), then publishes the matching
    run event; a procedure never touches files or listeners itself.
    """

    def __init__(self, bench: Bench, *, record: Callable[[Mapping[str, Any]], None],
                 measurement: Callable[[str, float], None],
                 progress: Callable[[float, str], None],
                 write: Callable[[str, tuple[int, ...], Any], None] | None = None,
                 log: Callable[[str, int], None] | None = None,
                 sub_run: Callable[..., Any] | None = None,
                 record_rows: Callable[[list[Mapping[str, Any]]], None] | None = None) -> None:
        self.bench = bench
        self._record_rows = record_rows
        self._sub_run = sub_run
        self._record = record
        self._measurement = measurement
        self._progress = progress
        self._write = write
        self._log = log

    def wait(self, seconds: float) -> None:
        """Let `seconds` of bench time pass (virtual on the simulated bench; abortable)."""
        self.bench.wait(seconds)

    def check_stop(self) -> None:
        """Raise RunAborted if a stop was requested."""
        self.bench.wait(0.0)

    def record(self, **row: Any) -> None:
        """Emit one measured point of the table (stored and flushed, and shown live)."""
        self._record(row)

    def record_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Emit points measured earlier (a trace sampled during an inner run, say) together:
        one health check and one flush for all, then one live event per row. A row may carry
        its own `sample_temperature_K`, taken when it was measured."""
        if self._record_rows is None:
            raise RuntimeError("this run context records no batches of points")
        rows = [dict(row) for row in rows]
        if rows:
            self._record_rows(rows)

    def write(self, item: str, index: tuple[int, ...] | int, values: Any) -> None:
        """Write part of an array item: a line `(iy,)`, a line of frame k `(k, iy)`, a whole
        histogram `(k,)`, or one value of a growing axis `(k,)`; flushed, then shown live."""
        if self._write is None:
            raise RuntimeError("this run context records no array items")
        self._write(item, (index,) if isinstance(index, int) else tuple(index), values)

    def sub_run(self, procedure: Procedure, entry: str,
                after_each: Callable[[], None] | None = None) -> Any:
        """Run `procedure` to its end as a full run of its own, stored as the NXentry `entry`
        of this run's file, and return its RunResult (status, analysis). Lasers are off after
        it; a stop request raises RunAborted once the inner run has ended as "aborted".
        `after_each` is called after each of its recorded points (same thread)."""
        if self._sub_run is None:
            raise RuntimeError("this run context cannot run inner procedures")
        return self._sub_run(procedure, entry, after_each)

    def measurement(self, name: str, value: float) -> None:
        """Store a run-level measured scalar declared in `Procedure.measurements`."""
        self._measurement(name, value)

    def progress(self, fraction: float, message: str = "") -> None:
        self._progress(min(max(fraction, 0.0), 1.0), message)

    def log(self, message: str, level: int = 20) -> None:
        """A status message for the run's listeners (and the log), e.g. a suspended point."""
        if self._log is not None:
            self._log(message, level)


@dataclass
class AnalysisResult:
    """What a procedure's analysis returns.

    `summary` lines are printed by the CLI and shown by the GUI; `scalars` and `arrays` (each
    value with its unit) are stored in the run file's `/entry/analysis` group and carried by
    the `RunFinished` event; `detail` is the procedure's own rich result for its plot.
    """

    summary: list[str] = field(default_factory=list)
    scalars: dict[str, tuple[Any, str]] = field(default_factory=dict)
    arrays: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)
    detail: Any = None


class Procedure(ABC):
    """Base class of every experiment procedure.

    The contract (docs/procedures.md): typed parameters; a data description (point-table
    columns, shaped array items with their axes, run-level measurements, the default plot);
    a run body; an analysis returning :class:`AnalysisResult`; a PNG plot; and the live views
    a GUI should build, declared as data (avlab.views). Procedures are found through the
    `avlab.procedures` entry-point group, so an installed package can add its own.
    """

    #: Name used on the command line (`avlab run <name>`).
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: The table each recorded point fills, the default plot, and run-level scalars.
    columns: ClassVar[list[Column]] = []
    signal: ClassVar[str] = ""
    axes: ClassVar[str] = ""
    measurements: ClassVar[dict[str, str]] = {}
    #: Shaped items (images, stacks, histograms); shapes may name parameters.
    arrays: ClassVar[list[ArrayItem]] = []
    #: What a viewer plots first: "data" (the table) or an array item's name.
    default_plot: ClassVar[str] = "data"
    #: Settings of a short demonstration run (GUI screenshots, demos); {} for none.
    demo_values: ClassVar[dict[str, Any]] = {}
    #: File suffixes of the extra outputs `plot` writes next to the run file.
    outputs: ClassVar[tuple[str, ...]] = (".png",)
    #: Extra `avlab run` options for this procedure, flag -> parameter name, e.g.
    #: {"--calibration": "calibration"}: `--calibration FILE` is `--set calibration=FILE`.
    #: Only for the one or two parameters a procedure cannot run without.
    cli_flags: ClassVar[dict[str, str]] = {}
    #: A condition that may clear (a temperature excursion, a flooded detector) suspends
    #: the run instead of ending it (avlab.health): pumps off until it clears, then the run
    #: goes on and the point measured during it is discarded. Only for procedures whose
    #: points stand on their own, so a missing one costs nothing but the point.
    suspendable: ClassVar[bool] = False
    #: Longest suspension (bench time, s) before the condition ends the run as a fault.
    suspend_timeout_s: ClassVar[float] = 600.0

    def __init__(self, **values: Any) -> None:
        self._values: dict[str, Any] = {}
        for key, value in values.items():
            self.set(key, value)

    @classmethod
    def parameters(cls) -> dict[str, Parameter]:
        found: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for key, attr in vars(klass).items():
                if isinstance(attr, Parameter):
                    found[key] = attr
        return found

    def set(self, name: str, value: Any) -> None:
        params = self.parameters()
        if name not in params:
            raise ParameterError(f"{self.name} has no parameter {_short_repr(name)}; parameters: "
                                 f"{', '.join(params)}")
        setattr(self, name, value)

    def set_from_strings(self, assignments: Iterable[str]) -> None:
        """Apply `name=value` strings (the CLI's --set); each parameter's validate() parses."""
        for text in assignments:
            name, sep, raw = text.partition("=")
            if not sep or not name.strip():
                raise ParameterError(f"--set expects name=value, got {_short_repr(text)}")
            self.set(name.strip(), raw.strip())

    def values(self) -> dict[str, tuple[Any, str]]:
        """Every parameter as (value, unit), for storage."""
        return {name: (getattr(self, name), p.unit) for name, p in self.parameters().items()}

    # --- data description and views --------------------------------------------------------
    def array_axes(self) -> list[Axis]:
        """Axes of the array items, with values from the parameters (override)."""
        return []

    def describe_data(self) -> DataDescription:
        """Everything this run will record, shapes resolved from the parameter values."""
        params = {name: getattr(self, name) for name in self.parameters()}
        return DataDescription(
            columns=tuple(self.columns),
            arrays=tuple(item.resolve(params) for item in self.arrays),
            axes=tuple(self.array_axes()),
            measurements=dict(self.measurements),
            signal=self.signal,
            plot_axes=(self.axes,) if self.axes else (),
            default=self.default_plot,
        )

    def views(self) -> tuple[View, ...]:
        """The live views a GUI should build (override); by default the table's signal
        against its axis."""
        if self.columns and self.signal and self.axes:
            return (XYView(self.title or self.name, x=self.axes, y=self.signal),)
        return ()

    def checked_views(self, description: DataDescription) -> tuple[View, ...]:
        views = tuple(self.views())
        names = {c.name for c in description.columns} | {a.name for a in description.arrays}
        check_views(views, names)
        return views

    # --- the run ------------------------------------------------------------------------------
    def check(self, bench: Bench) -> None:
        """Cross-check parameters against the bench before anything runs (override)."""

    @abstractmethod
    def run(self, ctx: RunContext) -> None:
        """The measurement. Never sleeps, never touches files, never plots."""

    # --- after the run --------------------------------------------------------------------------
    def analyse(self, run: RunData) -> AnalysisResult | None:
        """Analysis of the finished (or partial) run as read back from its file (override).
        Array items are read lazily from `run.arrays`."""
        return None

    def plot(self, run: RunData, analysis: AnalysisResult | None,
             png_path: Path) -> Path | None:
        """Write a PNG of the run (override); matplotlib's Agg canvas, no pyplot needed."""
        return None
