"""Galvo calibration (µm ↔ volts), the waveform limits, and the raster waveform builder.

A galvo amplifier (Thorlabs GVS002/GVS012, Cambridge Technology) turns a ±10 V command into a
mirror angle (jumper-set, e.g. 0.5, 0.8 or 1 V per mechanical degree); the scan optics turn the
angle into a displacement of the focus. Two limits protect the galvos and must hold for every
sample before anything is written to the card:

* **voltage**: |V| ≤ `max_volts` (the amplifier's input range, and the AO channel range);
* **slew rate**: |ΔV| per sample × sample rate ≤ `max_slew_V_per_ms` (a galvo driven faster
  than it can follow overheats its coils and lags the command; for the GVS series one project
  derives ≈15.7 V/ms from the 250 Hz full-scale sine spec — docs/protocols.md §4).

The waveform follows the counting scheme of docs/protocols.md §4: one AO sample per pixel, the
counter latching its cumulative count on every AO sample-clock edge. Edge k moves the spot to
sample k and latches the count so far; the photons of sample k are counted until edge k+1. So
N pixels need N+1 samples (the first latch is the reference, `np.diff` of the cumulative counts
gives N pixels), and the final sample only closes the last pixel. Turnaround (flyback) samples
before each line are counted like pixels and dropped in software.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .scanning import LineResult, RasterFrame

AXES = ("x", "y")


class ScanLimitError(ValueError):
    """A galvo waveform would exceed the voltage or slew-rate limit; nothing was written.

    Attributes name the offending `axis` ('x' or 'y'), the sample `index` in the waveform, the
    `value` asked for (V or V/ms) and the `limit` it breaks; `quantity` is 'voltage' or 'slew'.
    """

    def __init__(self, message: str, *, axis: str, index: int, value: float, limit: float,
                 quantity: str) -> None:
        super().__init__(message)
        self.axis = axis
        self.index = index
        self.value = value
        self.limit = limit
        self.quantity = quantity


def _pair(value: float | tuple[float, float] | list[float], name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        pair = (float(value), float(value))
    else:
        items = tuple(float(v) for v in value)
        if len(items) != 2:
            raise ValueError(f"{name} takes one number or an (x, y) pair, got {value!r}")
        pair = items  # type: ignore[assignment]
    if not all(math.isfinite(v) for v in pair):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return pair


@dataclass(frozen=True, kw_only=True)
class GalvoCalibration:
    """µm ↔ volts for the x and y galvos, and the limits every waveform must respect.

    `volts_per_degree` is the amplifier's input scale per *mechanical* degree; `um_per_degree`
    is the displacement of the focus in the sample plane per mechanical degree (measure it by
    scanning a grid target, or compute it with `from_optics`); a negative `um_per_degree` flips
    an axis. Each of these and `offset_volts` (the command that centres the spot on the optical
    axis) takes one number for both axes or an (x, y) pair.
    """

    volts_per_degree: float | tuple[float, float]
    um_per_degree: float | tuple[float, float]
    max_slew_V_per_ms: float
    max_volts: float = 10.0
    offset_volts: float | tuple[float, float] = 0.0

    def __post_init__(self) -> None:
        vpd = _pair(self.volts_per_degree, "volts_per_degree")
        upd = _pair(self.um_per_degree, "um_per_degree")
        offset = _pair(self.offset_volts, "offset_volts")
        if min(vpd) <= 0:
            raise ValueError(f"volts_per_degree must be positive, got {self.volts_per_degree!r}")
        if 0.0 in upd:
            raise ValueError(f"um_per_degree must not be zero, got {self.um_per_degree!r}")
        if not (math.isfinite(self.max_volts) and self.max_volts > 0):
            raise ValueError(f"max_volts must be positive, got {self.max_volts!r}")
        if not (math.isfinite(self.max_slew_V_per_ms) and self.max_slew_V_per_ms > 0):
            raise ValueError(f"max_slew_V_per_ms must be positive, got {self.max_slew_V_per_ms!r}")
        if max(abs(v) for v in offset) >= self.max_volts:
            raise ValueError(f"offset_volts {self.offset_volts!r} is outside ±{self.max_volts} V")
        object.__setattr__(self, "volts_per_degree", vpd)
        object.__setattr__(self, "um_per_degree", upd)
        object.__setattr__(self, "offset_volts", offset)

    @classmethod
    def from_optics(cls, *, volts_per_degree: float | tuple[float, float],
                    objective_focal_length_mm: float, scan_lens_focal_length_mm: float,
                    tube_lens_focal_length_mm: float, max_slew_V_per_ms: float,
                    max_volts: float = 10.0,
                    offset_volts: float | tuple[float, float] = 0.0) -> GalvoCalibration:
        """Calibration from the scan optics (small-angle estimate; measure to confirm).

        The beam is deflected by twice the mechanical angle; the scan-lens/tube-lens telescope
        divides that angle by f_tube/f_scan; the objective (f_obj = tube-lens design focal
        length / magnification, e.g. 200 mm / 100× = 2 mm) turns it into a displacement.
        """
        for name, value in (("objective_focal_length_mm", objective_focal_length_mm),
                            ("scan_lens_focal_length_mm", scan_lens_focal_length_mm),
                            ("tube_lens_focal_length_mm", tube_lens_focal_length_mm)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        um_per_degree = (2.0 * math.radians(1.0) * objective_focal_length_mm * 1e3
                         * scan_lens_focal_length_mm / tube_lens_focal_length_mm)
        return cls(volts_per_degree=volts_per_degree, um_per_degree=um_per_degree,
                   max_slew_V_per_ms=max_slew_V_per_ms, max_volts=max_volts,
                   offset_volts=offset_volts)

    # --- conversion ----------------------------------------------------------------------------
    @property
    def um_per_volt(self) -> tuple[float, float]:
        """(x, y) displacement of the spot per volt of command (µm/V)."""
        vpd, upd = self.volts_per_degree, self.um_per_degree
        return upd[0] / vpd[0], upd[1] / vpd[1]  # type: ignore[index]

    def to_volts(self, positions_um: np.ndarray | tuple[float, float]) -> np.ndarray:
        """Command volts for positions (µm); the first axis of the array is (x, y)."""
        positions = np.asarray(positions_um, dtype=float)
        scale = np.array(self.um_per_volt).reshape((2,) + (1,) * (positions.ndim - 1))
        offset = np.array(self.offset_volts).reshape(scale.shape)
        return positions / scale + offset

    def to_um(self, volts: np.ndarray | tuple[float, float]) -> np.ndarray:
        """Positions (µm) for command volts; the first axis of the array is (x, y)."""
        volts = np.asarray(volts, dtype=float)
        scale = np.array(self.um_per_volt).reshape((2,) + (1,) * (volts.ndim - 1))
        offset = np.array(self.offset_volts).reshape(scale.shape)
        return (volts - offset) * scale

    def reachable_um(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x_min, x_max), (y_min, y_max)) µm reachable within ±max_volts."""
        low = self.to_um((-self.max_volts, -self.max_volts))
        high = self.to_um((self.max_volts, self.max_volts))
        return ((min(low[0], high[0]), max(low[0], high[0])),
                (min(low[1], high[1]), max(low[1], high[1])))

    # --- limits ----------------------------------------------------------------------------------
    def check_waveform(self, volts: np.ndarray, sample_rate_Hz: float, *,
                       start_volts: np.ndarray | tuple[float, float] | None = None) -> None:
        """Raise ScanLimitError unless every sample of `volts` (shape (2, n): x row, y row)
        is within ±max_volts and every step between samples slews at most max_slew_V_per_ms
        at `sample_rate_Hz`. With `start_volts` (where the outputs are now), the step into the
        first sample is checked too. The first violation found is reported; voltage first."""
        volts = np.asarray(volts, dtype=float)
        if volts.ndim != 2 or volts.shape[0] != 2 or volts.shape[1] < 1:
            raise ValueError(f"a galvo waveform has shape (2, n), got {volts.shape}")
        if not (math.isfinite(sample_rate_Hz) and sample_rate_Hz > 0):
            raise ValueError(f"sample rate must be positive, got {sample_rate_Hz!r} Hz")
        bad = ~np.isfinite(volts) | (np.abs(volts) > self.max_volts)
        if bad.any():
            axis, index = _first(bad)
            value = float(volts[axis, index])
            raise ScanLimitError(
                f"galvo {AXES[axis]}: sample {index} of the waveform asks {value:.4g} V, beyond "
                f"the ±{self.max_volts:g} V limit (position "
                f"{float(self.to_um(volts[:, index])[axis]):.4g} µm; reachable "
                f"{self.reachable_um()[axis][0]:.4g} … {self.reachable_um()[axis][1]:.4g} µm)",
                axis=AXES[axis], index=index, value=value, limit=self.max_volts,
                quantity="voltage")
        if start_volts is not None:
            start = np.asarray(start_volts, dtype=float).reshape(2, 1)
            steps = np.diff(np.concatenate([start, volts], axis=1), axis=1)
            first_index = 0
        else:
            steps = np.diff(volts, axis=1)
            first_index = 1
        if steps.shape[1] == 0:
            return
        slew_V_per_ms = np.abs(steps) * sample_rate_Hz / 1e3
        too_fast = slew_V_per_ms > self.max_slew_V_per_ms * (1.0 + 1e-9)
        if too_fast.any():
            axis, step = _first(too_fast)
            value = float(slew_V_per_ms[axis, step])
            raise ScanLimitError(
                f"galvo {AXES[axis]}: the step into sample {step + first_index} slews at "
                f"{value:.4g} V/ms, above the {self.max_slew_V_per_ms:g} V/ms limit; lengthen "
                "the dwell, add flyback pixels or scan a smaller field",
                axis=AXES[axis], index=step + first_index, value=value,
                limit=self.max_slew_V_per_ms, quantity="slew")

    def ramp(self, start_volts: np.ndarray | tuple[float, float],
             end_volts: np.ndarray | tuple[float, float], sample_rate_Hz: float, *,
             slew_fraction: float = 0.5) -> np.ndarray:
        """A straight, slew-limited move from `start_volts` to `end_volts` sampled at
        `sample_rate_Hz`: shape (2, m), m ≥ 2 (finite AO generation needs two samples), the
        last sample at the end point; steps use at most `slew_fraction` of the slew limit.
        The end point is checked against the voltage limit (ScanLimitError)."""
        start = np.asarray(start_volts, dtype=float).reshape(2)
        end = np.asarray(end_volts, dtype=float).reshape(2)
        if not 0 < slew_fraction <= 1:
            raise ValueError(f"slew_fraction must be in (0, 1], got {slew_fraction}")
        max_step = slew_fraction * self.max_slew_V_per_ms * 1e3 / sample_rate_Hz
        distance = float(np.max(np.abs(end - start)))
        steps = max(2, math.ceil(distance / max_step))
        fractions = np.arange(1, steps + 1) / steps
        volts = start[:, None] + (end - start)[:, None] * fractions[None, :]
        self.check_waveform(volts, sample_rate_Hz, start_volts=start)
        return volts


