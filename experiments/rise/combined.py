"""S-curve and rise times of the same particle in one run file (`avlab run scurve_rise`).

The two thresholds of photon avalanche come from different physics: the S-curve's from the
steady state (where the log-log slope S peaks), the rise times' from the dynamics (where t½
peaks, critical slowing down). Measured back to back on one particle, without moving it, they
can be compared directly; the analysis shows them side by side.

The S-curve runs first with the pump in CW (the laser ignores its modulation input), then the
laser's modulation input is switched on and the rise-time series runs. Both parts share one
point table: S-curve rows carry `direction` ±1, rise rows a modulation `period_s`; each
analysis picks its own rows.
"""

from __future__ import annotations

from typing import Any

from avlab.bench import Bench
from avlab.errors import ParameterError
from avlab.procedure import AnalysisResult, RunContext
from avlab.views import View

from experiments.scurve.embedded import EmbeddedSCurve
from experiments.scurve.procedure import SCurve

from .procedure import RISE_COLUMNS, Rise, RiseSweep, rise_views

_SHARED = {c.name for c in SCurve.columns}


class ScurveRise(EmbeddedSCurve, Rise):
    """The S-curve, then the rise times, of one particle into one run file."""

    name = "scurve_rise"
    title = "S-curve and rise times of one particle: static and dynamic thresholds"


    columns = list(SCurve.columns) + [c for c in RISE_COLUMNS if c.name not in _SHARED]
    signal = "signal_cps"
    axes = "intensity_kW_cm2"
    measurements = {**SCurve.measurements, **Rise.measurements}


    def check(self, bench: Bench) -> None:
        if self.scurve_run:
            raise ParameterError("scurve_rise measures its own S-curve; leave scurve_run empty")
        super().check(bench)
        self.scurve().check(bench)

    def views(self) -> tuple[View, ...]:
        return self.scurve().views() + rise_views()

    def run(self, ctx: RunContext) -> None:
        laser = ctx.bench.laser(self.pump_role or None)
        laser.emission_off()
        laser.set_modulation_input(False)  # CW for the S-curve
        scurve_ctx = _Scaled(ctx, 0.0, 0.4)
        self.scurve().run(scurve_ctx)  # its emitting() block ends with emission off
        RiseSweep(self, _Scaled(ctx, 0.4, 0.6)).perform()
        ctx.progress(1.0, "done")

    def analyse(self, run: Any) -> AnalysisResult:
        result = super().analyse(run)
        report = result.detail
        if report.scurve is not None:
            result.summary[:0] = ["S-curve: " + line for line in report.scurve.summary_lines()]
            result.scalars.update(report.scurve.as_records())
            result.arrays.update(report.scurve.as_arrays())
        return result


class _Scaled(RunContext):
    """The run context of one part: its progress mapped into [start, start + span]."""

    def __init__(self, ctx: RunContext, start: float, span: float) -> None:
        super().__init__(ctx.bench, record=ctx._record, measurement=ctx._measurement,
                         progress=ctx._progress, write=ctx._write, log=ctx._log)
        self._start, self._span = start, span

    def progress(self, fraction: float, message: str = "") -> None:
        super().progress(self._start + self._span * min(max(fraction, 0.0), 1.0), message)
