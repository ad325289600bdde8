"""The scanning half of the confocal procedures: frames that respect the galvos, pump
intensities at the focus, and frames streamed line by line into a run.

Shared by `confocal` (one field, or one field at a list of intensities) and `confocal_best`
(coarse image, rise trace, final image). Everything here talks to the bench through its roles
(`bench.scanner()`, `bench.laser()`, `bench.power_meter()`), so the same code drives the NI
card on hardware and the simulated card on the simulated bench.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from avlab.errors import ParameterError, SafetyLimitError
from avlab.procedure import RunContext
from instrument_data.galvo import GalvoCalibration, ScanLimitError, raster_waveform
from instrument_data.scanning import RasterFrame

#: Fewest turnaround samples before a line: they also give the galvo time to settle.
MIN_FLYBACK = 2
#: Auto flyback plans each turnaround step at this fraction of the slew limit.
FLYBACK_SLEW_FRACTION = 0.8


def calibration_of(scanner: Any) -> GalvoCalibration | None:
    """The galvo calibration behind a scanner role (None if its driver does not say)."""
    calibration = getattr(scanner.driver, "calibration", None)
    return calibration if isinstance(calibration, GalvoCalibration) else None


def auto_flyback(calibration: GalvoCalibration | None, *, width_um: float, height_um: float,
                 pixels_y: int, dwell_s: float, bidirectional: bool) -> int:
    """The fewest turnaround samples (≥ MIN_FLYBACK) whose steps stay within
    FLYBACK_SLEW_FRACTION of the slew limit: a unidirectional raster flies back across the
    whole width, a bidirectional one only steps one line in y."""
    if calibration is None:
        return MIN_FLYBACK
    per_volt = np.abs(np.asarray(calibration.um_per_volt))
    pitch_y = height_um / pixels_y
    dx_um = 0.0 if bidirectional else width_um
    distance_V = max(dx_um / per_volt[0], pitch_y / per_volt[1])
    max_step_V = FLYBACK_SLEW_FRACTION * calibration.max_slew_V_per_ms * 1e3 * dwell_s
    return max(MIN_FLYBACK, math.ceil(distance_V / max_step_V) - 1)


def limit_message(exc: ScanLimitError, frame: RasterFrame,
                  calibration: GalvoCalibration) -> str:
    """Say by how much a frame breaks a galvo limit, and what would bring it within."""
    if exc.quantity == "voltage":
        (x_lo, x_hi), (y_lo, y_hi) = calibration.reachable_um()
        half_w, half_h = frame.width_um / 2, frame.height_um / 2
        over_um = max(frame.x_center_um + half_w - x_hi, x_lo - (frame.x_center_um - half_w),
                      frame.y_center_um + half_h - y_hi, y_lo - (frame.y_center_um - half_h), 0.0)
        return (f"the field exceeds the galvo voltage limit: galvo {exc.axis} would need "
                f"{abs(exc.value):.4g} V, {abs(exc.value) - exc.limit:.3g} V beyond ±"
                f"{exc.limit:g} V (the field reaches {over_um:.4g} µm past the reachable "
                f"x {x_lo:.4g} … {x_hi:.4g} µm, y {y_lo:.4g} … {y_hi:.4g} µm); shrink the "
                "field or move its centre")
    factor = exc.value / exc.limit
    flyback = exc.index % frame.samples_per_line < frame.flyback_pixels \
        if frame.samples_per_line else False
    where = "the turnaround between lines" if flyback else "the pixel steps along a line"
    return (f"the field exceeds the galvo slew limit: {where} of galvo {exc.axis} would slew "
            f"at {exc.value:.4g} V/ms, {factor:.3g}× the {exc.limit:g} V/ms limit "
            f"({(factor - 1) * 100:.3g} % over); a dwell of at least "
            f"{frame.dwell_s * factor:.3g} s"
            + (f" or at least {math.ceil((frame.flyback_pixels + 1) * factor)} flyback pixels"
               if flyback else f" or a field {factor:.3g}× smaller")
            + " would be within it")


def check_frame(scanner: Any, frame: RasterFrame) -> None:
    """Refuse a frame beyond the galvo limits before anything moves (ParameterError, with
    the excess in numbers)."""
    calibration = calibration_of(scanner)
    if calibration is None:
        try:
            scanner.check_frame(frame)
        except SafetyLimitError as exc:
            raise ParameterError(str(exc)) from None
        return
    try:
        raster_waveform(frame, calibration)
    except ScanLimitError as exc:
        raise ParameterError(f"{scanner.role}: {limit_message(exc, frame, calibration)}") \
            from None


@dataclass(frozen=True)
class Field:
    """What to scan: a field, its sampling and how each line is averaged."""

    center_x_um: float
    center_y_um: float
    width_um: float
    height_um: float
    pixels_x: int
    pixels_y: int
    dwell_s: float
    bidirectional: bool = False
    flyback_pixels: int = -1  # -1: auto_flyback
    line_averages: int = 1
    frame_averages: int = 1

    def frame(self, scanner: Any) -> RasterFrame:
        """The whole frame as one raster (the frame checked against the limits)."""
        flyback = self.flyback_pixels
        if flyback < 0:
            flyback = auto_flyback(calibration_of(scanner), width_um=self.width_um,
                                   height_um=self.height_um, pixels_y=self.pixels_y,
                                   dwell_s=self.dwell_s, bidirectional=self.bidirectional)
        return RasterFrame(x_center_um=self.center_x_um, y_center_um=self.center_y_um,
                           width_um=self.width_um, height_um=self.height_um,
                           pixels_x=self.pixels_x, pixels_y=self.pixels_y,
                           dwell_s=self.dwell_s, flyback_pixels=flyback,
                           bidirectional=self.bidirectional)

    def x_um(self) -> np.ndarray:
        return RasterFrame(self.center_x_um, self.center_y_um, self.width_um, self.height_um,
                           self.pixels_x, self.pixels_y, self.dwell_s, 0).x_positions_um()

    def y_um(self) -> np.ndarray:
        return RasterFrame(self.center_x_um, self.center_y_um, self.width_um, self.height_um,
                           self.pixels_x, self.pixels_y, self.dwell_s, 0).y_positions_um()

    def line_frame(self, frame: RasterFrame, y_um: float) -> RasterFrame:
        """Line averaging: one line scanned `line_averages` times in a row (a frame of zero
        height), so its passes follow each other within one hardware task."""
        flyback = frame.flyback_pixels
        if self.flyback_pixels < 0 and not self.bidirectional:
            flyback = max(flyback, MIN_FLYBACK)
        return replace(frame, y_center_um=float(y_um), height_um=0.0,
                       pixels_y=self.line_averages, flyback_pixels=flyback)

    def check(self, scanner: Any) -> None:
        frame = self.frame(scanner)
        check_frame(scanner, frame)
        if self.line_averages > 1:
            check_frame(scanner, self.line_frame(frame, float(frame.y_positions_um()[0])))

    @property
    def lines_total(self) -> int:
        return self.pixels_y * self.frame_averages


def scan_field(ctx: RunContext, field: Field, item: str, index: tuple[int, ...] = (), *,
               on_line: Callable[[int], None] | None = None) -> np.ndarray:
    """Scan `field` and stream it into array item `item` as the lines arrive
    (`ctx.write(item, index + (j,), line)`, or the block of lines j… that one hardware read
    brought): counts summed over line and frame averages
    (Poisson counts stay Poisson). A frame-averaged line is written again after each pass
    with the sum so far. Returns the summed image (pixels_y, pixels_x), int64.

    The scanner role holds the hardware timing: one sample per pixel, the photons of each
    sample counted on the same clock (docs/protocols.md §4)."""
    scanner = ctx.bench.scanner()
    frame = field.frame(scanner)
    image = np.zeros((field.pixels_y, field.pixels_x), dtype=np.int64)
    done = 0
    for _ in range(field.frame_averages):
        if field.line_averages == 1:
            first: int | None = None  # first line of the hardware read in progress
            for line in scanner.scan_lines(frame):
                image[line.index] += line.counts
                first = line.index if first is None else first
                if not line.read_end:
                    continue
                # The lines of one read (consecutive, see LineResult.read_end) in one write.
                block = image[first:line.index + 1]
                ctx.write(item, index + (first,), block if len(block) > 1 else block[0])
                done += len(block)
                first = None
                if on_line is not None:
                    on_line(done)
        else:
            for j, y in enumerate(frame.y_positions_um()):
                for line in scanner.scan_lines(field.line_frame(frame, float(y))):
                    image[j] += line.counts
                ctx.write(item, index + (j,), image[j])
                done += 1
                if on_line is not None:
                    on_line(done)
    return image


# --- positions given as text ---------------------------------------------------------------------

def positions(text: str, name: str) -> Sequence[float] | None:
    """An 'x,y' position in µm of a Text parameter, or None when empty."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ParameterError(f"parameter {name}: {text!r} is not 'x,y' in µm") from None
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise ParameterError(f"parameter {name}: {text!r} is not 'x,y' in µm")
    return values