def _first(mask: np.ndarray) -> tuple[int, int]:
    """(axis, sample) of the earliest True in a (2, n) mask; x before y at the same sample."""
    columns = np.flatnonzero(mask.any(axis=0))
    index = int(columns[0])
    axis = 0 if mask[0, index] else 1
    return axis, index


@dataclass(frozen=True, eq=False)
class RasterWaveform:
    """The sampled galvo path of one frame, and how its counts map back to pixels.

    Sample layout: per line, `flyback_samples` turnaround samples then `pixels_per_line` pixel
    samples (reversed in x on odd lines of a bidirectional frame); then one final sample at the
    last pixel that closes it. Line 0's turnaround holds the first pixel (settling time after
    the move to the frame start); later turnarounds move in a straight line from the previous
    line's last pixel to the next line's first pixel.
    """

    frame: RasterFrame
    #: Spot positions (µm), shape (2, n_samples).
    positions_um: np.ndarray
    #: Galvo commands (V), shape (2, n_samples), checked against the calibration's limits.
    volts: np.ndarray

    @property
    def sample_rate_Hz(self) -> float:
        return 1.0 / self.frame.dwell_s

    @property
    def n_samples(self) -> int:
        return self.volts.shape[1]

    @property
    def samples_per_line(self) -> int:
        return self.frame.samples_per_line

    @property
    def flyback_samples(self) -> int:
        return self.frame.flyback_pixels

    @property
    def lines(self) -> int:
        return self.frame.pixels_y

    def line_samples(self, line: int) -> slice:
        """The samples (flyback and pixels) of `line` within the waveform."""
        start = line * self.samples_per_line
        return slice(start, start + self.samples_per_line)

    def is_forward(self, line: int) -> bool:
        return not (self.frame.bidirectional and line % 2 == 1)

    def line_result(self, line: int, sample_counts: np.ndarray, dwell_s: float, *,
                    read_end: bool = True) -> LineResult:
        """A LineResult from the counts of every sample of `line` (flyback included, in scan
        order): flyback dropped, pixels put in ascending x. `read_end`: the last line of the
        hardware read that brought it."""
        counts = np.asarray(sample_counts)
        if counts.shape != (self.samples_per_line,):
            raise ValueError(f"line {line} has {self.samples_per_line} samples, got counts of "
                             f"shape {counts.shape}")
        pixels = counts[self.flyback_samples:].astype(np.int64)
        forward = self.is_forward(line)
        if not forward:
            pixels = pixels[::-1]
        return LineResult(index=line, y_um=float(self.frame.y_positions_um()[line]),
                          x_um=self.frame.x_positions_um(), counts=pixels,
                          dwell_s=float(dwell_s), forward=forward, read_end=read_end)


