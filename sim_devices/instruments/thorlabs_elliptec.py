"""Simulated Thorlabs Elliptec ELL14 rotation mount holding a half-wave plate before a polarizer.

Two faces. On the wire it answers the ELLx protocol: `<address><cmd>[data]` without a
terminator, replies `<address><CMD>[data]` (CR LF on a served link); `in`, `gs`, `gp`, `ma`,
`mr`, `ho`; positions are 32-bit two's complement hex in encoder pulses. Modules at other
addresses on the bus stay silent. A move answers `PO<position>` once it is over: the twin
advances the clock by 0.1 s plus the angle over the speed before replying, so on a virtual
clock a move costs no wall time and the world sees the mount arrive when it would.
Failures answer `GS<code>` and latch the code until `gs` reads it (as the public drivers
describe the real module). Unknown commands answer `GS03`; an `ma` target outside one turn
`GS0C`, malformed numbers `GS04` (our guesses at what the real one picks).

In the world it is an optical element (`SimWorld.add_to_beam_path`): its `transmission`
follows the HWP-and-polarizer law T = T_min + (T_max − T_min)·cos²(2(θ − θ0)) at the current
angle, so the power meter and the sample see the attenuated beam. With `design_wavelength_nm`
set, a zero-order plate's retardance π·λ_design/λ is used instead of π, so off its design
wavelength the extinction gets worse, as on the bench.

Faults: `motor_stall` (moves end with a mechanical time-out, GS02, the mount stays put) and
`sensor_error` (moves fail with GS0A), besides the common ones.
"""

from __future__ import annotations

import math

from ..clock import Clock
from ..server import TerminatedFraming
from .base import SimulatedMessageInstrument

ADDRESSES = "0123456789ABCDEF"
#: Lengths of the data after each command (the module frames commands by their length).
DATA_LENGTHS = {"in": 0, "gs": 0, "gp": 0, "ma": 8, "mr": 8, "ho": 1}

OK = 0x00
MECHANICAL_TIMEOUT = 0x02
COMMAND_ERROR = 0x03
VALUE_OUT_OF_RANGE = 0x04
SENSOR_ERROR = 0x0A
OUT_OF_RANGE = 0x0C


class ElliptecFraming(TerminatedFraming):
    """Byte-stream framing for a served twin: commands have no terminator, so a command is
    complete once its known data length has arrived (`0ma` + 8 characters). Stray CR/LF
    between commands (clients that add terminators) are skipped; an unknown command is taken
    as address + 2 characters without data."""

    def __init__(self, read_termination: str = "\r\n") -> None:
        super().__init__("", read_termination)  # replies: `encode` appends the terminator

    def split(self, buffer: bytearray) -> list[str]:
        messages = []
        while True:
            while buffer[:1] in (b"\r", b"\n"):
                del buffer[:1]
            if len(buffer) < 3:
                return messages
            command = bytes(buffer[1:3]).decode("ascii", "replace")
            length = 3 + DATA_LENGTHS.get(command, 0)
            if len(buffer) < length:
                return messages
            messages.append(bytes(buffer[:length]).decode("ascii", "replace"))
            del buffer[:length]


