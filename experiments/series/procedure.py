"""A series: any procedure repeated over a setting — sample temperature, an inner parameter such
as a pump power, or a beam position — every inner run a full run of its own in one file.

Why a procedure and not a new command: a series is run, stopped, stored and shown exactly like
any other measurement, so it goes through the same runner (worker thread, events, guaranteed
laser shutdown) and is started the same way::

    avlab run series --set do=scurve --set over=temperature_K=10,150,295,400 \\
                     --set inner="sweep_down=false;power_min_W=0.2"

`over` is ``setting=values``; values are a comma list or ``start:stop:n`` (n evenly spaced
values, both ends included). The setting is one of

* ``temperature_K`` — the cryostat setpoint: for each step the setpoint is set and the series
  waits until the *sample stage* stays within ``tolerance_K`` of it for ``hold_s`` of bench time
  (a stage that never settles within ``settle_timeout_s`` ends the series with an error naming
  the setpoint and the last reading); the stage temperature is sampled all along, during the
  wait and during the inner run, into this run's point table (the temperature trace);
* ``x_um`` / ``y_um`` — park the scanner's beam at that coordinate (the other one at
  ``other_um``) before the inner run;
* the name of any parameter of the inner procedure (``power_max_W``, ``powers_W`` ...).

File layout: ``/entry`` is the series (its parameters, the temperature trace, the step table in
its analysis) and ``/step_00``, ``/step_01`` ... are the inner runs, each a complete NXentry with
its own data, status and analysis (`avlab.storage.read_run(path, entry="step_01")`,
`run_entries(path)`). A step is stored as soon as it ends, so an abort or a fault in step k
leaves steps 0 … k-1 complete; the lasers are off after every step and at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avlab.bench import Bench
from avlab.data import Column
from avlab.errors import AvlabError, ParameterError
from avlab.health import SAMPLE_TEMPERATURE
from avlab.procedure import AnalysisResult, Float, Procedure, RunContext, Text, roles_needed
from avlab.views import ReadoutView, View, XYView

#: Settings the series itself applies (every other name must be an inner parameter).
TEMPERATURE = "temperature_K"
POSITIONS = ("x_um", "y_um")
#: Trace phases.
SETTLE, MEASURE = 0, 1
#: Inner-run status codes in the step table.
STATUS_CODES = {"completed": 0, "aborted": 1, "failed": 2}
#: Most steps one series may run (each step is a full inner run, checked before the start).
MAX_STEPS = 1000


class StageNotStableError(AvlabError):
    """The sample stage did not hold the setpoint within the band for the hold time before
    the timeout."""


def parse_values(text: str) -> list[float]:
    """``"10,150,295"`` or ``"10:300:8"`` (8 values from 10 to 300, ends included); finite
    numbers only, at most MAX_STEPS of them (each is a full inner run)."""
    text = text.strip()
    if not text:
        raise ValueError("no values")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"range {text[:60]!r} must be start:stop:n")
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        if not 1 <= n <= MAX_STEPS:
            raise ValueError(f"range {text[:60]!r}: n must be 1 … {MAX_STEPS}")
        values = [float(v) for v in np.linspace(start, stop, n)] if math.isfinite(
            start) and math.isfinite(stop) else [start, stop]
    else:
        values = [float(v) for v in text.split(",") if v.strip()]
    if not values:
        raise ValueError("no values")
    if len(values) > MAX_STEPS:
        raise ValueError(f"{len(values)} values: a series runs at most {MAX_STEPS} steps")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"every value must be a finite number, got {text[:60]!r}")
    return values


def parse_over(text: str) -> tuple[str, list[float]]:
    """``"temperature_K=10:300:8"`` → ("temperature_K", [10.0, ...])."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"over must be setting=values, got {text!r}")
    return name.strip(), parse_values(values)


def parse_assignments(text: str) -> list[str]:
    """``"gate_s=0.1;points=20"`` → ["gate_s=0.1", "points=20"] (';' separates, since
    values may hold commas)."""
    return [part.strip() for part in text.split(";") if part.strip()]


@dataclass
class StepOutcome:
    """What one step gave: the inner run's result and the stage during it."""

    index: int
    entry: str
    value: float
    status: str
    message: str
    settle_s: float
    temperature_mean_K: float
    temperature_std_K: float
    scalars: dict[str, tuple[Any, str]]