def raster_positions_um(frame: RasterFrame) -> np.ndarray:
    """Spot positions (µm) of every sample of `frame`, shape (2, n_samples); see
    `RasterWaveform` for the layout."""
    xs = frame.x_positions_um()
    ys = frame.y_positions_um()
    F, N = frame.flyback_pixels, frame.pixels_x
    out = np.empty((2, frame.n_samples))
    previous: np.ndarray | None = None
    for j, y in enumerate(ys):
        line_x = xs[::-1] if (frame.bidirectional and j % 2 == 1) else xs
        first = np.array([line_x[0], y])
        start = j * (F + N)
        if F:
            origin = first if previous is None else previous
            t = np.arange(1, F + 1) / (F + 1)
            out[:, start:start + F] = origin[:, None] + (first - origin)[:, None] * t[None, :]
        out[0, start + F:start + F + N] = line_x
        out[1, start + F:start + F + N] = y
        previous = np.array([line_x[-1], y])
    out[:, -1] = out[:, -2]
    return out


@functools.lru_cache(maxsize=8)
def raster_waveform(frame: RasterFrame, calibration: GalvoCalibration) -> RasterWaveform:
    """The checked galvo waveform of `frame`: raises ScanLimitError (nothing is written)
    if any sample is beyond the voltage limit or any step beyond the slew limit.

    Cached (frames and calibrations are frozen values): a procedure's check, the scanner role
    and the driver each ask for the same frame's waveform, and building and checking the
    ~270,000 samples of a 512 × 512 frame three times cost a sixth of a frame's scan time.
    The arrays are read-only, so no caller can change what the others get."""
    positions = raster_positions_um(frame)
    volts = calibration.to_volts(positions)
    calibration.check_waveform(volts, 1.0 / frame.dwell_s)
    positions.flags.writeable = False
    volts.flags.writeable = False
    return RasterWaveform(frame=frame, positions_um=positions, volts=volts)
