"""Princeton Instruments / Acton SpectraPro spectrograph (SP-2150i … SP-2750i), and a spectrometer
made of it and a camera.

Protocol (docs/protocols.md §6b): RS-232 or USB-serial at 9600 8N1; commands end in CR, parameters
come before the command (`800.000 goto`, `2 grating`), lowercase. A reply ends in ` ok` CR LF
once the command has *completed* (a grating move takes up to ~20 s); an unknown command ends in
`? ` CR LF. Out of the box the serial port echoes every command, so `no-echo` is sent at connect
(an echo that slips through is stripped anyway). `?gratings` answers several lines, one per
turret position, the grating in use marked with `\\x1a`.

Resources: `ASRL/dev/ttyUSB0::INSTR` (or `ASRL3::INSTR`), or `TCPIP0::127.0.0.1::<port>::SOCKET`
for the simulated twin served by `avlab sim serve`.

What this driver adds: the real instrument silently clamps a `goto` beyond its range and
silently ignores a grating that is not installed; here both are rejected before anything is
sent (WavelengthOutOfRangeError, ValueError), and every move is read back, so a turret or
wavelength drive that did not get there raises SpectrographMoveError instead of passing.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument

from ..errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentResponseError,
    InstrumentTimeoutError,
)
from ..messaging import CheckedMessaging
from ..validators import is_finite_real, is_integer
from .base import Camera, Spectrum, WavelengthOutOfRangeError, check_exposure_s

#: Mechanical centre-wavelength range with a 1200 g/mm grating; it scales as 1200/G for other
#: groove densities G (Acton spec sheets: "0–1400 nm mechanical range", docs/protocols.md §6b: [G]).
MECHANICAL_LIMIT_NM_AT_1200 = 1400.0

#: Angle between the incident and the diffracted central ray, by focal length (mm) of the
#: SpectraPro series (Acton spec-sheet figures, also used by odemis; used only for the dispersion).
INCLUSION_ANGLE_DEG: dict[int, float] = {150: 24.66, 300: 15.15, 500: 8.59, 750: 6.55}

#: Default timeouts: ordinary queries, and moves (goto, grating: up to ~20 s on the real one).
QUERY_TIMEOUT_S = 2.0
MOVE_TIMEOUT_S = 30.0

#: A goto is accepted when the read-back centre wavelength is this close (nm).
GOTO_TOLERANCE_NM = 0.05

_MAX_REPLY_LINES = 16
_OK_END = re.compile(r"(?:^|\s)ok\s*$", re.IGNORECASE)
#: Characters that never occur in a reply (the turret marker \x1a excepted): line noise.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x19\x1b-\x1f\x7f-\uffff]")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?")
_GRATING_LINE = re.compile(
    r"^\s*(\d+)\s+(\d+(?:\.\d+)?)\s*g/mm\s+BLZ\s*=\s*(\d+(?:\.\d+)?)\s*(nm|um|µm)", re.IGNORECASE)
_FOCAL_LENGTH = re.compile(r"(?:SP|SCT|IsoPlane)[-\s]?(?:2-?)?(\d{3})", re.IGNORECASE)


class SpectrographMoveError(InstrumentError):
    """The spectrograph answered `ok` but did not get where it was sent (turret stuck, drive
    clamped): the read-back grating or wavelength differs from the request."""


@dataclass(frozen=True)
class Grating:
    """One turret position: groove density and blaze wavelength."""

    number: int
    grooves_per_mm: float
    blaze_nm: float

    @property
    def mechanical_range_nm(self) -> tuple[float, float]:
        """Centre wavelengths the drive can reach with this grating (nm)."""
        return 0.0, MECHANICAL_LIMIT_NM_AT_1200 * 1200.0 / self.grooves_per_mm


def parse_gratings(reply: str) -> tuple[dict[int, Grating], int | None]:
    """Installed gratings and the one in use (marked with \\x1a) from a `?gratings` reply.

    Lines reading `Not Installed` are skipped; other lines that do not parse are ignored. Raises
    InstrumentResponseError when no grating at all can be read.
    """
    gratings: dict[int, Grating] = {}
    current = None
    for line in reply.replace("\r", "\n").split("\n"):
        marked = "\x1a" in line
        match = _GRATING_LINE.match(line.replace("\x1a", " "))
        if not match:
            continue
        number = int(match.group(1))
        blaze = float(match.group(3)) * (1.0 if match.group(4).lower() == "nm" else 1000.0)
        gratings[number] = Grating(number, float(match.group(2)), blaze)
        if marked:
            current = number
    if not gratings:
        raise InstrumentResponseError(f"no installed grating in the ?gratings reply {reply!r}")
    return gratings, current


def _number(reply: str, what: str) -> float:
    match = _NUMBER.search(reply)
    if not match:
        raise InstrumentResponseError(f"cannot read {what} from the reply {reply!r}")
    return float(match.group(0))


class SpectraPro(CheckedMessaging, Instrument):
    """Acton SpectraPro spectrograph / monochromator: centre wavelength and grating turret.

    `wavelength_limits_nm` narrows the accepted centre wavelengths below each grating's
    mechanical range (e.g. the band the camera and filters make sense for).
    """

    def __init__(self, adapter, name: str = "SpectraPro spectrograph", *,
                 wavelength_limits_nm: tuple[float, float] | None = None,
                 move_timeout_s: float = MOVE_TIMEOUT_S, **kwargs) -> None:
        kwargs.setdefault("asrl", {"baud_rate": 9600, "data_bits": 8})
        kwargs.setdefault("timeout", int(QUERY_TIMEOUT_S * 1000))
        super().__init__(adapter, name, includeSCPI=False, write_termination="\r",
                         read_termination="\r\n", **kwargs)
        if wavelength_limits_nm is not None and not (
                0.0 <= wavelength_limits_nm[0] < wavelength_limits_nm[1]):
            raise ValueError(f"wavelength_limits_nm must be (low, high) with 0 <= low < high, got "
                             f"{wavelength_limits_nm!r}")
        self.wavelength_limits_nm = wavelength_limits_nm
        self.move_timeout_s = move_timeout_s
        self._gratings: dict[int, Grating] | None = None
        self.disable_echo()

    # --- messaging: one reply = lines up to ` ok` -----------------------------------------------
    def read(self, **kwargs) -> str:
        """One complete reply without its ` ok` (and without an echo of the command).

        A reply may span several lines (`?gratings`); lines are read until one ends in `ok`.
        `?` at the end means the command was not understood (InstrumentCommandError); control
        characters mean line noise (InstrumentResponseError).
        """
        text = ""
        for _ in range(_MAX_REPLY_LINES):
            chunk = super().read(**kwargs).replace("\r\n", "\n").replace("\r", "\n")
            text = f"{text}\n{chunk}" if text else chunk
            if text.rstrip().endswith("?"):
                raise InstrumentCommandError(
                    f"{self.name} did not understand {self.last_command!r} (answered "
                    f"{text.strip()!r})")
            if _NOT_TEXT.search(text):
                raise InstrumentResponseError(f"{self.name}: unreadable reply to "
                                              f"{self.last_command!r}: {text!r}")
            match = _OK_END.search(text)
            if match:
                return self._without_echo(text[:match.start()])
        raise InstrumentResponseError(f"{self.name}: no 'ok' after {_MAX_REPLY_LINES} lines in "
                                      f"the reply to {self.last_command!r}")

    def _without_echo(self, body: str) -> str:
        stripped = body.lstrip()
        command = self.last_command.strip()
        if command and stripped.lower().startswith(command.lower()):
            return stripped[len(command):]
        return body

    def check_set_errors(self) -> list:
        self.read()  # ` ok`, or an exception
        return []

    @contextlib.contextmanager
    def _move_timeout(self) -> Iterator[None]:
        """Raise the link's read timeout for a move (the reply comes when the move is done)."""
        from pymeasure.adapters import SerialAdapter, VISAAdapter

        connection = getattr(self.adapter, "connection", None)
        if isinstance(self.adapter, VISAAdapter):
            scale = 1000.0  # pyvisa: ms
        elif isinstance(self.adapter, SerialAdapter):
            scale = 1.0  # pyserial: s
        else:  # in-process or test adapters have no timeout
            yield
            return
        previous = connection.timeout
        connection.timeout = self.move_timeout_s * scale
        try:
            yield
        finally:
            connection.timeout = previous

    def disable_echo(self) -> None:
        """Switch the command echo off (units that do not know `no-echo` never echo)."""
        with contextlib.suppress(InstrumentCommandError):
            self.ask("no-echo")

    # --- identity ---------------------------------------------------------------------------------
    model = Instrument.measurement("model", "Model, e.g. 'SP-2-300i'.", cast=str,
                                   preprocess_reply=str.strip)
    serial_number = Instrument.measurement("serial", "Serial number.", cast=str,
                                           preprocess_reply=str.strip)
    turret = Instrument.measurement("?turret", "Installed turret (1-3).", cast=int,
                                    preprocess_reply=str.strip)

    @property
    def identity(self) -> str:
        return f"Acton {self.model}, serial number {self.serial_number}"

    # --- gratings ---------------------------------------------------------------------------------
    @property
    def gratings(self) -> dict[int, Grating]:
        """Installed gratings by turret position (read once, then cached)."""
        if self._gratings is None:
            self.read_gratings()
        assert self._gratings is not None
        return dict(self._gratings)

    def read_gratings(self) -> tuple[dict[int, Grating], int | None]:
        """Ask `?gratings`: installed gratings and the one in use; refreshes the cache."""
        gratings, current = parse_gratings(self.ask("?gratings"))
        self._gratings = gratings
        return dict(gratings), current

    @property
    def grating(self) -> int:
        """Turret position of the grating in use (1-9). Setting it turns the turret (up to
        ~20 s); a grating that is not installed is rejected before anything is sent."""
        reply = self.ask("?grating")
        return int(_number(reply, "the grating number"))

    @grating.setter
    def grating(self, number: int) -> None:
        self.select_grating(number)

    def select_grating(self, number: int) -> None:
        """Turn the turret to grating `number`, keeping the centre wavelength, and check it got
        there. Rejects gratings that are not installed, and a grating whose range does not
        contain the present centre wavelength (move the wavelength first)."""
        gratings = self.gratings
        if not is_integer(number) or number not in gratings:
            raise ValueError(f"{self.name}: grating {number!r} is not installed; installed: "
                             f"{', '.join(str(n) for n in sorted(gratings))}")
        number = int(number)
        if number == self.grating:
            return
        self._check_centre(self.center_wavelength_nm, number, "move the wavelength first")
        with self._move_timeout():
            self.ask(f"{number} grating")
        now = self.grating
        if now != number:
            raise SpectrographMoveError(f"{self.name}: grating {now} still in place after "
                                        f"selecting grating {number} (turret stuck?)")

    def wavelength_range_nm(self, grating: int | None = None) -> tuple[float, float]:
        """Centre wavelengths accepted with `grating` (default: the one in use): its mechanical
        range, narrowed to `wavelength_limits_nm` if given."""
        number = self.grating if grating is None else grating
        low, high = self.gratings[number].mechanical_range_nm
        if self.wavelength_limits_nm is not None:
            low = max(low, self.wavelength_limits_nm[0])
            high = min(high, self.wavelength_limits_nm[1])
        return low, high

    def _check_centre(self, wavelength_nm: float, grating: int, advice: str) -> None:
        """Raise WavelengthOutOfRangeError (ending in `advice`) unless `wavelength_nm` is a centre
        wavelength `grating` accepts (`wavelength_range_nm`)."""
        low, high = self.wavelength_range_nm(grating)
        if not low <= wavelength_nm <= high:
            raise WavelengthOutOfRangeError(
                f"{self.name}: centre wavelength {wavelength_nm:g} nm is outside grating "
                f"{grating}'s range {low:g} … {high:g} nm; {advice}",
                wavelength_nm=float(wavelength_nm), limits_nm=(low, high))

    # --- centre wavelength ------------------------------------------------------------------------
    @property
    def center_wavelength_nm(self) -> float:
        """Centre wavelength in nm (`?nm`). Setting it is `goto_nm`."""
        return _number(self.ask("?nm"), "the centre wavelength")

    @center_wavelength_nm.setter
    def center_wavelength_nm(self, wavelength_nm: float) -> None:
        self.goto_nm(wavelength_nm)

    def goto_nm(self, wavelength_nm: float) -> None:
        """Move the centre wavelength at full speed and check it got there.

        A wavelength outside `wavelength_range_nm()` raises WavelengthOutOfRangeError before
        anything is sent (the instrument itself would silently clamp it).
        """
        if not is_finite_real(wavelength_nm) or wavelength_nm < 0:
            raise WavelengthOutOfRangeError(
                f"{self.name}: centre wavelength must be a finite, non-negative number of nm, got "
                f"{wavelength_nm!r}", wavelength_nm=wavelength_nm, limits_nm=(math.nan, math.nan))
        self._check_centre(wavelength_nm, self.grating, "nothing was sent")
        with self._move_timeout():
            self.ask(f"{wavelength_nm:.3f} goto")
        now = self.center_wavelength_nm
        if abs(now - wavelength_nm) > GOTO_TOLERANCE_NM:
            raise SpectrographMoveError(f"{self.name}: centre wavelength {now:g} nm after a goto "
                                        f"to {wavelength_nm:g} nm")


