"""Confocal image of single ANPs (`avlab run confocal`): one field, or the same field at a
list of pump powers or intensities, hardware-timed through the scanner role.

Each line is written to the run file as it arrives (one flushed chunk, then a ChunkWritten
event for live views; lines that one hardware read brought together go in one chunk), so a
killed run keeps every line the scanner delivered. A single field is a 2-D
image item; a power series is a stack of frames along a growing intensity axis. The field is
checked against the galvo's voltage and slew limits before anything moves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from avlab.bench import Bench
from avlab.data import ArrayItem, Axis, Column, DataDescription
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
from avlab.views import ImageView, ReadoutView, View

from .analysis import ConfocalReport, analyse_frames, reference_from_run
from avlab.pump import Pump

from .scan import Field, scan_field

IMAGE_AXES = ("y_um", "x_um")
STACK_AXIS = "frame_intensity_kW_cm2"

FRAME_COLUMNS = [
    Column("frame", "", "i8", "frame index in the stack"),
    Column("power_setpoint_W", "W", "f8", "laser output setpoint"),
    Column("meter_power_W", "W", "f8", "power at the power-meter plane before the frame"),
    Column("intensity_kW_cm2", "kW/cm^2", "f8", "peak pump intensity 2P/(pi w0^2) at the focus"),
    Column("dwell_s", "s", "f8", "pixel dwell (one sample of the scan clock)"),
    Column("bench_time_s", "s", "f8", "bench clock when the frame starts"),
]


def image_item(name: str, ny: int | str, nx: int | str, axes: tuple[str, str], *,
               stacked: bool = False, description: str = "") -> ArrayItem:
    return ArrayItem(name, "counts", shape=(ny, nx), dtype="i8", stacked=stacked,
                     axes=((STACK_AXIS,) if stacked else ()) + axes, interpretation="image",
                     description=description or "photons per pixel, summed over the line and "
                                                "frame averages")


class Confocal(Procedure):
    """A raster image of the pump focus scanned over sparse ANPs."""

    name = "confocal"
    title = "Confocal image of single ANPs"

    pump_role = Text("", doc="laser role; empty: the bench's only laser")
    center_x_um = Float(0.0, unit="um", doc="field centre, fast axis")
    center_y_um = Float(0.0, unit="um", doc="field centre, slow axis")
    field_um = Float(2.0, minimum=0.0, maximum=10_000.0, unit="um",
                     doc="field of view along the fast axis (x)")
    field_y_um = Float(0.0, minimum=0.0, maximum=10_000.0, unit="um",
                       doc="field of view along y (0: square, = field_um)")
    pixels_x = Int(64, minimum=2, maximum=8192, doc="pixels per line")
    pixels_y = Int(64, minimum=1, maximum=8192, doc="lines per frame")
    dwell_s = Float(1e-3, minimum=1e-7, maximum=60.0, unit="s",
                    doc="time per pixel = one sample of the scan clock; an ANP near threshold "
                        "needs several of its rise times (t½ ~0.2 s) to reach steady state")
    bidirectional = Bool(False, doc="odd lines scanned towards -x (no flyback across the field)")
    flyback_pixels = Int(-1, minimum=-1, maximum=100_000,
                         doc="turnaround samples per line (-1: the fewest the slew limit allows)")
    line_averages = Int(1, minimum=1, maximum=1000, doc="passes of each line, summed")
    frame_averages = Int(1, minimum=1, maximum=1000, doc="passes of the frame, summed")
    power_W = Float(0.3, minimum=0.0, unit="W",
                    doc="laser output setpoint when no intensity or series is given; else the "
                        "probe setpoint at which the meter calibrates intensities")
    intensity_kW_cm2 = Float(0.0, minimum=0.0, unit="kW/cm^2",
                             doc="peak intensity at the focus (0: use power_W); converted "
                                 "with the bench optics (NA, transmission)")
    powers_W = Text("", doc="power series: laser setpoints, comma separated (W)")
    intensities_kW_cm2 = Text("", doc="power series: intensities at the focus (kW/cm²)")
    relative_intensities = Text("", doc="power series: intensities as multiples of the S-peak "
                                        "intensity (from threshold_kW_cm2 or scurve_run)")
    threshold_kW_cm2 = Float(0.0, minimum=0.0, unit="kW/cm^2",
                             doc="S-peak intensity for relative_intensities (0: scurve_run's)")
    scurve_run = Text("", doc="run file with an S-curve of this sample: S for the comparison "
                              "with λ/(2 NA √S), and the threshold for relative_intensities")
    settle_s = Float(1.0, minimum=0.0, maximum=3600.0, unit="s",
                     doc="wait after each power change, with the beam parked at the centre")

    columns = FRAME_COLUMNS
    signal, axes = "intensity_kW_cm2", "frame"  # the frame table's own plot; the image is first
    arrays = [image_item("counts", "pixels_y", "pixels_x", IMAGE_AXES)]
    default_plot = "counts"
    measurements = {"waist_um": "um", "transmission_to_sample": "",
                    "wavelength_nm": "nm", "numerical_aperture": "",
                    "flyback_pixels": "", "frame_duration_s": "s"}

    # --- what is scanned --------------------------------------------------------------------
    def field(self) -> Field:
        return Field(self.center_x_um, self.center_y_um, self.field_um,
                     self.field_y_um or self.field_um, self.pixels_x, self.pixels_y,
                     self.dwell_s, self.bidirectional, self.flyback_pixels,
                     self.line_averages, self.frame_averages)

    def series_kind(self) -> str:
        given = [name for name in ("powers_W", "intensities_kW_cm2", "relative_intensities")
                 if getattr(self, name).strip()]
        if len(given) > 1:
            raise ParameterError(f"give one power series, not {' and '.join(given)}")
        return given[0] if given else ""

    def is_series(self) -> bool:
        return bool(self.series_kind())

    def targets(self) -> list[tuple[str, float]]:
        """The frames' pump settings: ("W", setpoint) or ("kW/cm2", intensity)."""
        kind = self.series_kind()
        if kind == "powers_W":
            return [("W", p) for p in parse_number_list(self.powers_W, kind)]
        if kind == "intensities_kW_cm2":
            return [("kW/cm2", i) for i in parse_number_list(self.intensities_kW_cm2, kind)]
        if kind == "relative_intensities":
            threshold = self.threshold_kW_cm2
            if not threshold:
                if not self.scurve_run:
                    raise ParameterError("relative_intensities needs threshold_kW_cm2 or an "
                                         "S-curve run file (scurve_run)")
                threshold = reference_from_run(self.scurve_run).threshold_kW_cm2
            ratios = parse_number_list(self.relative_intensities, kind)
            return [("kW/cm2", r * threshold) for r in ratios]
        if self.intensity_kW_cm2:
            return [("kW/cm2", self.intensity_kW_cm2)]
        return [("W", self.power_W)]

    def describe_data(self) -> DataDescription:
        params = {name: getattr(self, name) for name in self.parameters()}
        stacked = self.is_series()
        item = image_item("counts", "pixels_y", "pixels_x", IMAGE_AXES, stacked=stacked)
        field = self.field()
        axes = [Axis("x_um", "um", "beam position, fast axis", values=tuple(field.x_um())),
                Axis("y_um", "um", "beam position, slow axis", values=tuple(field.y_um()))]
        if stacked:
            axes.insert(0, Axis(STACK_AXIS, "kW/cm^2", "pump peak intensity of each frame"))
        return DataDescription(columns=tuple(self.columns), arrays=(item.resolve(params),),
                               axes=tuple(axes), measurements=dict(self.measurements),
                               signal=self.signal, plot_axes=(self.axes,), default="counts")

    # --- checks ------------------------------------------------------------------------------
    def check(self, bench: Bench) -> None:
        with roles_needed("confocal needs a scanner and a laser"):
            scanner = bench.scanner()
            pump = Pump.of(bench, self.pump_role)
        if self.field_um <= 0:
            raise ParameterError("the field of view must be larger than zero")
        for unit, value in self.targets():
            if unit == "W":
                pump.laser.check_power(value)
        if self.scurve_run:
            reference_from_run(self.scurve_run)
        self.field().check(scanner)

    # --- the run -----------------------------------------------------------------------------
    def run(self, ctx: RunContext) -> None:
        bench = ctx.bench
        pump = Pump.of(bench, self.pump_role)
        scanner = bench.scanner()
        field = self.field()
        frame = field.frame(scanner)
        for name, value in (("waist_um", pump.waist_um),
                            ("transmission_to_sample", pump.transmission),
                            ("wavelength_nm", pump.laser.wavelength_nm),
                            ("numerical_aperture", bench.config.optics.numerical_aperture),
                            ("flyback_pixels", frame.flyback_pixels),
                            ("frame_duration_s", frame.duration_s * field.frame_averages
                             * field.line_averages)):
            ctx.measurement(name, value)
        if pump.meter is not None:
            pump.meter.configure(wavelength_nm=pump.laser.wavelength_nm)
        targets = self.targets()
        stacked = self.is_series()
        lines_total = field.lines_total * len(targets)
        pump.laser.emission_off()
        pump.laser.set_power_W(self.power_W)
        with pump.laser.emitting():
            if any(unit != "W" for unit, _ in targets):
                scanner.park(field.center_x_um, field.center_y_um)
                pump.calibrate(ctx, self.power_W, self.settle_s)
            for k, (unit, value) in enumerate(targets):
                scanner.park(field.center_x_um, field.center_y_um)
                if unit == "W":
                    setpoint, meter_W, intensity = pump.set_power(ctx, value, self.settle_s)
                else:
                    setpoint, meter_W, intensity = pump.set_intensity(ctx, value, self.settle_s)
                label = f"{intensity:.3g} kW/cm²"
                if stacked:
                    ctx.write(STACK_AXIS, (k,), intensity)

                def on_line(done: int, k: int = k, label: str = label) -> None:
                    lines = k * field.lines_total + done
                    ctx.progress(lines / lines_total, f"line {done}/{field.lines_total} at "
                                                      f"{label}")

                ctx.record(frame=k, power_setpoint_W=setpoint, meter_power_W=meter_W,
                           intensity_kW_cm2=intensity, dwell_s=frame.dwell_s,
                           bench_time_s=bench.now())
                scan_field(ctx, field, "counts", (k,) if stacked else (), on_line=on_line)
        ctx.progress(1.0, "done")

    def views(self) -> tuple[View, ...]:
        views: tuple[View, ...] = (ImageView("Confocal image", item="counts"),)
        return views + (ReadoutView("Spots", values=("n_spots", "median_fwhm_nm",
                                                     "predicted_fwhm_nm")),)

    # --- after the run -----------------------------------------------------------------------
    def analyse(self, run: Any) -> AnalysisResult:
        report = analyse_run(run, self.scurve_run)
        return AnalysisResult(summary=report.summary_lines(), scalars=report.scalars(),
                              arrays=report.arrays(), detail=report)

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Any) -> Any:
        from .plot import plot_confocal

        report = analysis.detail if analysis is not None else None
        return plot_confocal(run, report, png_path)


