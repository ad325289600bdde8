"""Raster frames and scanned lines: the data a scanner and its simulated twin exchange.

A confocal image of single ANPs is a raster of pixels; at each pixel the spot dwells for
`dwell_s` while a counter counts detector pulses. These types describe *what* is scanned and
*what* came back, with no notion of how (a card, a twin): a `RasterFrame` is immutable and cheap
to record with the run, a `LineResult` is one line of counts in ascending x. Coordinates are in
µm in the sample plane, x along a line (the fast axis), y across lines. numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .numbers import finite_real, integer


@dataclass(frozen=True)
class RasterFrame:
    """One raster scan: a `width_um` × `height_um` field around a centre, sampled on
    `pixels_x` × `pixels_y` pixel centres.

    Each pixel is one sample of the hardware clock, so every pixel gets the same `dwell_s`.
    Before each line the spot spends `flyback_pixels` samples (each `dwell_s` long) moving from
    the end of the previous line to the start of this one; those samples are counted by the
    hardware and dropped in software, and they are what keeps the galvo within its slew limit.
    With `bidirectional` the odd lines run towards −x (no long flyback in x, twice the speed
    for the same dwell, at the price of a possible line-to-line shift from galvo lag).

    Pixel centres are spaced `width_um / pixels_x` apart and centred on `x_center_um` (likewise
    in y), so the pixels tile the field exactly. Line 0 is the lowest y.
    """

    x_center_um: float
    y_center_um: float
    width_um: float
    height_um: float
    pixels_x: int
    pixels_y: int
    dwell_s: float
    flyback_pixels: int
    bidirectional: bool = False

    def __post_init__(self) -> None:
        for name in ("x_center_um", "y_center_um", "width_um", "height_um", "dwell_s"):
            finite_real(getattr(self, name), name)
        for name in ("pixels_x", "pixels_y", "flyback_pixels"):
            integer(getattr(self, name), name)
        if self.pixels_x < 1 or self.pixels_y < 1:
            raise ValueError(f"a frame needs at least one pixel per axis, got "
                             f"{self.pixels_x} × {self.pixels_y}")
        if self.width_um < 0 or self.height_um < 0:
            raise ValueError(f"field size must not be negative, got {self.width_um} µm × "
                             f"{self.height_um} µm")
        if self.dwell_s <= 0:
            raise ValueError(f"dwell time must be positive, got {self.dwell_s} s")
        if self.flyback_pixels < 0:
            raise ValueError(f"flyback_pixels must not be negative, got {self.flyback_pixels}")

    @property
    def pixel_size_um(self) -> tuple[float, float]:
        """(x, y) pixel pitch in µm."""
        return self.width_um / self.pixels_x, self.height_um / self.pixels_y

    def x_positions_um(self) -> np.ndarray:
        """Pixel centres along a line (µm), ascending (read-only: asked for on every line)."""
        return self._positions_um[0]

    def y_positions_um(self) -> np.ndarray:
        """Line positions (µm), ascending: line 0 first (read-only)."""
        return self._positions_um[1]

    @cached_property
    def _positions_um(self) -> tuple[np.ndarray, np.ndarray]:
        xs = _centres(self.x_center_um, self.width_um, self.pixels_x)
        ys = _centres(self.y_center_um, self.height_um, self.pixels_y)
        xs.setflags(write=False)
        ys.setflags(write=False)
        return xs, ys

    @property
    def samples_per_line(self) -> int:
        """Hardware samples per line: flyback plus pixels."""
        return self.flyback_pixels + self.pixels_x

    @property
    def n_samples(self) -> int:
        """Samples of the whole frame: every line plus one sample that closes the last pixel
        (the counter latches on each clock edge, so N pixels take N+1 edges)."""
        return self.pixels_y * self.samples_per_line + 1

    @property
    def line_duration_s(self) -> float:
        """Time per line, flyback included (s)."""
        return self.samples_per_line * self.dwell_s

    @property
    def duration_s(self) -> float:
        """Time of the whole frame on the sample clock (s), excluding the move to its start."""
        return self.n_samples * self.dwell_s


def _centres(center: float, size: float, n: int) -> np.ndarray:
    pitch = size / n
    return center + (np.arange(n) - (n - 1) / 2.0) * pitch


@dataclass(frozen=True, eq=False)
class LineResult:
    """Photon counts of one scanned line, ordered by ascending x whatever the scan direction."""

    #: Line number in its frame (0 = lowest y).
    index: int
    #: y position of the line (µm).
    y_um: float
    #: Pixel centres (µm), ascending.
    x_um: np.ndarray
    #: Photons counted per pixel (int64), same order as `x_um`.
    counts: np.ndarray
    #: Actual dwell per pixel (s): the card may coerce the requested sample rate.
    dwell_s: float
    #: True when the spot moved towards +x during this line.
    forward: bool = True
    #: True for the last line of one hardware read: the lines since the previous such line
    #: arrived together (a scanner reads fast lines in blocks, see drivers/scanning/base.py),
    #: so a procedure can store them together.
    read_end: bool = True

    @property
    def rate_cps(self) -> np.ndarray:
        """Measured count rate per pixel (counts/s, not dead-time corrected)."""
        return self.counts / self.dwell_s


def assemble_image(lines: Iterable[LineResult], frame: RasterFrame) -> np.ndarray:
    """Counts of a frame as an int64 array of shape (pixels_y, pixels_x); row j is line j
    (ascending y), column i ascending x. Lines never received stay 0."""
    image = np.zeros((frame.pixels_y, frame.pixels_x), dtype=np.int64)
    for line in lines:
        image[line.index] = line.counts
    return image