class SimThorlabsElliptec(SimulatedMessageInstrument):
    """A virtual ELL14 with a half-wave plate, in front of a polarizer, in the beam path."""

    write_termination = ""
    read_termination = "\r\n"
    DEVICE_FAULTS = {
        "motor_stall": "the mount is blocked: moves end with a mechanical time-out (GS02)",
        "sensor_error": "the position sensor fails: moves answer a sensor error (GS0A)",
    }

    def __init__(
        self,
        clock: Clock,
        *,
        address: str = "0",
        theta0_deg: float = 20.0,
        t_max: float = 0.9,
        t_min: float = 2e-4,
        pulses_per_unit: int = 143360,
        speed_deg_s: float = 430.0,
        move_overhead_s: float = 0.1,
        stall_timeout_s: float = 2.0,
        initial_angle_deg: float = 0.0,
        design_wavelength_nm: float | None = None,
        serial_number: str = "11400001",
        year: int = 2024,
        firmware: str = "17",
        hardware: str = "01",
    ) -> None:
        super().__init__()
        if not (isinstance(address, str) and len(address) == 1
                and address.upper() in ADDRESSES):
            raise ValueError(f"Elliptec bus address {address!r} is not one hex digit 0-F")
        if not 0.0 <= t_min < t_max <= 1.0:
            raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
        if pulses_per_unit <= 0 or speed_deg_s <= 0:
            raise ValueError("pulses_per_unit and speed_deg_s must be positive")
        if len(serial_number) != 8 or len(firmware) != 2 or len(hardware) != 2:
            raise ValueError("serial_number has 8 characters, firmware and hardware 2 each")
        self.clock = clock
        self.address = address.upper()
        self.theta0_deg = theta0_deg
        self.t_max = t_max
        self.t_min = t_min
        self.pulses_per_unit = int(pulses_per_unit)
        self.travel_deg = 360
        self.speed_deg_s = speed_deg_s
        self.move_overhead_s = move_overhead_s
        self.stall_timeout_s = stall_timeout_s
        self.design_wavelength_nm = design_wavelength_nm
        self.serial_number = serial_number
        self.year = year
        self.firmware = firmware
        self.hardware = hardware
        self.framing = ElliptecFraming(self.read_termination)
        self.latched_status = OK
        self.moves = 0
        start = round(initial_angle_deg * self.pulses_per_deg)
        #: A move as (start time, end time, start pulses, end pulses); the position between
        #: is interpolated, so a world on the wall clock sees the plate turn.
        self._motion = (clock.now(), clock.now(), start, start)

    # --- mechanics ---------------------------------------------------------------------------
    @property
    def pulses_per_deg(self) -> float:
        return self.pulses_per_unit / self.travel_deg

    @property
    def position_pulses(self) -> int:
        t0, t1, p0, p1 = self._motion
        now = self.clock.now()
        if now >= t1 or t1 <= t0:
            return p1
        return round(p0 + (p1 - p0) * max(0.0, now - t0) / (t1 - t0))

    @property
    def angle_deg(self) -> float:
        """Current mount angle in [0, 360)."""
        return (self.position_pulses / self.pulses_per_deg) % 360.0

    def move_time_s(self, delta_pulses: int) -> float:
        return self.move_overhead_s + abs(delta_pulses) / self.pulses_per_deg / self.speed_deg_s

    def _move_to(self, target: int) -> str:
        """Run a move to `target` pulses; reply when it is over."""
        if "sensor_error" in self.active_faults:
            return self._fail(SENSOR_ERROR)
        start = self.position_pulses
        if "motor_stall" in self.active_faults:
            self.clock.sleep(self.stall_timeout_s)
            return self._fail(MECHANICAL_TIMEOUT)
        duration = self.move_time_s(target - start)
        now = self.clock.now()
        self._motion = (now, now + duration, start, target)
        self.clock.sleep(duration)
        self.moves += 1
        return self._position_reply(target)

    # --- optics ------------------------------------------------------------------------------
    def transmission(self, wavelength_nm: float) -> float:
        """Fraction of the pump passed by the plate and the polarizer at the current angle."""
        phi = math.radians(self.angle_deg - self.theta0_deg)
        if self.design_wavelength_nm is None:
            parallel = math.cos(2.0 * phi) ** 2
        else:
            retardance = math.pi * self.design_wavelength_nm / wavelength_nm
            parallel = 1.0 - math.sin(2.0 * phi) ** 2 * math.sin(retardance / 2.0) ** 2
        return self.t_min + (self.t_max - self.t_min) * parallel

    # --- protocol ----------------------------------------------------------------------------
    def _handle(self, command: str) -> str | None:
        if not command or command[0].upper() != self.address:
            return None  # addressed to another module on the bus (or noise): silence
        name, data = command[1:3], command[3:]
        handler = getattr(self, f"_cmd_{name}", None) if name in DATA_LENGTHS else None
        if handler is None or len(data) != DATA_LENGTHS[name]:
            return self._fail(COMMAND_ERROR)
        return handler(data)

    def _fail(self, code: int) -> str:
        self.latched_status = code
        return f"{self.address}GS{code:02X}"

    def _position_reply(self, pulses: int) -> str:
        return f"{self.address}PO{pulses & 0xFFFFFFFF:08X}"

    @staticmethod
    def _signed(data: str) -> int | None:
        """8 hex digits, two's complement; None if they are not hex."""
        if not data or any(c not in "0123456789ABCDEFabcdef" for c in data):
            return None
        value = int(data, 16)
        return value - (1 << 32) if value & (1 << 31) else value

    def _cmd_in(self, _data: str) -> str:
        return (f"{self.address}IN0E{self.serial_number}{self.year:04d}{self.firmware}"
                f"{self.hardware}{self.travel_deg:04X}{self.pulses_per_unit:08X}")

    def _cmd_gs(self, _data: str) -> str:
        code, self.latched_status = self.latched_status, OK
        if "sensor_error" in self.active_faults:
            code = SENSOR_ERROR  # a broken sensor keeps reporting itself
        return f"{self.address}GS{code:02X}"

    def _cmd_gp(self, _data: str) -> str:
        return self._position_reply(self.position_pulses)

    def _cmd_ma(self, data: str) -> str:
        target = self._signed(data)
        if target is None:
            return self._fail(VALUE_OUT_OF_RANGE)
        if not 0 <= target < self.pulses_per_unit:
            return self._fail(OUT_OF_RANGE)
        return self._move_to(target)

    def _cmd_mr(self, data: str) -> str:
        delta = self._signed(data)
        if delta is None:
            return self._fail(VALUE_OUT_OF_RANGE)
        return self._move_to(self.position_pulses + delta)

    def _cmd_ho(self, data: str) -> str:
        if data not in ("0", "1"):
            return self._fail(VALUE_OUT_OF_RANGE)
        return self._move_to(0)