# --- spectrograph + camera ------------------------------------------------------------------------

def focal_length_from_model(model: str) -> float | None:
    """Focal length in mm from a model name ('SP-2-300i' → 300, 'SP-2150i' → 150), or None."""
    match = _FOCAL_LENGTH.search(model)
    return float(match.group(1)) if match else None


def linear_dispersion_nm_per_mm(center_nm: float, grooves_per_mm: float, focal_length_mm: float,
                                inclusion_angle_deg: float = 0.0, order: int = 1) -> float:
    """Reciprocal linear dispersion dλ/dx (nm per mm in the focal plane) at the centre wavelength.

    Czerny–Turner geometry with inclusion angle γ between the incident and the diffracted central
    ray, groove spacing d = 10⁶/G nm, order m, focal length f:

        grating equation   m·λ = d·(sin α + sin β),   α = ψ + γ/2,  β = ψ − γ/2
        grating angle      sin ψ = m·λc / (2·d·cos(γ/2))
        dispersion         dλ/dx = d·cos β / (m·f)
    """
    d_nm = 1e6 / grooves_per_mm
    half = math.radians(inclusion_angle_deg) / 2.0
    sine = order * center_nm / (2.0 * d_nm * math.cos(half))
    if not -1.0 <= sine <= 1.0:
        raise ValueError(f"{center_nm:g} nm is beyond a {grooves_per_mm:g} g/mm grating in order "
                         f"{order}")
    beta = math.asin(sine) - half
    return d_nm * math.cos(beta) / (order * focal_length_mm)


