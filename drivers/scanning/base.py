"""The small interface of a hardware-timed raster scanner with synchronised photon counting.

A confocal image of single ANPs is a raster of pixels; at each pixel the spot dwells for
`dwell_s` while a counter counts detector pulses. Doing this with software timing (move, sleep,
count) makes every pixel's dwell as uncertain as the operating system's scheduler, so the real
backend clocks the galvo waveform and the counter from one hardware sample clock (docs/protocols.md
§4). That backend is an SDK-level device, so it sits behind this interface, the way qudi's
finite-sampling I/O interface separates "what to sample" from the card: anything with this shape
can serve a `scanner` role — the NI-DAQ backend (`nidaq_galvo`), the simulated twin in
`sim_devices`, later a piezo stage or a Time Tagger gated by a pixel clock.

Two decisions shape the interface:

* **A frame is data** (`RasterFrame`): immutable, checked against the galvo limits *before*
  anything moves (`check_frame`), and cheap to record with the run.
* **Results stream line by line** (`scan_lines` yields one `LineResult` per line): a procedure
  stores each line as it arrives, so a crash, an abort or a lost connection costs at most the
  read in flight. Lines shorter than about 20 ms are read from the hardware a few at a time
  (`LineResult.read_end` marks the last of each read), and a procedure stores such a block in
  one write. Stopping the iteration (break, exception, `close()` on the generator) stops the
  hardware; the spot stays where the scan left it.

Coordinates are in µm in the sample plane, x along a line (the fast axis), y across lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from instrument_data.scanning import LineResult, RasterFrame, assemble_image

from ..errors import InstrumentConnectionError, InstrumentTimeoutError


class ScannerTimeoutError(InstrumentTimeoutError, TimeoutError):
    """A scan line (or a park move) did not complete in time: the sample clock stalled, the
    card hung, or a trigger never came."""


class ScannerConnectionError(InstrumentConnectionError, ConnectionResetError):
    """The scanning hardware went away (USB/PCIe reset, card removed, driver restarted)."""


@runtime_checkable
class ScanningCounter(Protocol):
    """A beam scanner whose photon counter is clocked by the scan itself."""

    @property
    def identity(self) -> str:
        """Human-readable description of scanner, counter and detector."""

    @property
    def position_um(self) -> tuple[float, float]:
        """Where the spot is (or was last commanded to be), (x, y) in µm."""

    def check_frame(self, frame: RasterFrame) -> None:
        """Raise `ScanLimitError` (a ValueError) if `frame` would exceed the galvo's voltage or
        slew-rate limits; nothing moves. `scan_lines` runs the same check itself."""

    def scan_lines(self, frame: RasterFrame) -> Iterator[LineResult]:
        """Check `frame` at once (raising before anything moves), then — as the iterator is
        consumed — move to the frame start and yield one `LineResult` per line, in line order.
        Stopping the iteration early stops the hardware."""

    def park(self, x_um: float, y_um: float) -> None:
        """Move the spot to (x, y) µm within the slew limit and leave it there (for point
        measurements: S-curves, rise times, spectra on one particle)."""

    def close(self) -> None:
        """Release the hardware."""


__all__ = ["LineResult", "RasterFrame", "ScannerConnectionError", "ScannerTimeoutError",
           "ScanningCounter", "assemble_image"]
