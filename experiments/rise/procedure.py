"""Rise times: critical slowing down of the avalanche, measured per pump power.

Besides the steep S-curve, photon avalanche shows *critical slowing down*: from the dark
state, the time t½ the emission needs to reach half its steady value grows by orders of
magnitude just above threshold (docs/physics.md §7: for the default Tm sample ~9 ms at half the
threshold, a peak of ~0.22 s just above it, ~27 ms at three times). Where t½ peaks is a
threshold measured from the dynamics alone.

At each pump power the pump is square-wave modulated (duty cycle `duty_cycle`) and a time
tagger histograms the detector clicks against the modulation marker over many cycles: one
histogram spans one whole period from switch-on, so it holds the rise *and* the return to
dark after switch-off. The period follows the sample: the on-phase is `settle_factor` times
the t½ expected from the previous points (extrapolated towards the peak), and every histogram
is checked before it is accepted (`analysis.check_rise`): the emission must be steady before
switch-off and dark again before switch-on. A failed check lengthens the period and measures
again, up to `max_attempts`; a point that still fails is stored flagged `reliable = 0` and
left out of the peak search — a truncated rise is never fitted silently. Only a cut-off
rise lengthens the period; a curve with too few counts (a dim signal against the dark counts,
below threshold) instead gets more cycles, sized from its measured signal-to-dark ratio
(`analysis.cycles_to_resolve`) up to `max_capture_s`, and is stored unreliable with the
capture it would need when that bound is too short. A second, finely binned histogram from
the falling edge, taken in the same modulation series (the emission already periodic), gives
the decay after switch-off.

Each power's histograms stream to the run file as stacked array items (`rise_counts`,
`decay_counts`, one row per power along `rise_intensity_kW_cm2`), and its summary is one row
of the point table. Powers come from a list (`powers_W`) or a log range refined around the
t½ peak, as the S-curve refines around its slope peak.

`ScurveRise` (`avlab run scurve_rise`) measures the S-curve and then the rise times of the
same particle into one run file and reports both thresholds side by side.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from avlab.bench import Bench
from avlab.data import ArrayItem, Axis, Column
from avlab.errors import ParameterError
from avlab.procedure import (
    AnalysisResult,
    Bool,
    Float,
    Int,
    Procedure,
    RunContext,
    Text,
    parse_number_list,
    roles_needed,
)
from avlab.pump import Pump
from avlab.views import CurvesView, ReadoutView, View, XYView

from .analysis import RiseCurve, analyse_rise, cycles_to_resolve, row_seed

#: Stored with every point: how it was chosen.
COARSE, REFINED = 0, 1
#: Each failed check multiplies the period by this.
LENGTHEN = 2.5
#: A weak curve whose t½ estimate fits fewer times into the on-phase may be cut off (the
#: steady window is the last 30 % of the on-phase): lengthen rather than give up.
MIN_ON_OVER_T_HALF = 4.0
#: The predicted t½ of the next power grows at most this much over the last measured one.
MAX_PREDICTED_GROWTH = 4.0


RISE_COLUMNS = [
    Column("intensity_kW_cm2", "kW/cm^2", "f8", "peak pump intensity during the on-phase"),
    Column("power_setpoint_W", "W", "f8", "laser output setpoint"),
    Column("meter_power_W", "W", "f8", "power-meter reading (time-averaged over the "
                                      "modulation)"),
    Column("sample_power_W", "W", "f8", "power at the sample while the pump is on "
                                        "(meter / duty cycle × transmission)"),
    Column("period_s", "s", "f8", "modulation period of the stored histogram"),
    Column("on_s", "s", "f8", "on-phase of the period (pump on from t = 0)"),
    Column("cycles", "", "i8", "modulation periods summed in the rise histogram"),
    Column("histogram_counts", "counts", "i8", "clicks in the rise histogram"),
    Column("t_half_s", "s", "f8", "time to half the steady emission (live estimate)"),
    Column("t_half_sigma_s", "s", "f8", "1-sigma of t_half_s from Poisson counts"),
    Column("steady_signal_cps", "counts/s", "f8", "steady emission rate, dark subtracted"),
    Column("reliable", "", "i8", "1: steady before switch-off and dark before switch-on"),
    Column("attempts", "", "i8", "histograms taken at this power (each failed check "
                                 "lengthens the period)"),
    Column("decay_cycles", "", "i8", "periods summed in the decay histogram (0: none)"),
    Column("rise_pass", "", "i8", "0 coarse grid or list, 1 refinement around the t½ peak"),
    Column("bench_time_s", "s", "f8", "bench clock at the end of the point"),
]

RISE_MEASUREMENTS = {
    "tagger_dark_rate_cps": "counts/s",
    "tagger_dark_rate_sigma_cps": "counts/s",
    "rise_waist_um": "um",
    "rise_transmission_to_sample": "",
}


class Rise(Procedure):
    """t½, t10–90 and decay per pump power, with the t½ peak as the dynamic threshold."""

    name = "rise"
    title = "Rise times: critical slowing down versus pump power"

    pump_role = Text("", doc="laser role to modulate; empty: the bench's only laser")
    powers_W = Text("", doc="comma-separated laser setpoints (W) to measure in this order; "
                            "empty: the log range power_min_W … power_max_W")
    power_min_W = Float(0.15, minimum=0.0, unit="W", doc="lowest setpoint of the log range")
    power_max_W = Float(0.8, minimum=0.0, unit="W", doc="highest setpoint of the log range")
    points = Int(20, minimum=2, maximum=500, doc="coarse points of the log range")
    refine = Bool(True, doc="add points around the t½ peak after the coarse pass")
    refine_points = Int(10, minimum=0, maximum=200, doc="budget of refinement points")
    refine_tolerance = Float(0.015, minimum=1e-4, maximum=1.0,
                             doc="stop refining when the peak's neighbours are this close "
                                 "(relative setpoint step)")
    bins = Int(1000, minimum=50, maximum=100_000, doc="bins of a rise histogram (one period)")
    period_s = Float(0.05, minimum=1e-4, unit="s",
                     doc="first modulation period (later ones adapt to the measured t½)")
    duty_cycle = Float(0.5, minimum=0.05, maximum=0.95,
                       doc="fraction of the period with the pump on")
    adapt_period = Bool(True, doc="choose each period from the expected t½ and lengthen it "
                                  "when a check fails (off: every point uses period_s)")
    settle_factor = Float(8.0, minimum=1.0, maximum=1000.0,
                          doc="on-phase as a multiple of the expected t½")
    max_period_s = Float(20.0, minimum=1e-4, unit="s", doc="longest modulation period")
    max_attempts = Int(4, minimum=1, maximum=20,
                       doc="histograms per power before it is stored as unreliable")
    target_counts = Int(100_000, minimum=100, maximum=10**10,
                        doc="signal clicks to collect in a rise histogram")
    min_cycles = Int(20, minimum=2, doc="fewest modulation periods per histogram")
    max_capture_s = Float(600.0, minimum=1e-3, unit="s",
                          doc="longest rise capture per attempt (dim points get up to this "
                              "much, from their measured signal-to-dark ratio)")
    decay_bins = Int(250, minimum=10, maximum=100_000, doc="bins of a decay histogram")
    decay_binwidth_s = Float(4e-6, minimum=1e-9, unit="s", doc="bin width of a decay histogram")
    decay_capture_s = Float(300.0, minimum=0.0, unit="s",
                            doc="decay capture per power (0: no decay histograms)")
    dark_s = Float(60.0, minimum=1e-3, unit="s", doc="dark reference with the pump off")
    meter_averages = Int(100, minimum=1, maximum=100_000,
                         doc="power-meter samples averaged per reading")
    scurve_run = Text("", doc="run file of an S-curve of this particle, to compare thresholds")

    columns = RISE_COLUMNS
    signal = "t_half_s"
    axes = "intensity_kW_cm2"
    measurements = dict(RISE_MEASUREMENTS)
    arrays = [
        ArrayItem("rise_counts", "counts", shape=("bins",), dtype="i8", stacked=True,
                  axes=("rise_intensity_kW_cm2", "rise_phase"),
                  description="clicks versus time since switch-on over one period, one row "
                              "per power; time = rise_phase × period_s of the row"),
        ArrayItem("decay_counts", "counts", shape=("decay_bins",), dtype="i8", stacked=True,
                  axes=("rise_intensity_kW_cm2", "decay_time_s"),
                  description="clicks versus time since switch-off, one row per power"),
    ]
    default_plot = "data"

    # --- data description ---------------------------------------------------------------------
    def array_axes(self) -> list[Axis]:
        return [
            Axis("rise_intensity_kW_cm2", "kW/cm^2", "pump intensity of each stored row"),
            Axis("rise_phase", "", "bin centre as a fraction of the period from switch-on "
                                   "(periods differ between rows)",
                 values=tuple((np.arange(self.bins) + 0.5) / self.bins)),
            Axis("decay_time_s", "s", "bin centre, time since switch-off",
                 values=tuple((np.arange(self.decay_bins) + 0.5) * self.decay_binwidth_s)),
        ]

    def views(self) -> tuple[View, ...]:
        return rise_views()

    # --- checks --------------------------------------------------------------------------------
    def setpoint_list(self) -> list[float]:
        return parse_number_list(self.powers_W, "powers_W")

    def check(self, bench: Bench) -> None:
        with roles_needed(f"{self.name} needs a laser, a power meter, a time tagger and a "
                          "pump modulator"):
            laser = bench.laser(self.pump_role or None)
            bench.power_meter()
            bench.time_tagger()
            modulator = bench.modulator()
        listed = self.setpoint_list()
        if not listed and not 0.0 < self.power_min_W < self.power_max_W:
            raise ParameterError(f"power range {self.power_min_W:g} … {self.power_max_W:g} W "
                                 "must satisfy 0 < power_min_W < power_max_W")
        highest = max(listed) if listed else self.power_max_W
        if highest > laser.max_power_W:
            raise ParameterError(f"setpoint {highest:g} W exceeds the configured limit "
                                 f"{laser.max_power_W:g} W for {laser.role}")
        low, high = self.period_limits(modulator)
        if not low <= self.period_s <= high:
            raise ParameterError(f"period_s {self.period_s:g} s is outside {low:g} … {high:g} s "
                                 "(modulator limits and max_period_s)")
        if self.decay_bins * self.decay_binwidth_s > self.period_s * (1 - self.duty_cycle) \
                and self.decay_capture_s > 0 and not self.adapt_period:
            raise ParameterError("the decay histogram is longer than the off-phase")
        if self.scurve_run:
            path = Path(self.scurve_run)
            if not path.is_file():
                raise ParameterError(f"scurve_run: no file {path}")

    def period_limits(self, modulator: Any) -> tuple[float, float]:
        low = modulator.min_period_s or 1e-4
        high = min(self.max_period_s, modulator.max_period_s or math.inf)
        return low, high

    # --- the measurement -----------------------------------------------------------------------
    def run(self, ctx: RunContext) -> None:
        RiseSweep(self, ctx).perform()
        ctx.progress(1.0, "done")

    # --- after the run -------------------------------------------------------------------------
    def analyse(self, run: Any) -> AnalysisResult:
        from .report import analyse_rise_file

        report = analyse_rise_file(run, scurve_run=self.scurve_run or None)
        return AnalysisResult(summary=report.summary_lines(), scalars=report.as_records(),
                              arrays=report.as_arrays(), detail=report)

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Any) -> Any:
        from .plot import plot_rise

        return plot_rise(run, analysis.detail if analysis is not None else None, png_path)


def rise_views() -> tuple[View, ...]:
    """Live views of a rise run: t½ versus intensity, the newest rise curves, the figures."""
    return (
        XYView("t½ versus pump intensity", x="intensity_kW_cm2", y="t_half_s", x_log=True,
               y_log=True, error="t_half_sigma_s", x_markers=("threshold_dynamic_kW_cm2",),
               positive_only=True),
        CurvesView("rise curves", item="rise_counts", x_axis="rise_phase", newest=5),
        CurvesView("decay after switch-off", item="decay_counts", x_axis="decay_time_s",
                   y_log=True, newest=3),
        ReadoutView("rise figures", values=("t_half_peak_s", "threshold_dynamic_kW_cm2",
                                            "decay_lifetime_s", "tagger_dark_rate_cps")),
    )


class RiseSweep:
    """State of one rise-time series: measures points, adapts the period and the capture."""

    def __init__(self, proc: Rise, ctx: RunContext) -> None:
        self.p, self.ctx = proc, ctx
        bench = ctx.bench
        self.pump = Pump.of(bench, proc.pump_role)
        self.laser = self.pump.laser
        self.meter = self.pump.meter
        self.tagger = bench.time_tagger()
        self.modulator = bench.modulator()
        self.low_period, self.high_period = proc.period_limits(self.modulator)
        self.k = 0  # next stack row
        self.measured: dict[float, tuple[float, float]] = {}  # setpoint -> (t½, signal cps)
        #: Every finite live t½ (unreliable ones too: a truncated rise gives a lower bound, a
        #: weak one a rough value), to choose the next period.
        self.estimates: dict[float, float] = {}
        self.dark_cps = 0.0
        self.dark_sigma_cps = 0.0

    def perform(self) -> None:
        """The whole series; on any exit the laser is back on CW (emission off): after
        prepare() it follows the modulator, and on hardware it emits nothing without it, so
        the next run (an S-curve, an image) would measure darkness."""
        try:
            self.prepare()
            self.run()
        finally:
            self.laser.emission_off()
            self.laser.set_modulation_input(False)

    # --- set-up ------------------------------------------------------------------------------
    def prepare(self) -> None:
        p, ctx = self.p, self.ctx
        ctx.measurement("rise_waist_um", self.pump.waist_um)
        ctx.measurement("rise_transmission_to_sample", self.pump.transmission)
        self.meter.configure(wavelength_nm=self.laser.wavelength_nm,
                             averaging_count=p.meter_averages)
        ctx.progress(0.0, "dark reference (pump off, modulation running)")
        self.laser.emission_off()
        self.meter.zero()
        self.laser.set_modulation_input(True)  # the laser follows the modulator from now on
        period = min(max(p.period_s, self.low_period), self.high_period)
        with self.modulator.modulating(period, p.duty_cycle):
            histogram = self.tagger.rise_histogram(binwidth_s=period / p.bins, n_bins=p.bins,
                                                   duration_s=max(p.dark_s, period))
        cycles = int(max(p.dark_s, period) // period)
        counts = int(histogram.counts.sum())
        self.dark_cps = counts / (cycles * period)
        self.dark_sigma_cps = math.sqrt(max(counts, 1)) / (cycles * period)
        ctx.measurement("tagger_dark_rate_cps", self.dark_cps)
        ctx.measurement("tagger_dark_rate_sigma_cps", self.dark_sigma_cps)

    # --- the series ---------------------------------------------------------------------------
    def run(self) -> None:
        p = self.p
        listed = p.setpoint_list()
        grid = listed or list(np.geomspace(p.power_min_W, p.power_max_W, p.points))
        total = len(grid) + (p.refine_points if p.refine and not listed else 0)
        self.laser.set_power_W(grid[0])
        with self.laser.emitting():
            for setpoint in grid:
                self.measure(float(setpoint), COARSE, total)
            if p.refine and not listed:
                self.refine(total)

    def refine(self, total: int) -> None:
        """Bisect (in log power) on both sides of the highest reliable t½ until the
        neighbours are within refine_tolerance or the budget is spent."""
        p = self.p
        added = 0
        while added < p.refine_points:
            ordered = sorted(self.measured)
            t_half = [self.measured[s][0] for s in ordered]
            if len(ordered) < 3:
                return
            if not np.isfinite(t_half).any():
                self.ctx.log("no reliable t½ among the coarse points; no refinement", 30)
                return
            k = int(np.nanargmax(t_half))
            if k == 0 or k == len(ordered) - 1:
                self.ctx.log("t½ is largest at the end of the power range; no refinement")
                return
            new = [math.sqrt(ordered[j] * ordered[j + 1]) for j in (k - 1, k)
                   if ordered[j + 1] / ordered[j] > 1.0 + p.refine_tolerance]
            if not new:
                return
            for setpoint in new[:p.refine_points - added]:
                self.measure(setpoint, REFINED, total)
                added += 1

    # --- one power ----------------------------------------------------------------------------
    def predicted_t_half(self, setpoint: float) -> float:
        """t½ expected at `setpoint` from the reliable points measured so far: the nearest
        neighbours' larger value, or — beyond the measured range — the last value extrapolated
        along its log-log trend (growth capped), so a period rising towards the peak keeps
        up."""
        p = self.p
        known = sorted(self.estimates.items())
        if not known:
            return p.period_s * p.duty_cycle / p.settle_factor
        below = [kv for kv in known if kv[0] <= setpoint]
        above = [kv for kv in known if kv[0] > setpoint]
        if below and above:
            return max(below[-1][1], above[0][1])
        side = below if below else above[::-1]
        t_last = side[-1][1]
        if len(side) >= 2:
            (s0, t0), (s1, t1) = side[-2], side[-1]
            if t1 > t0 and s0 != s1:
                growth = (t1 / t0) ** (math.log(setpoint / s1) / math.log(s1 / s0))
                return t_last * min(max(growth, 1.0), MAX_PREDICTED_GROWTH)
        return t_last

    def expected_signal_cps(self, setpoint: float) -> float | None:
        known = sorted((s, r) for s, (_, r) in self.measured.items() if r > 0)
        if not known:
            return None
        s, r = min(known, key=lambda kv: abs(math.log(kv[0] / setpoint)))
        # Emission grows at most ~ I^30 near threshold; assume a steep growth (short capture
        # first: a second capture tops it up) and a gentle fall.
        return r * (setpoint / s) ** (30.0 if setpoint > s else 2.0)

    def measure(self, setpoint: float, rise_pass: int, total: int) -> None:
        """One power: rise histograms until one passes the checks (or attempts run out), the
        decay histogram in the same modulation series, one stored row."""
        p, ctx = self.p, self.ctx
        self.laser.set_power_W(setpoint)
        if p.adapt_period:
            on_s = p.settle_factor * self.predicted_t_half(setpoint)
        else:
            on_s = p.period_s * p.duty_cycle
        attempts = 0
        meter_W = math.nan
        while True:
            attempts += 1
            period = min(max(on_s / p.duty_cycle, self.low_period), self.high_period)
            at_limit = period >= self.high_period
            on_s = period * p.duty_cycle
            with self.modulator.modulating(period, p.duty_cycle):
                curve, counts, cycles, weak = self.capture(setpoint, period)
                if attempts == 1:
                    # Time-averaged power (independent of the period), read once the emission
                    # is periodic: the meter's averaging time adds no new transient.
                    meter_W = self.meter.power_W()
                # A period too short for the rise (not settled, not dark again) is cured by a
                # longer one. Too few counts were already topped up as far as max_capture_s
                # allows; a longer period helps them only when the rise may have been cut
                # off — its t½ estimate (a lower bound then) does not fit MIN_ON_OVER_T_HALF
                # times into the on-phase, or there is none.
                cut_off = (not math.isfinite(curve.t_half_s)
                           or curve.t_half_s * MIN_ON_OVER_T_HALF > on_s)
                lengthen = (not curve.check.ok and p.adapt_period and (not weak or cut_off)
                            and attempts < p.max_attempts and not at_limit)
                decay, decay_cycles = (None, 0) if lengthen else self.capture_decay(period)
            if not lengthen:
                break
            ctx.log(f"{setpoint * 1e3:.1f} mW, period {period:.4g} s: "
                    f"{'; '.join(curve.check.reasons)}; lengthening the period", 20)
            on_s *= LENGTHEN
        k = self.k
        # The stored curve with its bootstrap, seeded by its row as the file analysis will be
        # (so that analysis finds it already done).
        curve = analyse_rise(counts, period_s=period, on_s=on_s, dark_cps=self.dark_cps,
                             dark_sigma_cps=self.dark_sigma_cps, cycles=cycles,
                             seed=row_seed(k))
        if not curve.check.ok:
            ctx.log(f"{setpoint * 1e3:.1f} mW stored as unreliable after {attempts} "
                    f"histogram(s): {'; '.join(curve.check.reasons)}"
                    + (f"; {weak}" if weak else ""), 30)
        # the meter averages the modulated beam: the on-phase power is its reading / duty
        on_meter_W = meter_W / p.duty_cycle
        sample_W = on_meter_W * self.pump.transmission
        intensity = self.pump.intensity_of_meter(on_meter_W)
        signal_cps = curve.steady_counts_per_bin / (curve.binwidth_s * cycles)
        ctx.write("rise_counts", (k,), counts)
        if decay is not None:
            ctx.write("decay_counts", (k,), decay)
        ctx.write("rise_intensity_kW_cm2", (k,), intensity)
        self.k += 1
        ctx.record(intensity_kW_cm2=intensity, power_setpoint_W=setpoint, meter_power_W=meter_W,
                   sample_power_W=sample_W, period_s=period, on_s=on_s, cycles=cycles,
                   histogram_counts=int(counts.sum()), t_half_s=curve.t_half_s,
                   t_half_sigma_s=curve.t_half_sigma_s, steady_signal_cps=signal_cps,
                   reliable=int(curve.reliable), attempts=attempts, decay_cycles=decay_cycles,
                   rise_pass=rise_pass, bench_time_s=ctx.bench.now())
        self.measured[setpoint] = (curve.t_half_s if curve.reliable else math.nan, signal_cps)
        if math.isfinite(curve.t_half_s):
            self.estimates[setpoint] = curve.t_half_s
        ctx.progress(min(self.k / max(total, 1), 0.99),
                     f"{intensity:.2f} kW/cm²: t½ = {curve.t_half_s * 1e3:.3g} ms")

    def capture_decay(self, period: float) -> tuple[np.ndarray | None, int]:
        """The decay histogram after switch-off, in the modulation series already running
        (the emission is in its periodic state: no new transient). (counts, periods)."""
        p = self.p
        on_s = period * p.duty_cycle
        if not (p.decay_capture_s > 0 and p.decay_bins * p.decay_binwidth_s <= period - on_s):
            return None, 0
        cycles = int(max(p.decay_capture_s, period) // period)
        counts = self.tagger.decay_histogram(binwidth_s=p.decay_binwidth_s, n_bins=p.decay_bins,
                                             duration_s=cycles * period).counts
        return counts, cycles

    def capture(self, setpoint: float,
                period: float) -> tuple[RiseCurve, np.ndarray, int, str]:
        """One rise histogram over whole periods, in the running modulation series: a first
        capture sized from the expected signal, then one top-up sized from the *measured*
        signal and dark levels — enough cycles for `target_counts` signal clicks and for the
        steady-state check to resolve a drift (`analysis.cycles_to_resolve`), bounded by
        `max_capture_s`. Returns (curve without bootstrap, counts, cycles, reason the signal
        stayed too weak or "")."""
        p = self.p
        on_s = period * p.duty_cycle
        max_cycles = max(p.min_cycles, int(p.max_capture_s // period))
        expected = self.expected_signal_cps(setpoint)
        if expected is None:
            cycles = p.min_cycles
        else:
            per_cycle = max(expected * on_s * 0.5, 1e-9)  # half the on-phase near steady
            cycles = int(min(max(p.min_cycles, math.ceil(p.target_counts / per_cycle)),
                             max_cycles))
        binwidth = period / p.bins
        on_bins = int(round(on_s / binwidth))
        dark_per_bin_cycle = self.dark_cps * binwidth

        def analysed(counts: np.ndarray, cycles: int) -> RiseCurve:
            return analyse_rise(counts, period_s=period, on_s=on_s, dark_cps=self.dark_cps,
                                dark_sigma_cps=self.dark_sigma_cps, cycles=cycles,
                                bootstrap=False)

        counts = self.tagger.rise_histogram(binwidth_s=binwidth, n_bins=p.bins,
                                            duration_s=cycles * period).counts
        curve = analysed(counts, cycles)
        # Signal per bin and cycle: measured when it stands out of the noise, else the
        # expectation (at least a tenth of the dark level: a guess to size the top-up).
        measured = curve.steady_counts_per_bin / cycles
        if not curve.check.has_signal:
            guess = (expected or 0.0) * binwidth
            measured = max(measured, guess, 0.1 * dark_per_bin_cycle)
        needed = max(p.target_counts / max(measured * p.bins * p.duty_cycle, 1e-12),
                     cycles_to_resolve(measured, dark_per_bin_cycle, on_bins))
        wanted = int(min(math.ceil(needed), max_cycles))
        if wanted > cycles and (curve.steady_counts_per_bin * p.bins * p.duty_cycle
                                < 0.5 * p.target_counts or not curve.check.resolved
                                or not curve.check.has_signal):
            counts = counts + self.tagger.rise_histogram(
                binwidth_s=binwidth, n_bins=p.bins, duration_s=(wanted - cycles) * period).counts
            cycles = wanted
            curve = analysed(counts, cycles)
        weak = ""
        if not (curve.check.resolved and curve.check.has_signal):
            weak = (f"signal {measured / binwidth:.3g} counts/s against {self.dark_cps:.3g} "
                    f"dark: the steady-state check needs about "
                    f"{min(needed, 1e12) * period:.3g} s of capture (max_capture_s "
                    f"{p.max_capture_s:g} s)")
        return curve, counts, cycles, weak