def pixel_wavelengths_nm(center_nm: float, pixels: int, pixel_pitch_um: float,
                         dispersion_nm_per_mm: float, center_pixel: float | None = None,
                         ) -> np.ndarray:
    """Wavelength of each pixel centre, linear about the centre wavelength:

        λ_i = λc + (i − i_c)·p·dλ/dx,   i_c = (pixels − 1)/2 unless given, p = pitch in mm.

    First order in the distance from the centre: across a 26.6 mm detector at f = 300 mm the
    neglected curvature of the exact grating equation amounts to about a nanometre at the edges
    for 150 g/mm. A calibration against a lamp would replace this with a polynomial.
    """
    i_c = (pixels - 1) / 2.0 if center_pixel is None else center_pixel
    return center_nm + (np.arange(pixels) - i_c) * (pixel_pitch_um * 1e-3) * dispersion_nm_per_mm


class SpectrographCamera:
    """A `Spectrometer` made of a SpectraPro and a camera at its exit port.

    The wavelength axis is computed from the centre wavelength and the grating in use (read from
    the spectrograph at every call: someone may have moved it) with the focal length (from the
    model name unless given), the inclusion angle and the camera's pixel pitch — see
    `linear_dispersion_nm_per_mm` and `pixel_wavelengths_nm`.
    """

    def __init__(self, spectrograph: SpectraPro, camera: Camera, *,
                 focal_length_mm: float | None = None, inclusion_angle_deg: float | None = None,
                 order: int = 1, center_pixel: float | None = None,
                 name: str = "spectrograph + camera") -> None:
        self.spectrograph = spectrograph
        self.camera = camera
        self.name = name
        self.order = order
        self.center_pixel = center_pixel
        self._model = spectrograph.model
        if focal_length_mm is None:
            focal_length_mm = focal_length_from_model(self._model)
            if focal_length_mm is None:
                raise ValueError(f"cannot tell the focal length of {self._model!r}; pass "
                                 "focal_length_mm")
        self.focal_length_mm = float(focal_length_mm)
        if inclusion_angle_deg is None:
            inclusion_angle_deg = INCLUSION_ANGLE_DEG.get(int(round(self.focal_length_mm)), 0.0)
        self.inclusion_angle_deg = float(inclusion_angle_deg)

    @property
    def identity(self) -> str:
        return f"{self.spectrograph.identity} with {self.camera.identity}"

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        return self.camera.exposure_limits_s

    @property
    def max_intensity(self) -> float:
        """The camera's reading of a saturated pixel (counts), as `Spectrometer` asks."""
        with self._camera_call("reading its full scale"):
            return float(self.camera.max_counts)

    def wavelengths_nm(self) -> np.ndarray:
        grooves = self.spectrograph.gratings[self.spectrograph.grating].grooves_per_mm
        centre = self.spectrograph.center_wavelength_nm
        dispersion = linear_dispersion_nm_per_mm(centre, grooves, self.focal_length_mm,
                                                 self.inclusion_angle_deg, self.order)
        with self._camera_call("reading its geometry"):
            pixels, pitch = int(self.camera.pixels), float(self.camera.pixel_pitch_um)
        return pixel_wavelengths_nm(centre, pixels, pitch, dispersion, self.center_pixel)

    def acquire(self, exposure_s: float) -> Spectrum:
        exposure_s = check_exposure_s(exposure_s, self.exposure_limits_s, self.name)
        wavelengths = self.wavelengths_nm()
        with self._camera_call("taking an exposure"):
            self.camera.set_exposure_s(exposure_s)
            counts = np.asarray(self.camera.read_line(), dtype=float)
            full_scale = float(self.camera.max_counts)
        if counts.shape != wavelengths.shape:
            raise InstrumentResponseError(f"{self.name}: the camera returned {counts.size} "
                                          f"pixels, expected {wavelengths.size}")
        return Spectrum(wavelengths, counts, exposure_s, bool(np.any(counts >= full_scale)))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.camera.close()
        self.spectrograph.adapter.close()

    @contextlib.contextmanager
    def _camera_call(self, action: str) -> Iterator[Any]:
        try:
            yield
        except InstrumentError:
            raise
        except TimeoutError as exc:
            raise InstrumentTimeoutError(f"{self.name}: the camera did not answer ({action}): "
                                         f"{exc}") from exc
        except OSError as exc:
            raise InstrumentConnectionError(f"{self.name}: lost the camera ({action}): "
                                            f"{type(exc).__name__}: {exc}") from exc