def _measured(run: Any, name: str, default: float = math.nan) -> float:
    value = run.results.get("measurements", {}).get(name, (default, ""))[0]
    return float(value) if value is not None else default


def analyse_run(run: Any, scurve_run: str = "", item: str = "counts",
                reference: Any = None) -> ConfocalReport:
    """Analyse the frames of `item` in a confocal run (each finished line counts; unwritten
    lines are zero)."""
    handle = run.arrays[item]
    y_name, x_name = [a for a in handle.axes if a][-2:]
    x_um, y_um = run.array_axes[x_name], run.array_axes[y_name]
    if reference is None and scurve_run:
        reference = reference_from_run(scurve_run)
    images: list[tuple[int, float, np.ndarray]] = []
    intensities = run.columns.get("intensity_kW_cm2", np.zeros(0))
    frames = run.columns.get("frame", np.zeros(0))
    if handle.stacked:
        axis = run.array_axes.get(handle.axes[0], np.zeros(0))
        for k in range(handle.shape[0]):
            intensity = float(axis[k]) if k < len(axis) else math.nan
            images.append((k, intensity, np.asarray(handle[k])))
    else:
        intensity = float(intensities[-1]) if len(frames) else math.nan
        images.append((0, intensity, np.asarray(handle.read())))
    report = analyse_frames(images, x_um, y_um,
                            wavelength_nm=_measured(run, "wavelength_nm", 1064.0),
                            numerical_aperture=_measured(run, "numerical_aperture", 1.49),
                            reference=reference)
    return report