class Series(Procedure):
    """One procedure repeated over a setting; each step a full run in the same file."""

    name = "series"
    title = "Series: a procedure repeated over a setting"

    do = Text("scurve", doc="the procedure each step runs (a name from `avlab procedures`)")
    over = Text("temperature_K=10,150,295", doc="setting=values: temperature_K, x_um, y_um or "
                "an inner parameter; values 'a,b,c' or 'start:stop:n'")
    inner = Text("", doc="parameters of the inner procedure, 'name=value;name=value'")
    tolerance_K = Float(0.2, minimum=1e-3, maximum=50.0, unit="K",
                        doc="band around the setpoint the sample stage must stay within")
    hold_s = Float(60.0, minimum=0.0, maximum=86400.0, unit="s",
                   doc="how long the stage must stay in the band before a step starts")
    settle_timeout_s = Float(7200.0, minimum=1.0, maximum=604800.0, unit="s",
                             doc="give up (the series fails) if the stage has not settled by then")
    poll_s = Float(10.0, minimum=0.01, maximum=600.0, unit="s",
                   doc="stage temperature sampling interval while settling")
    trace_interval_s = Float(5.0, minimum=0.0, maximum=3600.0, unit="s",
                             doc="least bench time between temperature samples during a step")
    other_um = Float(0.0, unit="um", doc="the other beam coordinate of an x_um / y_um series")
    on_failure = Text("stop", doc="after a failed step: 'stop' the series or 'continue'")

    columns = [
        Column("step", "", "i8", "step index (entry step_NN)"),
        Column("phase", "", "i8", "0 waiting for the stage to settle, 1 inner run"),
        Column("bench_time_s", "s", "f8", "bench clock"),
        Column("setting", "", "f8", "the step's value of the setting stepped"),
        Column("setpoint_K", "K", "f8", "cryostat setpoint (NaN without a temperature series)"),
        Column("temperature_K", "K", "f8", "sample-stage temperature (NaN without a cryostat)"),
        Column("in_band", "", "?", "stage within tolerance_K of the setpoint"),
    ]
    signal = "temperature_K"
    axes = "bench_time_s"

    # --- parameters -------------------------------------------------------------------------
    def setting(self) -> tuple[str, list[float]]:
        try:
            return parse_over(self.over)
        except ValueError as exc:
            raise ParameterError(f"parameter over: {exc}") from None

    def inner_procedure(self, value: float | None = None) -> Procedure:
        """The inner procedure with the `inner` assignments (and the step's value, when the
        setting is one of its parameters)."""
        from avlab.registry import load_procedure

        if self.do == self.name:
            raise ParameterError("a series cannot repeat a series")
        try:
            cls = load_procedure(self.do)
        except KeyError as exc:
            raise ParameterError(f"parameter do: {exc.args[0] if exc.args else exc}") from None
        procedure = cls()
        procedure.set_from_strings(parse_assignments(self.inner))
        setting, _ = self.setting()
        if value is not None and setting not in (TEMPERATURE, *POSITIONS):
            parameter = procedure.parameters().get(setting)
            if parameter is None:
                raise ParameterError(f"parameter over: {setting!r} is neither temperature_K, "
                                     f"x_um, y_um nor a parameter of {self.do}")
            if parameter.type_name == "int" and value != round(value):
                raise ParameterError(f"parameter over: {setting} is a whole number, got "
                                     f"{value:g}")
            procedure.set(setting, int(value) if parameter.type_name == "int" else value)
        return procedure

    def check(self, bench: Bench) -> None:
        setting, values = self.setting()
        if self.on_failure not in ("stop", "continue"):
            raise ParameterError(f"parameter on_failure: {self.on_failure!r} is not 'stop' or "
                                 "'continue'")
        if setting not in (TEMPERATURE, *POSITIONS) and setting not in \
                self.inner_procedure().parameters():
            raise ParameterError(f"parameter over: {setting!r} is neither temperature_K, x_um, "
                                 f"y_um nor a parameter of {self.do}")
        if setting == TEMPERATURE:
            with roles_needed("a temperature series needs a cryostat"):
                cryostat = bench.cryostat()
            for value in values:
                cryostat.check_setpoint(value)
        if setting in POSITIONS:
            with roles_needed(f"a {setting} series needs a scanner"):
                bench.scanner()
        for value in values:  # every step's inner parameters valid before anything runs
            self.inner_procedure(value).check(bench)

    # --- the run ------------------------------------------------------------------------------
    def run(self, ctx: RunContext) -> None:
        setting, values = self.setting()
        cryostat = _cryostat_or_none(ctx.bench)
        failures = []
        for k, value in enumerate(values):
            entry = f"step_{k:02d}"
            setpoint = value if setting == TEMPERATURE else float("nan")
            ctx.progress(k / len(values), f"step {k + 1}/{len(values)}: {setting} = {value:g}")
            if setting == TEMPERATURE:
                assert cryostat is not None
                cryostat.set_setpoint_K(value)
                self._wait_stable(ctx, cryostat, k, value)
            elif setting in POSITIONS:
                x, y = (value, self.other_um) if setting == "x_um" else (self.other_um, value)
                ctx.bench.scanner().park(x, y)
            trace: list[dict[str, Any]] = []
            sampler = _TraceSampler(ctx.bench, cryostat, k, value, setpoint,
                                    self.trace_interval_s, self.tolerance_K, trace)
            sampler()
            try:
                result = ctx.sub_run(self.inner_procedure(value), entry, after_each=sampler)
            finally:
                sampler(force=True)
                # Recorded after the step (the file was the inner run's meanwhile), as one
                # batch: the inner run checked the bench's health at each of these points.
                ctx.record_rows(trace)
            ctx.log(f"{entry} ({setting} = {value:g}): {result.status}"
                    + (f" - {result.message}" if result.message else ""))
            if result.status != "completed":
                failures.append(f"{entry}: {result.message}")
                if self.on_failure == "stop":
                    raise RuntimeError(f"{entry} ({setting} = {value:g}) {result.status}: "
                                       f"{result.message}; steps before it are complete")
        ctx.progress(1.0, f"{len(values)} steps")
        if failures:
            raise RuntimeError(f"{len(failures)} step(s) failed: " + "; ".join(failures))

    def _wait_stable(self, ctx: RunContext, cryostat: Any, step: int, setpoint_K: float) -> float:
        """Poll the sample stage until it stays within tolerance_K for hold_s; record every
        reading; raise StageNotStableError at the timeout. Returns the settle time (s)."""
        t0 = ctx.bench.now()
        since: float | None = None
        worst = 0.0
        while True:
            now = ctx.bench.now()
            temperature = cryostat.sample_temperature_K()
            in_band = abs(temperature - setpoint_K) <= self.tolerance_K
            ctx.record(step=step, phase=SETTLE, bench_time_s=now, setting=setpoint_K,
                       setpoint_K=setpoint_K, temperature_K=temperature, in_band=in_band)
            if in_band:
                since = now if since is None else since
                if now - since >= self.hold_s:
                    ctx.log(f"stage stable at {temperature:.3f} K after {now - t0:.0f} s")
                    return now - t0
            else:
                since = None
                worst = abs(temperature - setpoint_K)
            if now - t0 >= self.settle_timeout_s:
                raise StageNotStableError(
                    f"sample stage did not settle at {setpoint_K:g} K: not within "
                    f"±{self.tolerance_K:g} K for {self.hold_s:g} s within "
                    f"{self.settle_timeout_s:g} s (last reading {temperature:.3f} K, "
                    f"{worst:.3f} K off at the last excursion)")
            ctx.wait(self.poll_s)

    # --- after the run --------------------------------------------------------------------------
    def steps(self, run: Any) -> list[StepOutcome]:
        """Every stored step with its inner analysis scalars and its stage temperature."""
        from avlab.storage import read_outcomes

        cols = run.columns
        outcomes = []
        for inner in read_outcomes(run.path):
            entry = inner.entry
            if not entry.startswith("step_"):
                continue
            k = int(entry.split("_")[1])
            rows = cols["step"] == k
            measure = rows & (cols["phase"] == MEASURE)
            settle = rows & (cols["phase"] == SETTLE)
            temps = cols["temperature_K"][measure]
            temps = temps[np.isfinite(temps)]
            value = float(cols["setting"][rows][0]) if np.any(rows) else float("nan")
            settle_s = float(np.ptp(cols["bench_time_s"][settle])) if np.any(settle) else 0.0
            outcomes.append(StepOutcome(
                k, entry, value, inner.status, inner.message, settle_s,
                float(np.mean(temps)) if temps.size else float("nan"),
                float(np.std(temps)) if temps.size else float("nan"),
                dict(inner.scalars.get("analysis", {}))))
        return outcomes

    def analyse(self, run: Any) -> AnalysisResult:
        setting, _ = self.setting()
        steps = self.steps(run)
        names = _common_numeric_scalars(steps)
        arrays: dict[str, tuple[np.ndarray, str]] = {
            "setting": (np.array([s.value for s in steps]), _unit_of(setting)),
            "step_status": (np.array([STATUS_CODES.get(s.status, 2) for s in steps]), ""),
            "settle_s": (np.array([s.settle_s for s in steps]), "s"),
            "temperature_mean_K": (np.array([s.temperature_mean_K for s in steps]), "K"),
            "temperature_std_K": (np.array([s.temperature_std_K for s in steps]), "K"),
        }
        for name in names:
            unit = steps[0].scalars[name][1]
            arrays[f"step_{name}"] = (np.array([float(s.scalars[name][0]) for s in steps]), unit)
        summary = [f"{len(steps)} steps over {setting}; inner procedure {self.do}"]
        shown = [n for n in ("s_max", "threshold_s_peak_kW_cm2") if n in names] or names[:3]
        for s in steps:
            stage = (f", stage {s.temperature_mean_K:.2f} ± {s.temperature_std_K:.3f} K"
                     if np.isfinite(s.temperature_mean_K) else "")
            figures = ", ".join(f"{n} = {float(s.scalars[n][0]):.4g}" for n in shown)
            summary.append(f"{s.entry}: {setting} = {s.value:g}{stage}: {s.status}"
                           + (f"; {figures}" if figures else ""))
        scalars = {"steps": (len(steps), ""),
                   "steps_completed": (sum(s.status == "completed" for s in steps), "")}
        return AnalysisResult(summary=summary, scalars=scalars, arrays=arrays,
                              detail={"setting": setting, "steps": steps, "shown": shown})

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Path) -> Path | None:
        from .plot import plot_series

        return plot_series(run, analysis, png_path)

    def views(self) -> tuple[View, ...]:
        return (XYView("Stage temperature", x="bench_time_s", y="temperature_K",
                       series_by="phase", series_labels=((SETTLE, "settling"),
                                                         (MEASURE, "inner run"))),
                ReadoutView("Series", values=("steps", "steps_completed")))


