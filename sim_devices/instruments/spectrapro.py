"""Simulated Acton SpectraPro spectrograph (message twin) and the camera at its exit port
(SDK-level twin), looking at the simulated sample together.

SpectraPro protocol (docs/protocols.md §6b; odemis' SPSimulator was read as a model): 9600 8N1,
commands end in CR, parameters precede the command (`800.000 goto`, `2 grating`). Every reply
ends in ` ok` CR LF once the command is done; an unknown command answers the command followed by
`? ` (CR LF). After power-up the port echoes each command in front of its reply, until
`no-echo`. `?gratings` lists the nine turret positions on separate lines, the grating in use
marked with `\\x1a` instead of the leading space. A `goto` beyond the mechanical range is clamped
silently, and selecting a grating that is not installed is silently ignored — as on the real one.
Commands are accepted in any letter case (the real 2150i wants lowercase, per odemis).

Framing: incoming CR, outgoing CR LF (the server's terminated framing fits; multi-line replies
carry their inner CR LFs in the reply string).

Moves take time on the bench clock when one is given (goto: 0.3 s + the sine-drive travel at
~100 nm/s in 1200 g/mm units; grating change: 8 s), as the real reply comes only when the move
is done.

The camera twin reads the spectrograph's state: its pixels' wavelengths follow from the exact
grating equation in Czerny–Turner geometry (the driver uses the first-order linear dispersion,
so the two differ by ~1 nm at the edges of a wide window, as a real uncalibrated setup does),
and the resolution from the entrance slit width × the linear dispersion.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..clock import Clock
from ..world import SimWorld
from .base import SimulatedMessageInstrument
from .spectrometer import DetectorModel, SpectralRenderer
from .sdk_faults import SdkFaults

#: Mechanical centre-wavelength range with a 1200 g/mm grating (scales as 1200/G).
MECHANICAL_LIMIT_NM_AT_1200 = 1400.0
TURRET_POSITIONS = 9

#: Focal length (mm) → inclusion angle (deg) of the SP-2x00i series (Acton spec sheets).
_INCLUSION_ANGLE_DEG = {150: 24.66, 300: 15.15, 500: 8.59, 750: 6.55}

_PARAMETER_COMMAND = re.compile(r"^([-+]?\d+(?:\.\d*)?)\s+([a-z/\-]+)$")


class SimSpectraPro(SimulatedMessageInstrument):
    """A virtual SpectraPro: centre wavelength, grating turret, echo mode, move times."""

    write_termination = "\r"
    read_termination = "\r\n"
    DEVICE_FAULTS = {
        "grating_stuck": "the turret jams: `N grating` still answers ok, the grating stays",
        "saturate": "light floods the camera at the exit port (lid open, laser reflection)",
        "camera_drop_connection": "the camera at the exit port loses its USB link",
        "camera_stop_answering": "the camera at the exit port hangs (reads time out)",
    }

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        model: str = "SP-2-300i",
        serial_number: str = "23001234",
        focal_length_mm: float = 300.0,
        inclusion_angle_deg: float | None = None,
        gratings: tuple[tuple[float, float], ...] = ((150.0, 800.0), (300.0, 500.0),
                                                     (1200.0, 750.0)),
        grating: int = 1,
        center_nm: float = 800.0,
        slit_um: float = 50.0,
        echo: bool = True,
        goto_speed_nm_per_s: float = 100.0,
        grating_move_s: float = 8.0,
    ) -> None:
        super().__init__()
        if not 1 <= len(gratings) <= TURRET_POSITIONS or not 1 <= grating <= len(gratings):
            raise ValueError("1 to 9 gratings, and `grating` one of them")
        self.clock = clock
        self.model = model
        self.serial_number = serial_number
        self.focal_length_mm = focal_length_mm
        self.inclusion_angle_deg = (_INCLUSION_ANGLE_DEG.get(int(round(focal_length_mm)), 15.0)
                                    if inclusion_angle_deg is None else inclusion_angle_deg)
        #: position -> (grooves/mm, blaze nm)
        self.installed = {i + 1: (float(g), float(b)) for i, (g, b) in enumerate(gratings)}
        self.grating = grating
        self.center_nm = self._clamped(center_nm)
        self.slit_um = slit_um
        self.echo = echo
        self.goto_speed_nm_per_s = goto_speed_nm_per_s
        self.grating_move_s = grating_move_s
        self.turret = 1
        #: The camera at the exit port, if one is attached (see `spectrograph_with_camera`);
        #: the `camera_*` faults are passed on to it.
        self.camera: SimCamera | None = None

    def _inject_device_fault(self, fault: str) -> None:
        if fault.startswith("camera_") and self.camera is not None:
            self.camera.inject(fault.removeprefix("camera_"))

    def _clear_device_faults(self) -> None:
        if self.camera is not None:
            self.camera.clear_faults()

    # --- optics (what the camera sees) ------------------------------------------------------------
    @property
    def grooves_per_mm(self) -> float:
        return self.installed[self.grating][0]

    def mechanical_range_nm(self, grating: int | None = None) -> tuple[float, float]:
        grooves = self.installed[self.grating if grating is None else grating][0]
        return 0.0, MECHANICAL_LIMIT_NM_AT_1200 * 1200.0 / grooves

    def _clamped(self, wavelength_nm: float) -> float:
        low, high = self.mechanical_range_nm()
        return min(max(wavelength_nm, low), high)

    def _angles(self) -> tuple[float, float, float]:
        """(groove spacing d in nm, incidence α, central diffraction angle β) in radians."""
        d = 1e6 / self.grooves_per_mm
        half = math.radians(self.inclusion_angle_deg) / 2.0
        psi = math.asin(min(1.0, self.center_nm / (2.0 * d * math.cos(half))))
        return d, psi + half, psi - half

    def pixel_edges_nm(self, pixels: int, pixel_pitch_um: float) -> np.ndarray:
        """Wavelengths at the pixel boundaries of a flat detector centred on the exit axis
        (exact grating equation, first order: λ(x) = d·(sin α + sin(β + atan(x/f))))."""
        d, alpha, beta = self._angles()
        x_mm = (np.arange(pixels + 1) - pixels / 2.0) * pixel_pitch_um * 1e-3
        return d * (math.sin(alpha) + np.sin(beta + np.arctan(x_mm / self.focal_length_mm)))

    def resolution_nm(self) -> float:
        """Slit-limited resolution: slit width × reciprocal linear dispersion at the centre."""
        d, _, beta = self._angles()
        return self.slit_um * 1e-3 * d * math.cos(beta) / self.focal_length_mm

    @property
    def flooded(self) -> bool:
        return "saturate" in self.active_faults

    # --- protocol ---------------------------------------------------------------------------------
    def _reply(self, command: str, body: str = "") -> str:
        return f"{command if self.echo else ''}{body} ok"

    def _unknown(self, command: str) -> str:
        return f" {command}? "

    def _wait(self, seconds: float) -> None:
        if self.clock is not None and seconds > 0:
            self.clock.sleep(seconds)

    def _handle(self, command: str) -> str | None:
        lower = command.lower()  # `handle` strips it already
        if not lower:
            return self._reply(command)
        simple = {
            "no-echo": self._no_echo, "echo": self._echo_on, "?nm": self._query_nm,
            "?grating": self._query_grating, "?gratings": self._query_gratings,
            "?turret": self._query_turret, "model": self._query_model,
            "serial": self._query_serial, "?nm/min": self._query_rate,
        }
        if lower in simple:
            return simple[lower](command)
        match = _PARAMETER_COMMAND.match(lower)
        if match:
            value, verb = float(match.group(1)), match.group(2)
            if verb in ("goto", "nm"):
                return self._goto(command, value)
            if verb == "grating" and value == int(value):
                return self._select_grating(command, int(value))
        return self._unknown(command)

    def _no_echo(self, command: str) -> str:
        reply = self._reply(command)  # the echo of this very command still comes
        self.echo = False
        return reply

    def _echo_on(self, command: str) -> str:
        self.echo = True
        return self._reply(command)

    def _query_nm(self, command: str) -> str:
        return self._reply(command, f" {self.center_nm:.3f} nm")

    def _query_rate(self, command: str) -> str:
        return self._reply(command, f" {self.goto_speed_nm_per_s * 60.0:.3f} nm/min")

    def _query_grating(self, command: str) -> str:
        return self._reply(command, f" {self.grating}")

    def _query_turret(self, command: str) -> str:
        return self._reply(command, f" {self.turret}")

    def _query_model(self, command: str) -> str:
        return self._reply(command, f" {self.model}")

    def _query_serial(self, command: str) -> str:
        return self._reply(command, f" {self.serial_number}")

    def _query_gratings(self, command: str) -> str:
        lines = []
        for position in range(1, TURRET_POSITIONS + 1):
            mark = "\x1a" if position == self.grating else " "
            if position in self.installed:
                grooves, blaze = self.installed[position]
                blaze_text = f"{blaze:5.0f}NM" if blaze < 1000 else f"{blaze / 1000:5.1f}UM"
                lines.append(f"{mark}{position}  {grooves:4.0f} g/mm BLZ={blaze_text} ")
            else:
                lines.append(f"{mark}{position}  Not Installed     ")
        body = "\r\n" + "\r\n".join(lines) + "\r\n"
        return self._reply(command, body)

    def _goto(self, command: str, wavelength_nm: float) -> str:
        target = self._clamped(wavelength_nm)  # silently, as the real drive does
        travel = abs(target - self.center_nm) * self.grooves_per_mm / 1200.0
        self._wait(0.3 + travel / self.goto_speed_nm_per_s)
        self.center_nm = target
        return self._reply(command)

    def _select_grating(self, command: str, position: int) -> str:
        # The real one answers ok even for an empty position and then does nothing.
        if position in self.installed and position != self.grating:
            self._wait(self.grating_move_s)
            if "grating_stuck" not in self.active_faults:
                self.grating = position
                self.center_nm = self._clamped(self.center_nm)
        return self._reply(command)


# --- the camera -----------------------------------------------------------------------------------

CAMERA_FAULTS: dict[str, str] = {
    "drop_connection": "the camera's USB link drops: every call raises until cleared",
    "stop_answering": "the camera hangs: a read never completes (timeout)",
    "saturate": "light floods the detector: every pixel saturates",
}

#: A deep-depletion CCD read with full vertical binning (1024 × 26 µm; figures are ours).
CCD_DETECTOR = DetectorModel(
    pixels=1024, pixel_pitch_um=26.0, quantum_efficiency=0.85, qe_rolloff_nm=(950.0, 1100.0),
    gain_e_per_count=2.0, full_well_e=6e5, adc_max_counts=65535, bias_counts=600.0,
    dark_current_e_per_s=0.05, read_noise_e=6.0)


class SimCamera(SdkFaults):
    """A spectroscopy CCD at the exit port of a `SimSpectraPro` (implements the drivers'
    `Camera` interface)."""

    FAULTS = CAMERA_FAULTS

    def __init__(
        self,
        world: SimWorld,
        spectrograph: SimSpectraPro,
        *,
        detector: DetectorModel = CCD_DETECTOR,
        throughput: float = 0.4,
        exposure_limits_s: tuple[float, float] = (1e-3, 600.0),
        name: str = "simulated spectroscopy CCD",
    ) -> None:
        self.world = world
        self.spectrograph = spectrograph
        self.detector = detector
        self.renderer = SpectralRenderer(world, detector, throughput=throughput)
        self._exposure_limits_s = exposure_limits_s
        self.exposure_s = 0.1
        self.name = name
        self.lines_read = 0
        self._init_faults()

    def _check_camera(self, reading: bool = False) -> None:
        """The fault check of every call; a read (`reading`) also hangs under stop_answering."""
        hung = (TimeoutError(f"{self.name}: readout never completed (simulated fault)")
                if reading else None)
        self._check_link(self.world.clock,
                         ConnectionResetError(f"{self.name}: camera not present (simulated fault)"),
                         hung, hang_s=self.exposure_s)

    # --- Camera interface -------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        d = self.detector
        return f"avlab simulation, {self.name} ({d.pixels} × {d.pixel_pitch_um:g} µm)"

    @property
    def pixels(self) -> int:
        return self.detector.pixels

    @property
    def pixel_pitch_um(self) -> float:
        return self.detector.pixel_pitch_um

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        return self._exposure_limits_s

    @property
    def max_counts(self) -> float:
        return self.detector.max_counts

    def set_exposure_s(self, exposure_s: float) -> None:
        self._check_camera()
        low, high = self._exposure_limits_s
        if not low <= exposure_s <= high:
            raise ValueError(f"{self.name}: exposure {exposure_s} s outside {low} … {high} s")
        self.exposure_s = float(exposure_s)

    def read_line(self) -> np.ndarray:
        self._check_camera(reading=True)
        edges = self.spectrograph.pixel_edges_nm(self.detector.pixels, self.detector.pixel_pitch_um)
        flood = "saturate" in self.active_faults or self.spectrograph.flooded
        counts = self.renderer.expose(edges, self.exposure_s,
                                      resolution_nm=self.spectrograph.resolution_nm(), flood=flood)
        self.lines_read += 1
        return counts

    def close(self) -> None:
        """Nothing to release in the simulation."""


def spectrograph_with_camera(world: SimWorld, *, camera_throughput: float = 0.4,
                             **spectrograph_options) -> SimSpectraPro:
    """A SimSpectraPro on the world's clock with a SimCamera at its exit port (`.camera`): the
    twin of one `spectrapro` role. The spectrograph is the message twin (served over TCP like the
    real serial port); the camera is SDK-level and reached through `.camera`."""
    spectrograph = SimSpectraPro(world.clock, **spectrograph_options)
    spectrograph.camera = SimCamera(world, spectrograph, throughput=camera_throughput)
    return spectrograph
