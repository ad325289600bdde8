"""Best resolution in one command (`avlab run confocal_best`): coarse image → pick a particle
→ park on it and measure its S-curve → its rise time at the S peak → image it there.

Why this order: an ANP's spot is λ/(2·NA·√S) wide, so the sharpest image is taken at the
intensity of maximal S — which differs from particle to particle, so it is measured on the
particle itself. Near the S peak the particle's rise is slowest (critical slowing down, t½
~0.2 s for the default sample), so a pixel dwell shorter than t½ leaves the particle barely
lit and streaked along the scan: the rise time is measured too (the beam steps from beside
the particle onto it on the scan clock and the counts are traced), and the final dwell is
chosen from it (`dwell_per_rise` × t½) unless given, with a warning when it is shorter.

All parts go into one run file: the S-curve's point table (the S-curve procedure's own sweep,
as `scurve_rise` reuses it), the coarse image, the rise trace and the final image (the
default plot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from avlab.analysis.image import analyse_image
from avlab.bench import Bench
from avlab.data import ArrayItem, Axis, DataDescription
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
from avlab.views import ImageView, ReadoutView, View

from experiments.scurve.embedded import EmbeddedSCurve
from experiments.scurve.procedure import SCurve

from .analysis import reference_from_columns
from .procedure import analyse_run, image_item
from avlab.pump import Pump

from .scan import Field, check_frame, positions, scan_field
from instrument_data.scanning import RasterFrame

#: A rise trace's steady level is the mean of its last this fraction.
STEADY_FRACTION = 0.3
#: Counts per smoothing window at the steady level when locating t½.
COUNTS_PER_WINDOW = 25


def rise_half_time_s(trace: np.ndarray, bin_s: float) -> tuple[float, float]:
    """(t½, steady counts per bin) of a rise trace starting when the beam reached the
    particle: the first time the running mean crosses half the steady level (mean of the
    last STEADY_FRACTION), the window holding ~COUNTS_PER_WINDOW counts; NaN if the trace
    never rises clearly above its first bins."""
    trace = np.asarray(trace, dtype=float)
    n = trace.size
    tail = trace[int(n * (1 - STEADY_FRACTION)):]
    steady = float(tail.mean()) if tail.size else math.nan
    start = float(trace[: max(1, n // 50)].mean())
    if not steady > 0 or steady < 2 * start + 3 * math.sqrt(max(steady, 1) / max(tail.size, 1)):
        return math.nan, steady
    window = max(1, min(n // 10, math.ceil(COUNTS_PER_WINDOW / steady)))
    smooth = np.convolve(trace, np.ones(window) / window, mode="valid")
    times = (np.arange(smooth.size) + window / 2) * bin_s  # window centres
    half = 0.5 * steady
    above = np.flatnonzero(smooth >= half)
    if above.size == 0:
        return math.nan, steady
    k = int(above[0])
    if k == 0:
        return float(times[0]), steady
    f = (half - smooth[k - 1]) / (smooth[k] - smooth[k - 1])
    return float(times[k - 1] + f * bin_s), steady


class ConfocalBest(EmbeddedSCurve, Procedure):
    """Coarse image, S-curve and rise time of one particle, then its image at maximal S."""

    name = "confocal_best"
    title = "Best-resolution image of one ANP (coarse image, S-curve, image at maximal S)"

    pump_role = Text("", doc="laser role; empty: the bench's only laser")
    center_x_um = Float(0.0, unit="um", doc="centre of the coarse field")
    center_y_um = Float(0.0, unit="um", doc="centre of the coarse field")
    coarse_field_um = Float(2.0, minimum=0.01, maximum=10_000.0, unit="um",
                            doc="coarse field of view (square)")
    coarse_pixels = Int(40, minimum=4, maximum=4096, doc="coarse pixels per axis")
    coarse_dwell_s = Float(0.05, minimum=1e-7, maximum=60.0, unit="s", doc="coarse dwell")
    coarse_power_W = Float(1.0, minimum=0.0, unit="W",
                           doc="laser setpoint of the coarse image: well above threshold, "
                               "where particles are bright and fast")
    particle_um = Text("", doc="'x,y' of the particle to use (µm); empty: the brightest spot")
    scurve_power_max_W = Float(1.2, minimum=0.0, unit="W", doc="S-curve's highest setpoint")
    rise_bin_s = Float(0.01, minimum=1e-6, maximum=10.0, unit="s",
                       doc="sample period of the rise trace (scan clock)")
    rise_trace_s = Float(3.0, minimum=1e-3, maximum=3600.0, unit="s",
                         doc="length of the rise trace after the beam steps onto the particle")
    rise_repeats = Int(4, minimum=1, maximum=1000, doc="rise traces summed")
    final_field_um = Float(0.4, minimum=0.01, maximum=100.0, unit="um",
                           doc="final field of view, centred on the particle")
    final_pixels = Int(41, minimum=4, maximum=4096, doc="final pixels per axis")
    final_dwell_s = Float(0.0, minimum=0.0, maximum=60.0, unit="s",
                          doc="final dwell (0: dwell_per_rise × the measured t½)")
    dwell_per_rise = Float(10.0, minimum=0.1, maximum=1000.0,
                           doc="final dwell in units of the measured rise time t½")
    bidirectional = Bool(False, doc="bidirectional raster for both images")
    settle_s = Float(1.0, minimum=0.0, unit="s", doc="wait after each power change")

    columns = list(SCurve.columns)
    signal = SCurve.signal
    axes = SCurve.axes
    measurements = {**SCurve.measurements,
                    "wavelength_nm": "nm", "numerical_aperture": "",
                    "coarse_intensity_kW_cm2": "kW/cm^2",
                    "particle_x_um": "um", "particle_y_um": "um",
                    "s_max_measured": "", "s_peak_intensity_kW_cm2": "kW/cm^2",
                    "intensity_kW_cm2": "kW/cm^2", "t_half_s": "s",
                    "final_dwell_s": "s", "dwell_over_rise": ""}
    arrays = [image_item("coarse", "coarse_pixels", "coarse_pixels", ("coarse_y_um",
                                                                     "coarse_x_um")),
              ArrayItem("rise_counts", "counts", shape=("rise_bins",), dtype="i8",
                        axes=("rise_time_s",), interpretation="spectrum",
                        description="photons per scan-clock sample after the beam stepped "
                                    "onto the particle, summed over rise_repeats"),
              image_item("image", "final_pixels", "final_pixels", ("y_um", "x_um"))]
    default_plot = "image"

    # --- the data layout (the final field is centred on a particle picked during the run, so
    # its axes are relative: offsets from the particle, stored as measurements) ---------------
    @property
    def rise_bins(self) -> int:
        return max(2, round(self.rise_trace_s / self.rise_bin_s))

    def coarse_field(self) -> Field:
        return Field(self.center_x_um, self.center_y_um, self.coarse_field_um,
                     self.coarse_field_um, self.coarse_pixels, self.coarse_pixels,
                     self.coarse_dwell_s, self.bidirectional)

    def final_field(self, x_um: float, y_um: float, dwell_s: float) -> Field:
        return Field(x_um, y_um, self.final_field_um, self.final_field_um, self.final_pixels,
                     self.final_pixels, dwell_s, self.bidirectional)

    def describe_data(self) -> DataDescription:
        params = {name: getattr(self, name) for name in self.parameters()}
        params["rise_bins"] = self.rise_bins
        coarse = self.coarse_field()
        final = self.final_field(0.0, 0.0, 1.0)
        axes = (Axis("coarse_x_um", "um", "beam position, fast axis", values=tuple(coarse.x_um())),
                Axis("coarse_y_um", "um", "beam position, slow axis", values=tuple(coarse.y_um())),
                Axis("rise_time_s", "s", "time since the beam reached the particle (bin start)",
                     values=tuple(np.arange(self.rise_bins) * self.rise_bin_s)),
                Axis("x_um", "um", "beam position relative to the particle, fast axis",
                     values=tuple(final.x_um())),
                Axis("y_um", "um", "beam position relative to the particle, slow axis",
                     values=tuple(final.y_um())))
        return DataDescription(columns=tuple(self.columns),
                               arrays=tuple(a.resolve(params) for a in self.arrays), axes=axes,
                               measurements=dict(self.measurements), signal=self.signal,
                               plot_axes=(self.axes,), default="image")


    def rise_frame(self, x_um: float, y_um: float, step_um: float) -> RasterFrame:
        """Two lines of zero width: the first `step_um` below the particle (dark), the second on
        it; the second line's samples trace the rise from the moment the beam arrives."""
        return RasterFrame(x_center_um=x_um, y_center_um=y_um - step_um / 2, width_um=0.0,
                           height_um=2 * step_um, pixels_x=self.rise_bins, pixels_y=2,
                           dwell_s=self.rise_bin_s, flyback_pixels=0)

    # --- checks ------------------------------------------------------------------------------
    def check(self, bench: Bench) -> None:
        with roles_needed("confocal_best needs a scanner and a laser"):
            scanner = bench.scanner()
            pump = Pump.of(bench, self.pump_role)
        self.scurve().check(bench)
        pump.laser.check_power(self.coarse_power_W)
        self.coarse_field().check(scanner)
        given = positions(self.particle_um, "particle_um")
        x, y = given if given is not None else (self.center_x_um, self.center_y_um)
        self.final_field(x, y, self.final_dwell_s or 1.0).check(scanner)
        check_frame(scanner, self.rise_frame(x, y, self.step_um(bench)))

    def step_um(self, bench: Bench) -> float:
        """How far beside the particle the rise trace starts: 4 waists (the particle sees
        e^-32 of the peak intensity there)."""
        laser = bench.laser(self.pump_role or None)
        return 4.0 * bench.config.optics.waist_um(laser.wavelength_nm)

    # --- the run -----------------------------------------------------------------------------
    def run(self, ctx: RunContext) -> None:
        bench = ctx.bench
        pump = Pump.of(bench, self.pump_role)
        scanner = bench.scanner()
        ctx.measurement("wavelength_nm", pump.laser.wavelength_nm)
        ctx.measurement("numerical_aperture", bench.config.optics.numerical_aperture)
        if pump.meter is not None:
            pump.meter.configure(wavelength_nm=pump.laser.wavelength_nm)

        # 1. coarse image, well above threshold
        coarse = self.coarse_field()
        pump.laser.emission_off()
        pump.laser.set_power_W(self.coarse_power_W)
        with pump.laser.emitting():
            scanner.park(coarse.center_x_um, coarse.center_y_um)
            _, _, intensity = pump.set_power(ctx, self.coarse_power_W, self.settle_s)
            ctx.measurement("coarse_intensity_kW_cm2", intensity)
            pump.calibrate(ctx, self.coarse_power_W, 0.0)
            image = scan_field(ctx, coarse, "coarse", on_line=lambda n: ctx.progress(
                0.15 * n / coarse.lines_total, f"coarse image, line {n}"))
        x_um, y_um = self.pick(ctx, image, coarse)
        ctx.measurement("particle_x_um", x_um)
        ctx.measurement("particle_y_um", y_um)

        # 2. S-curve with the beam parked on the particle (the S-curve procedure's own sweep)
        scanner.park(x_um, y_um)
        rows: list[Mapping[str, Any]] = []
        self.scurve().run(_Part(ctx, 0.15, 0.55, rows))
        columns = {c.name: np.array([row.get(c.name, np.nan) for row in rows], dtype=float)
                   for c in SCurve.columns}
        dark_sigma = None
        reference = reference_from_columns(columns, dark_sigma, "this run")
        ctx.measurement("s_max_measured", reference.s_max)
        ctx.measurement("s_peak_intensity_kW_cm2", reference.threshold_kW_cm2)
        ctx.log(f"S_max {reference.s_max:.1f} at {reference.threshold_kW_cm2:.3g} kW/cm²")

        # 3. rise time at the S peak, then 4. the image there
        step = self.step_um(bench)
        pump.laser.set_power_W(pump.setpoint_W(reference.threshold_kW_cm2))
        with pump.laser.emitting():
            scanner.park(x_um, y_um)
            _, _, intensity = pump.set_intensity(ctx, reference.threshold_kW_cm2, self.settle_s)
            ctx.measurement("intensity_kW_cm2", intensity)
            ctx.progress(0.72, "rise trace at the S peak")
            trace = np.zeros(self.rise_bins, dtype=np.int64)
            for _ in range(self.rise_repeats):
                lines = list(scanner.scan_lines(self.rise_frame(x_um, y_um, step)))
                trace += lines[1].counts
            ctx.write("rise_counts", (), trace)
            t_half, _steady = rise_half_time_s(trace, self.rise_bin_s)
            ctx.measurement("t_half_s", t_half)
            dwell = self.final_dwell_s
            if not dwell:
                if not math.isfinite(t_half):
                    raise RuntimeError("the rise trace shows no clear rise (particle too dim or "
                                       "lost?); give final_dwell_s to image anyway")
                dwell = self.dwell_per_rise * t_half
            ctx.measurement("final_dwell_s", dwell)
            ctx.measurement("dwell_over_rise", dwell / t_half if t_half > 0 else math.nan)
            if math.isfinite(t_half) and dwell < t_half:
                ctx.log(f"final dwell {dwell:.3g} s is shorter than the particle's rise time "
                        f"t½ = {t_half:.3g} s: the particle will not reach its steady emission "
                        "within a pixel, so the spot is dim and streaked along the scan "
                        "(wider than λ/(2 NA √S))", 30)
            final = self.final_field(x_um, y_um, dwell)
            check_frame(scanner, final.frame(scanner))
            scan_field(ctx, final, "image", on_line=lambda n: ctx.progress(
                0.75 + 0.25 * n / final.lines_total, f"image at the S peak, line {n}"))
        ctx.progress(1.0, "done")

    def pick(self, ctx: RunContext, image: np.ndarray, field: Field) -> tuple[float, float]:
        """The particle to use: the fitted spot nearest `particle_um`, or the brightest."""
        x, y = field.x_um(), field.y_um()
        spots = analyse_image(image, x, y).spots
        given = positions(self.particle_um, "particle_um")
        if not spots:
            if given is not None:
                return float(given[0]), float(given[1])
            raise RuntimeError("no particle found in the coarse image; give particle_um or "
                               "raise coarse_power_W / coarse_dwell_s")
        if given is None:
            spot = spots[0]
        else:
            spot = min(spots, key=lambda s: math.hypot(s.x_um - given[0], s.y_um - given[1]))
        ctx.log(f"particle at ({spot.x_um:.3f}, {spot.y_um:.3f}) µm, "
                f"{len(spots)} spot(s) in the coarse image")
        return float(spot.x_um), float(spot.y_um)

    def views(self) -> tuple[View, ...]:
        return (ImageView("Coarse image", item="coarse"),) + self.scurve().views() + (
            ImageView("Image at maximal S", item="image"),
            ReadoutView("Best resolution", values=("s_max_measured", "t_half_s",
                                                   "median_fwhm_nm", "predicted_fwhm_nm")))

    # --- after the run -----------------------------------------------------------------------
    def analyse(self, run: Any) -> AnalysisResult:
        measured = run.results.get("measurements", {})
        dark_sigma = measured.get("dark_rate_sigma_cps", (None, ""))[0]
        summary: list[str] = []
        scalars: dict[str, tuple[Any, str]] = {}
        arrays: dict[str, tuple[np.ndarray, str]] = {}
        reference = None
        scurve_columns = {k: v for k, v in run.columns.items()}
        if run.n_points:
            from experiments.scurve.report import analyse_sweeps

            report = analyse_sweeps(scurve_columns, dark_sigma)
            summary += ["S-curve: " + line for line in report.summary_lines()]
            scalars.update(report.as_records())
            arrays.update(report.as_arrays())
            reference = reference_from_columns(scurve_columns, dark_sigma, "this run")
        t_half = measured.get("t_half_s", (math.nan, ""))[0]
        dwell = measured.get("final_dwell_s", (math.nan, ""))[0]
        if t_half is not None and math.isfinite(t_half):
            summary.append(f"rise time at the S peak t½ = {t_half:.3g} s; final dwell "
                           f"{dwell:.3g} s ({dwell / t_half:.2g} t½)")
            if dwell < t_half:
                summary.append("WARNING: the final dwell is shorter than the rise time: the "
                               "spot is dim and streaked, not at its best resolution")
        detail = None
        if "image" in run.arrays and run.arrays["image"].rows_written()[0]:
            intensity = measured.get("intensity_kW_cm2", (math.nan, ""))[0]
            confocal = analyse_run(run, item="image", reference=reference)
            frame = confocal.frames[0]
            frame.intensity_kW_cm2 = float(intensity)
            if reference is not None:
                # at the S peak: S_max itself (the interpolated slope is rounded off there)
                from avlab.analysis.image import passi_fwhm_nm

                frame.slope = reference.s_max
                frame.predicted_fwhm_nm = passi_fwhm_nm(confocal.wavelength_nm,
                                                        confocal.numerical_aperture,
                                                        reference.s_max)
            summary += confocal.summary_lines()
            scalars.update(confocal.scalars())
            arrays.update(confocal.arrays())
            detail = confocal
        return AnalysisResult(summary=summary, scalars=scalars, arrays=arrays, detail=detail)

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Any) -> Any:
        from .plot import plot_best

        return plot_best(run, analysis, png_path)


class _Part(RunContext):
    """The run context of the S-curve part: its progress mapped into [start, start + span],
    its rows also kept (the workflow picks the intensity of maximal S from them)."""

    def __init__(self, ctx: RunContext, start: float, span: float,
                 rows: list[Mapping[str, Any]]) -> None:
        super().__init__(ctx.bench, record=self._keep, measurement=ctx._measurement,
                         progress=ctx._progress, write=ctx._write, log=ctx._log)
        self._outer_record = ctx._record
        self._rows = rows
        self._start, self._span = start, span

    def _keep(self, row: Mapping[str, Any]) -> None:
        self._outer_record(row)
        self._rows.append(dict(row))

    def progress(self, fraction: float, message: str = "") -> None:
        super().progress(self._start + self._span * min(max(fraction, 0.0), 1.0), message)