class _TraceSampler:
    """Samples the stage temperature during an inner run (called after each of its points, in
    its worker thread), at most once per `interval_s` of bench time."""

    def __init__(self, bench: Bench, cryostat: Any, step: int, value: float, setpoint_K: float,
                 interval_s: float, tolerance_K: float, rows: list[dict[str, Any]]) -> None:
        self.bench, self.cryostat, self.step, self.value = bench, cryostat, step, value
        self.setpoint_K, self.interval_s, self.tolerance_K = setpoint_K, interval_s, tolerance_K
        self.rows = rows
        self._last = -np.inf

    def __call__(self, force: bool = False) -> None:
        now = self.bench.now()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        temperature = float("nan")
        checked = self.bench.last_health
        if self.cryostat is None:
            pass
        elif checked is not None and checked[0] == now \
                and checked[1].reading(SAMPLE_TEMPERATURE) is not None:
            # the inner run's health check just read the stage at this bench time
            temperature = float(checked[1].reading(SAMPLE_TEMPERATURE))
        else:
            try:
                temperature = self.cryostat.sample_temperature_K()
            except Exception:  # a trace sample must never end the inner run
                pass
        row = dict(step=self.step, phase=MEASURE, bench_time_s=now, setting=self.value,
                   setpoint_K=self.setpoint_K, temperature_K=temperature,
                   in_band=bool(abs(temperature - self.setpoint_K) <= self.tolerance_K))
        if self.cryostat is not None:  # the bench's sample-temperature column: as measured
            row[SAMPLE_TEMPERATURE] = temperature
        self.rows.append(row)


def _cryostat_or_none(bench: Bench) -> Any:
    try:
        return bench.cryostat()
    except Exception:  # noqa: BLE001 - no cryostat on this bench: no temperature trace
        return None


def _unit_of(setting: str) -> str:
    for suffix, unit in (("_K", "K"), ("_um", "um"), ("_W", "W"), ("_s", "s")):
        if setting.endswith(suffix):
            return unit
    return ""


def _common_numeric_scalars(steps: list[StepOutcome]) -> list[str]:
    """Analysis scalars every step has, as numbers (the curves of the series)."""
    if not steps:
        return []
    names = []
    for name, (value, _unit) in steps[0].scalars.items():
        if all(name in s.scalars and isinstance(s.scalars[name][0], (int, float, np.number))
               and not isinstance(s.scalars[name][0], bool) for s in steps):
            names.append(name)
    return names
