"""Simulated galvo scanner with synchronised photon counting (twin of `drivers.scanning`).

The real scanner is an SDK-level device (NI-DAQ AO + counter, docs/protocols.md §4), so the twin
implements the small scanning interface directly, like the simulated photon counter. It reuses
that interface's pure-numpy parts — `RasterFrame`/`LineResult`, the calibration and the
raster waveform builder from `drivers.scanning` — so the simulated bench checks every frame
against the same voltage and slew limits and walks the same samples as the card would; it
imports no hardware backend.

Each sample of the waveform is one dwell with the spot at the sample's position (volts → µm
through the calibration); the twin counts Poisson photons from the sample plus dark counts,
saturated by a non-paralyzable dead time (m = r / (1 + r·τ)), as the simulated counter does,
and lets the line's dwells pass on the bench clock. Flyback samples are counted and dropped,
as on the card. The counts of a whole line come from `sim_devices.scan_engine.ScanEngine`
(docs/physics.md, "Confocal scan engine"): steady-state emission per sample, or with
`finite_dwell` every particle's populations carried from pixel to pixel, so a spot near
threshold streaks along the scan.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from drivers.scanning.base import ScannerConnectionError, ScannerTimeoutError
from instrument_data.galvo import GalvoCalibration, RasterWaveform, raster_waveform
from instrument_data.scanning import LineResult, RasterFrame

from ..scan_engine import ScanEngine
from ..world import SimWorld
from .sdk_faults import SdkFaults

#: Faults of the scanning chain (SDK-level: they surface as the scanner's exceptions).
SCANNER_FAULTS: dict[str, str] = {
    "drop_connection": "the DAQ card disappears (USB/PCIe reset): the next line or move raises",
    "stop_answering": "the sample clock stalls: a line never completes (timeout)",
    "flood": "room light or a laser reflection floods the detector (~50 Mcps true rate)",
}

#: Sample rate of the slew-limited moves (park, move to a frame's start), as on the card.
PARK_RATE_HZ = 100_000.0


class SimGalvoScanner(SdkFaults):
    """Scans the simulated world's beam over the sample and counts its photons."""

    FAULTS = SCANNER_FAULTS

    def __init__(
        self,
        world: SimWorld,
        *,
        calibration: GalvoCalibration,
        dark_count_rate_cps: float = 25.0,
        dead_time_s: float = 22e-9,
        park_rate_Hz: float = PARK_RATE_HZ,
        finite_dwell: bool = True,
        name: str = "simulated galvo scanner, SPAD on ctr0 clocked by ao/SampleClock",
    ) -> None:
        if dark_count_rate_cps < 0 or dead_time_s < 0:
            raise ValueError("dark count rate and dead time must not be negative")
        if not park_rate_Hz > 0:
            raise ValueError(f"park rate must be positive, got {park_rate_Hz} Hz")
        self.world = world
        self.calibration = calibration
        self.dark_count_rate_cps = dark_count_rate_cps
        self.dead_time_s = dead_time_s
        self.park_rate_Hz = park_rate_Hz
        #: Integrate the rate equations through each pixel's dwell, carrying populations from
        #: pixel to pixel (docs/physics.md: near threshold t_half ~0.2 s >> typical dwell, so an
        #: image streaks along the scan); False: steady-state emission per pixel.
        self.finite_dwell = finite_dwell
        self.engine = ScanEngine(world, dark_count_rate_cps=dark_count_rate_cps,
                                 dead_time_s=dead_time_s, finite_dwell=finite_dwell)
        #: The clocked path the simulated card is walking (see start_frame/count_samples).
        self._path_samples = self._path_next = 0
        self.name = name
        #: Samples dwelt on (pixels and flyback) and lines delivered, for tests and diagnostics.
        self.samples_counted = 0
        self.lines_scanned = 0
        self.moves = 0
        self._init_faults()
        self._volts = calibration.to_volts(np.asarray(world.beam_position_um, dtype=float))

    # --- faults --------------------------------------------------------------------------------
    def _check_faults(self, blocked_s: float) -> None:
        self._check_link(
            self.world.clock,
            ScannerConnectionError(f"{self.name}: device not present (simulated fault)"),
            ScannerTimeoutError(f"{self.name}: the sample clock stalled, samples not "
                                "acquired in time (simulated fault)"), hang_s=blocked_s)

    # --- the interface -------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        return (f"avlab simulation, {self.name}, ±{self.calibration.max_volts:g} V, "
                f"≤{self.calibration.max_slew_V_per_ms:g} V/ms, dead time "
                f"{self.dead_time_s * 1e9:.0f} ns")

    @property
    def position_um(self) -> tuple[float, float]:
        x, y = self.world.beam_position_um
        return float(x), float(y)

    def check_frame(self, frame: RasterFrame) -> None:
        raster_waveform(frame, self.calibration)

    def scan_lines(self, frame: RasterFrame) -> Iterator[LineResult]:
        waveform = raster_waveform(frame, self.calibration)  # raises before anything moves
        return self._run_frame(waveform)

    def park(self, x_um: float, y_um: float) -> None:
        self._move_to(self.calibration.to_volts((x_um, y_um)))

    def close(self) -> None:
        """Nothing to release in the simulation."""

    # --- photon counts ------------------------------------------------------------------------
    def pixel_counts(self, dwell_s: float) -> int:
        """Photons counted during `dwell_s` of bench time with the beam where it is now:
        Poisson statistics, dark counts, non-paralyzable dead time, and (with finite_dwell,
        after a frame) the particles' populations carried on from the frame."""
        counts = self.engine.park_counts(dwell_s, flood="flood" in self.active_faults)
        self.world.clock.sleep(dwell_s)
        return counts

    # --- mechanics -----------------------------------------------------------------------------
    def _point(self, volts: np.ndarray) -> None:
        self._volts = np.array(volts, dtype=float)
        self.world.beam_position_um = self.calibration.to_um(self._volts)

    def _move_to(self, target_volts: np.ndarray) -> None:
        target = np.asarray(target_volts, dtype=float).reshape(2)
        ramp = self.calibration.ramp(self._volts, target, self.park_rate_Hz)  # checks limits
        self._check_faults(ramp.shape[1] / self.park_rate_Hz)
        if np.allclose(target, self._volts, rtol=0.0, atol=1e-12):
            return  # already there: nothing to generate
        with self.world.lock:
            self.world.clock.sleep(ramp.shape[1] / self.park_rate_Hz)
            self._point(target)
        self.moves += 1

    def _run_frame(self, waveform: RasterWaveform) -> Iterator[LineResult]:
        self._move_to(waveform.volts[:, 0])
        dwell_s = waveform.frame.dwell_s
        self.engine.start_frame(self.calibration.to_um(waveform.volts), dwell_s,
                                self.world.clock.now(),
                                samples_per_line=waveform.samples_per_line)
        for line in range(waveform.lines):
            self._check_faults(waveform.frame.line_duration_s)
            samples = waveform.line_samples(line)
            with self.world.lock:
                counts = self.engine.counts(samples.start, samples.stop,
                                            flood="flood" in self.active_faults)
                self.world.clock.sleep(waveform.samples_per_line * dwell_s)
                self._point(waveform.volts[:, samples.stop - 1])
            self.samples_counted += waveform.samples_per_line
            self.lines_scanned += 1
            if line == waveform.lines - 1:
                self._point(waveform.volts[:, -1])  # the closing edge moves the spot once more
            yield waveform.line_result(line, counts, dwell_s)

    # --- the simulated NI-DAQ card's view (`sim_devices.sdk`) ----------------------------------
    # The card drives the galvos with whatever samples its AO task generates and counts the
    # photons of each sample-clock period; these are the twin's physics for it, without the
    # twin's own frame logic and faults (the card raises the SDK's errors itself).

    @property
    def volts(self) -> np.ndarray:
        """The galvo commands (x, y) in V the spot follows now."""
        return self._volts.copy()

    def start_frame(self, volts: np.ndarray, dwell_s: float) -> None:
        """A clocked AO/counter acquisition starts with the whole AO buffer `volts` (2, n):
        the engine computes the path once, carrying finite-dwell populations through it, and
        `count_samples` then walks it chunk by chunk as the card generates."""
        volts = np.asarray(volts, dtype=float)
        self.engine.start_frame(self.calibration.to_um(volts), dwell_s, self.world.clock.now())
        self._path_samples, self._path_next = volts.shape[1], 0

    def glide_to(self, volts: np.ndarray, duration_s: float) -> None:
        """An uncounted generation of `duration_s` that ends at `volts` (a park move)."""
        with self.world.lock:
            self.world.clock.sleep(duration_s)
            self._point(np.asarray(volts, dtype=float))
        self.moves += 1

    def count_samples(self, volts: np.ndarray, dwell_s: float) -> np.ndarray:
        """Photons (int64) counted in each sample-clock period while the galvos follow the
        columns of `volts` (shape (2, n)), one `dwell_s` each; the spot ends at the last.
        The samples continue the path given to `start_frame` (a fresh path otherwise)."""
        volts = np.asarray(volts, dtype=float)
        n = volts.shape[1]
        if self._path_next + n > self._path_samples:  # not part of a started path
            self.start_frame(volts, dwell_s)
        start, self._path_next = self._path_next, self._path_next + n
        with self.world.lock:
            counts = self.engine.counts(start, start + n, flood="flood" in self.active_faults)
            self.world.clock.sleep(n * dwell_s)
            self._point(volts[:, -1])
        self.samples_counted += n
        return np.asarray(counts, dtype=np.int64)
