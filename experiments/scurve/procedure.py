"""S-curve: single-particle emission versus pump intensity, swept up then down.

Photon-avalanche emission rises as the 20th–60th power of the pump near threshold, and the
slope peak is narrow (emission rises ~38× between 0.9 and 1.1 I_th). A plain log grid fine
enough to resolve it would waste hours below and above threshold, so the up-sweep adapts its
step: where the last points show a steep slope, the next step shrinks so that the emission
changes by at most `max_step_ln` (in ln units) between neighbours; a fill pass then closes any
gap the sweep could not anticipate. The gate time adapts too, so every point collects about
`target_counts` photons — long gates in the dim sub-threshold region, short ones in
saturation — and each point stores its gate and rate.

Run it: `avlab run scurve`, from the GUI, or `python -m experiments.scurve`. The analysis
(`analysis.py`, `report.py`), the PNG (`plot.py`) and the rate-equation model fit
(`model_fit.py`, `avlab fit`) live next to this file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avlab.bench import Bench
from avlab.data import Column
from avlab.errors import ParameterError
from avlab.procedure import (
    AnalysisResult,
    Bool,
    Float,
    Int,
    Procedure,
    RunContext,
    Text,
    roles_needed,
)
from avlab.pump import Pump
from avlab.views import ReadoutView, View, XYView

UP, DOWN = 1, -1
#: The sweep never steps by less than this relative change of the setpoint.
MIN_RELATIVE_STEP = 0.002
#: A point's signal counts as measured above this many sigmas (fill pass) ...
RELIABLE_SIGMAS = 3.0
#: ... and as precise enough to steer the step above this many (a slope from two points at
#: 3 sigma each is mostly noise, and would shrink the step where nothing is steep).
STEERING_SIGMAS = 10.0


@dataclass
class _Control:
    """What the sweep steps: the laser's output setpoint (W), or — when the bench has a pump
    attenuator — its transmission with the laser held at power_max_W."""

    grid: np.ndarray
    apply: Callable[[float], float]  # sets a value, returns the nominal value reached
    unit: str

    def text(self, value: float) -> str:
        return f"{value * 1e3:.1f} mW" if self.unit == "W" else f"T = {value:.3g}"


@dataclass
class _Point:
    control: float
    signal_cps: float
    sigma_cps: float
    rate_cps: float

    @property
    def reliable(self) -> bool:
        return self.signal_cps > RELIABLE_SIGMAS * self.sigma_cps

    @property
    def precise(self) -> bool:
        return self.signal_cps > STEERING_SIGMAS * self.sigma_cps

    @property
    def relative_error(self) -> float:
        return self.sigma_cps / self.signal_cps


class SCurve(Procedure):
    """Emission versus pump intensity of one particle, swept up then down."""

    name = "scurve"
    title = "S-curve: emission versus pump intensity"
    #: Each point stands on its own (its own meter reading and gates): a point lost to a
    #: temperature excursion or a flood costs only itself, so the run may suspend.
    suspendable = True

    pump_role = Text("", doc="laser role to sweep; empty: the bench's only laser")
    meter_role = Text("", doc="power-meter role; empty: the bench's only power meter")
    detector_role = Text("", doc="counter role; empty: the bench's only counter")
    power_min_W = Float(0.08, minimum=0.0, unit="W", doc="lowest laser output setpoint")
    power_max_W = Float(0.0, minimum=0.0, unit="W",
                        doc="highest laser output setpoint (0: the laser's configured "
                            "max_power_W, so the default fits every bench)")
    use_attenuator = Bool(True, doc="when the bench has a pump attenuator, sweep its "
                                    "transmission with the laser held at power_max_W (spans "
                                    "3-4 decades; a laser setpoint alone spans ~2)")
    transmission_min = Float(0.0, minimum=0.0, maximum=1.0,
                             doc="lowest attenuator transmission (0: its configured minimum)")
    transmission_max = Float(0.0, minimum=0.0, maximum=1.0,
                             doc="highest attenuator transmission (0: its configured maximum)")
    points = Int(40, minimum=5, maximum=2000, doc="coarse points of the up-sweep")
    log_spacing = Bool(True, doc="coarse points evenly spaced in log(power) (else linear)")
    settle_s = Float(1.0, minimum=0.0, maximum=3600.0, unit="s",
                     doc="wait after each power change; near threshold the rise time is "
                         "~0.2 s (critical slowing down), so keep several times that")
    sweep_down = Bool(True, doc="sweep back down through the same setpoints (hysteresis check)")
    refine = Bool(True, doc="adaptive sampling around the steepest region")
    max_step_ln = Float(0.3, minimum=0.02, maximum=5.0,
                        doc="largest change of ln(signal) between neighbouring refined points")
    max_refine_points = Int(80, minimum=0, maximum=5000, doc="budget of extra points")
    target_counts = Int(2500, minimum=10, maximum=10**9,
                        doc="photons to collect per point (Poisson error 1/sqrt(N))")
    min_gate_s = Float(0.01, minimum=1e-5, unit="s", doc="shortest counter gate")
    max_gate_s = Float(60.0, minimum=1e-4, unit="s", doc="longest counter gate per point")
    dark_gate_s = Float(60.0, minimum=1e-3, unit="s",
                        doc="gate of the dark-count reference taken with emission off")
    meter_averages = Int(100, minimum=1, maximum=100_000,
                         doc="power-meter samples averaged per reading")

    columns = [
        Column("power_setpoint_W", "W", "f8", "laser output setpoint"),
        Column("transmission", "", "f8",
               "nominal attenuator transmission (NaN without attenuator; the intensity comes "
               "from the meter, not from this)"),
        Column("meter_power_W", "W", "f8", "power at the power-meter plane"),
        Column("sample_power_W", "W", "f8", "power at the sample (meter × transmission)"),
        Column("intensity_kW_cm2", "kW/cm^2", "f8", "peak pump intensity 2P/(pi w0^2)"),
        Column("counts", "counts", "i8", "photons counted during the gate"),
        Column("gate_s", "s", "f8", "counter gate time"),
        Column("rate_cps", "counts/s", "f8", "count rate, dead-time corrected"),
        Column("signal_cps", "counts/s", "f8", "rate minus dark rate"),
        Column("signal_sigma_cps", "counts/s", "f8",
               "1-sigma counting uncertainty of this point (the dark reference's error is "
               "common to all points: measurements/dark_rate_sigma_cps)"),
        Column("dead_time_loss", "", "f8", "fraction of photons lost to detector dead time"),
        Column("direction", "", "i8", "+1 up-sweep, -1 down-sweep"),
        Column("sweep_pass", "", "i8", "0 main sweep, 1 fill pass of the refinement"),
        Column("bench_time_s", "s", "f8", "bench clock at the end of the point"),
    ]
    signal = "signal_cps"
    axes = "intensity_kW_cm2"
    #: A short S-curve for demonstrations (GUI screenshots): about 110 points, seconds.
    demo_values = {"points": 24, "power_min_W": 0.06, "settle_s": 0.3, "dark_gate_s": 10.0,
                   "max_gate_s": 10.0, "meter_averages": 10, "max_refine_points": 30}
    measurements = {
        "dark_rate_cps": "counts/s",
        "dark_rate_sigma_cps": "counts/s",
        "waist_um": "um",
        "transmission_to_sample": "",
    }

    # --- checks --------------------------------------------------------------------------------
    def check(self, bench: Bench) -> None:
        needs = "scurve needs a laser, a power meter and a detector"
        hint = "; choose a role with --set pump_role=, meter_role= or detector_role="
        with roles_needed(needs, hint):
            laser = bench.laser(self.pump_role or None)
            bench.power_meter(self.meter_role or None)
            bench.detector(self.detector_role or None)
        if self.power_max_W == 0.0:  # resolved here, so the run file stores the value used
            self.power_max_W = laser.max_power_W
        if not 0.0 < self.power_min_W < self.power_max_W:
            raise ParameterError(f"power range {self.power_min_W:g} … {self.power_max_W:g} W "
                                 "must satisfy 0 < power_min_W < power_max_W"
                                 + (f" ({laser.role}'s max_power_W)"
                                    if self.power_max_W == laser.max_power_W else ""))
        if self.power_max_W > laser.max_power_W:
            raise ParameterError(f"power_max_W {self.power_max_W:g} W exceeds the configured "
                                 f"limit {laser.max_power_W:g} W for {laser.role}")
        if self.min_gate_s > self.max_gate_s:
            raise ParameterError("min_gate_s must not exceed max_gate_s")
        if self.attenuated(bench):
            low, high = self.transmission_range(bench)
            if not 0.0 < low < high:
                raise ParameterError(f"transmission range {low:g} … {high:g} must satisfy "
                                     "0 < transmission_min < transmission_max")
            attenuator = bench.attenuator()
            for value in (low, high):
                try:
                    attenuator.check_transmission(value)
                except Exception as exc:
                    raise ParameterError(str(exc)) from None

    def attenuated(self, bench: Bench) -> bool:
        return self.use_attenuator and bench.has("attenuator")

    def transmission_range(self, bench: Bench) -> tuple[float, float]:
        attenuator = bench.attenuator()
        return (self.transmission_min or attenuator.min_transmission,
                self.transmission_max or attenuator.max_transmission)

    # --- the measurement -------------------------------------------------------------------------
    def coarse_grid(self, low: float, high: float) -> np.ndarray:
        if self.log_spacing:
            return np.geomspace(low, high, self.points)
        return np.linspace(low, high, self.points)

    def control(self, bench: Bench, laser: Any) -> _Control:
        if self.attenuated(bench):
            attenuator = bench.attenuator()
            return _Control(self.coarse_grid(*self.transmission_range(bench)),
                            attenuator.set_transmission, "")

        def set_laser(power_W: float) -> float:
            laser.set_power_W(power_W)
            return power_W

        return _Control(self.coarse_grid(self.power_min_W, self.power_max_W), set_laser, "W")

    def run(self, ctx: RunContext) -> None:
        bench = ctx.bench
        pump = Pump.of(bench, self.pump_role, self.meter_role)
        laser, meter = pump.laser, pump.meter
        detector = bench.detector(self.detector_role or None)
        if self.power_max_W == 0.0:  # run without check() (a caller's inner S-curve)
            self.power_max_W = laser.max_power_W
        ctx.measurement("waist_um", pump.waist_um)
        ctx.measurement("transmission_to_sample", pump.transmission)
        meter.configure(wavelength_nm=laser.wavelength_nm, averaging_count=self.meter_averages)

        # Dark reference with emission off: meter zero and detector dark counts.
        ctx.progress(0.0, "dark reference (emission off)")
        laser.emission_off()
        meter.zero()
        dark = detector.count(self.dark_gate_s)
        dark_rate = dark.rate_cps
        dark_sigma = math.sqrt(max(dark.counts, 1)) / dark.gate_s
        ctx.measurement("dark_rate_cps", dark_rate)
        ctx.measurement("dark_rate_sigma_cps", dark_sigma)

        control = self.control(bench, laser)
        sweep = _Sweep(self, ctx, meter, detector, pump, dark_rate, control)
        # Start dim: the first point's value is set before emission goes on.
        control.apply(float(control.grid[0]))
        if control.unit != "W":
            laser.set_power_W(self.power_max_W)
        with laser.emitting():
            up_points = sweep.up()
            if self.refine:
                up_points = sweep.fill(up_points)
            if self.sweep_down:
                sweep.down([p.control for p in up_points])
        ctx.progress(1.0, "done")

    def views(self) -> tuple[View, ...]:
        return (
            XYView("S-curve", x="intensity_kW_cm2", y="signal_cps", x_log=True, y_log=True,
                   error="signal_sigma_cps", series_by="direction",
                   series_labels=((1, "up-sweep"), (-1, "down-sweep")), slope_panel=True,
                   x_markers=("threshold_s_peak_kW_cm2", "threshold_tangent_kW_cm2"),
                   positive_only=True),
            ReadoutView("S-curve figures", values=("s_max", "threshold_s_peak_kW_cm2",
                                                   "threshold_tangent_kW_cm2", "dark_rate_cps")),
        )

    def analyse(self, run: Any) -> AnalysisResult:
        from .report import analyse_sweeps

        measured = run.results.get("measurements", {})
        dark_sigma = measured.get("dark_rate_sigma_cps", (None, ""))[0]
        report = analyse_sweeps(run.columns, dark_sigma)
        return AnalysisResult(summary=report.summary_lines(), scalars=report.as_records(),
                              arrays=report.as_arrays(), detail=report)

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Any) -> Any:
        from .plot import plot_scurve

        return plot_scurve(run, analysis.detail if analysis is not None else None, png_path)


class _Sweep:
    """State of one S-curve: measures points, adapts the step and the gate."""

    def __init__(self, proc: SCurve, ctx: RunContext, meter: Any, detector: Any,
                 pump: Pump, dark_rate: float, control: _Control) -> None:
        self.p, self.ctx = proc, ctx
        self.meter, self.detector = meter, detector
        self.pump = pump
        self.dark_rate = dark_rate
        self.control = control
        self.extra_points = 0
        self.last_rate = dark_rate
        weights = (0.6, 0.05, 0.35) if proc.sweep_down else (0.9, 0.1, 0.0)
        self.weights = weights

    # --- one point ---------------------------------------------------------------------------
    def measure(self, value: float, direction: int, sweep_pass: int,
                predicted_rate: float | None = None) -> _Point:
        p = self.p
        nominal = self.control.apply(value)
        self.ctx.wait(p.settle_s)
        meter_W = self.meter.power_W()
        expected = max(predicted_rate or self.last_rate, self.dark_rate, 1.0)
        # A short probe gate first, so a sudden jump in brightness never becomes a long gate
        # at a rate nobody expected; then further gates at the rate measured so far until the
        # point holds `target_counts` photons or the gate budget is spent.
        gate = _clamp(0.1 * p.target_counts / expected, p.min_gate_s, p.max_gate_s / 10)
        counts = self.detector.count(gate).counts
        for _ in range(8):
            still_needed = p.target_counts - counts
            if still_needed <= 0:
                break
            rate_so_far = max(counts, 1) / gate  # never zero: one count is the upper bound
            more = min(max(still_needed / rate_so_far, p.min_gate_s), p.max_gate_s - gate)
            if more < p.min_gate_s:
                break
            counts += self.detector.count(more).counts
            gate += more
        reading = self.detector.reading(counts, gate)
        rate, loss = reading.rate_cps, reading.dead_time_loss
        # This point's own counting error; the dark reference's error is one number common to
        # every point and is stored (and analysed) as such, not added here.
        sigma = math.sqrt(max(counts, 1)) / gate / (1.0 - loss)
        signal = rate - self.dark_rate
        sample_W = meter_W * self.pump.transmission
        # A reading at or below zero is the meter's noise floor (after zeroing the noise is
        # symmetric about zero): it is recorded as read, but it gives no intensity (NaN; the
        # analysis skips such points) rather than a made-up one or a crashed run.
        intensity = self.pump.intensity_of_meter(meter_W) if sample_W > 0 else math.nan
        self.ctx.record(
            power_setpoint_W=value if self.control.unit == "W" else p.power_max_W,
            transmission=math.nan if self.control.unit == "W" else nominal,
            meter_power_W=meter_W, sample_power_W=sample_W,
            intensity_kW_cm2=intensity,
            counts=counts, gate_s=gate, rate_cps=rate, signal_cps=signal,
            signal_sigma_cps=sigma, dead_time_loss=loss, direction=direction,
            sweep_pass=sweep_pass, bench_time_s=self.ctx.bench.now(),
        )
        self.last_rate = rate
        return _Point(value, signal, sigma, rate)

    # --- sweeps --------------------------------------------------------------------------------
    def _progress(self, phase: int, fraction: float, text: str) -> None:
        done = sum(self.weights[:phase]) + self.weights[phase] * fraction
        self.ctx.progress(done, text)

    def up(self) -> list[_Point]:
        """Up-sweep over the coarse grid, shrinking steps where the emission is steep."""
        grid = self.control.grid
        x_span = math.log(grid[-1] / grid[0])
        points: list[_Point] = []
        setpoint = float(grid[0])
        k = 0  # index of the next coarse point not yet passed
        slope: float | None = None  # of the points so far
        while True:
            predicted = None
            if points and slope is not None:
                predicted = points[-1].rate_cps * (setpoint / points[-1].control) ** slope
            points.append(self.measure(setpoint, UP, 0, predicted))
            self._progress(0, math.log(setpoint / grid[0]) / x_span,
                           f"up-sweep {self.control.text(setpoint)}")
            while k < len(grid) and grid[k] <= setpoint * (1 + 1e-12):
                k += 1
            if k == len(grid):
                return points
            slope = self._recent_slope(points)
            setpoint = self._next_setpoint(setpoint, float(grid[k]), slope)

    def _recent_slope(self, points: list[_Point]) -> float | None:
        """d ln(signal)/d ln(setpoint) from the last reliable pair (conservatively the max of
        the last two estimates), or None while the signal is lost in the dark counts."""
        slopes = []
        for a, b in zip(points[-3:-1], points[-2:]):
            if a.precise and b.precise and b.control > a.control:
                slopes.append(math.log(b.signal_cps / a.signal_cps)
                              / math.log(b.control / a.control))
        return max(slopes) if slopes else None

    def _next_setpoint(self, current: float, next_coarse: float, slope: float | None) -> float:
        p = self.p
        if not p.refine or slope is None or slope <= 0 or self.extra_points >= p.max_refine_points:
            return next_coarse
        if slope * math.log(next_coarse / current) <= p.max_step_ln:
            return next_coarse
        step = max(p.max_step_ln / slope, math.log1p(MIN_RELATIVE_STEP))
        self.extra_points += 1
        return min(current * math.exp(step), next_coarse)

    def fill(self, points: list[_Point]) -> list[_Point]:
        """Measure extra points where neighbours still differ by more than the allowed step."""
        p = self.p
        todo: list[float] = []
        for a, b in zip(points, points[1:]):
            if not (a.reliable and b.reliable):
                continue
            jump = abs(math.log(b.signal_cps / a.signal_cps))
            noise = math.hypot(a.relative_error, b.relative_error)
            ratio = b.control / a.control
            # Refine only where the change is steep AND clearly more than counting noise.
            if (jump <= 1.5 * p.max_step_ln or jump <= 3.0 * noise
                    or ratio < 1 + 2 * MIN_RELATIVE_STEP):
                continue
            n_new = min(math.ceil(jump / p.max_step_ln) - 1,
                        int(math.log(ratio) / math.log1p(MIN_RELATIVE_STEP)) - 1)
            todo.extend(a.control * ratio ** (i / (n_new + 1)) for i in range(1, n_new + 1))
        budget = max(p.max_refine_points - self.extra_points, 0)
        todo = sorted(todo)[:budget]
        new_points = []
        for i, setpoint in enumerate(todo):
            new_points.append(self.measure(setpoint, UP, 1))
            self.extra_points += 1
            self._progress(1, (i + 1) / len(todo), f"fill pass {self.control.text(setpoint)}")
        return sorted(points + new_points, key=lambda q: q.control)

    def down(self, values: list[float]) -> None:
        ordered = sorted(set(values), reverse=True)
        for i, value in enumerate(ordered):
            self.measure(value, DOWN, 0)
            self._progress(2, (i + 1) / len(ordered), f"down-sweep {self.control.text(value)}")


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


