"""Thorlabs Elliptec ELL14 rotation mount (also ELL18 and other 360° Elliptec rotators).

With a half-wave plate in the mount and a polarizer behind it, it is the pump's variable
attenuator (see `calibration.py`).

Protocol (ELLx modules protocol manual, as the public drivers pyLabLib `Thorlabs/elliptec.py`,
roesel/elliptec and TapyrLabs/tl_elliptec implement it, and public ELL14 hardware logs show):
RS-232 levels or the USB interface board, 9600 8N1, no flow control; up to 16 modules on one
bus (multidrop), addressed by one hex digit `0`–`F`. A command is `<address><cmd>[data]`
with *no* terminator (the module knows each command's length); replies are
`<address><CMD>[data]` ending in CR LF. Numbers are upper-case hex, positions 32-bit two's
complement in encoder pulses.

- `0in` → `0IN` + type (2 hex, 0E = ELL14), serial (8), year (4 decimal), firmware (2),
  hardware (2), travel (4 hex, degrees), pulses (8 hex);
- `0gs` → `0GS` + status/error code (2 hex, `ElliptecStatus`); reading it clears a latched
  error;
- `0gp` → `0PO` + position (8 hex);
- `0ma` + 8 hex (move absolute), `0mr` + 8 hex (relative), `0ho0` / `0ho1` (home clockwise /
  counter-clockwise) → `0PO` + final position once the move is over, or `0GS` + error code.

The pulses field of `in` is named "pulses per measurement unit" in the manual; on rotation
mounts it is the count for the whole travel of 360° (143360 on the ELL14s whose replies are
public; other sources quote 136533 or 262144). This driver reads it at connection and never
assumes a number.

Moves are synchronous: the module answers when the move is over (about 0.1 s plus the angle
over the speed; homing can take a turn), so the VISA timeout defaults to 5 s.

Resources: `ASRL/dev/ttyUSB0::INSTR` (9600 8N1 set by default) or a TCP bridge
(`TCPIP0::<host>::<port>::SOCKET`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from ..errors import InstrumentCommandError, InstrumentError, InstrumentResponseError
from ..messaging import CheckedMessaging
from ..validators import is_finite_real

#: The 16 bus addresses.
ADDRESSES = "0123456789ABCDEF"
_HOME_DIRECTIONS = {"cw": "0", "ccw": "1"}
_HEX = re.compile(r"[0-9A-Fa-f]+")


class ElliptecStatus(enum.IntEnum):
    """Status/error codes of the `GS` reply (ELLx protocol manual; agreed by three drivers)."""

    OK = 0x00
    COMMUNICATION_TIMEOUT = 0x01
    MECHANICAL_TIMEOUT = 0x02
    COMMAND_ERROR = 0x03
    VALUE_OUT_OF_RANGE = 0x04
    MODULE_ISOLATED = 0x05
    MODULE_OUT_OF_ISOLATION = 0x06
    INITIALISING_ERROR = 0x07
    THERMAL_ERROR = 0x08
    BUSY = 0x09
    SENSOR_ERROR = 0x0A
    MOTOR_ERROR = 0x0B
    OUT_OF_RANGE = 0x0C
    OVER_CURRENT = 0x0D


_DESCRIPTIONS: dict[ElliptecStatus, str] = {
    ElliptecStatus.COMMUNICATION_TIMEOUT:
        "communication time-out: the module got an incomplete command (noise on the line, or "
        "a command cut short); send it again",
    ElliptecStatus.MECHANICAL_TIMEOUT:
        "mechanical time-out: the mount did not reach the target (blocked, stalled, or the "
        "motor frequencies need a search / cleaning cycle in the Elliptec software)",
    ElliptecStatus.COMMAND_ERROR: "command error: the module does not know or support it",
    ElliptecStatus.VALUE_OUT_OF_RANGE: "value out of range for this command",
    ElliptecStatus.MODULE_ISOLATED: "the module is isolated (`is` command) and ignores commands",
    ElliptecStatus.MODULE_OUT_OF_ISOLATION:
        "the module reports it has left isolation; send the command again",
    ElliptecStatus.INITIALISING_ERROR: "initialising error: the module failed its start-up",
    ElliptecStatus.THERMAL_ERROR: "thermal error: the motor is too hot; let it cool down",
    ElliptecStatus.BUSY: "busy: the module is still executing a previous command",
    ElliptecStatus.SENSOR_ERROR: "sensor error: the position sensor failed",
    ElliptecStatus.MOTOR_ERROR: "motor error: the piezo motor failed",
    ElliptecStatus.OUT_OF_RANGE: "out of range: the target is beyond the travel",
    ElliptecStatus.OVER_CURRENT: "over-current: the motor drew too much current",
}

#: Codes about the mechanics (the mount could not or did not move): MotionError.
MOTION_FAULTS = frozenset({
    ElliptecStatus.MECHANICAL_TIMEOUT, ElliptecStatus.INITIALISING_ERROR,
    ElliptecStatus.THERMAL_ERROR, ElliptecStatus.SENSOR_ERROR, ElliptecStatus.MOTOR_ERROR,
    ElliptecStatus.OVER_CURRENT,
})


class MotionError(InstrumentError):
    """The mount could not move as told: mechanical time-out, motor, sensor, thermal,
    over-current or initialising error, or it stopped away from the target."""

    def __init__(self, message: str, status: ElliptecStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


class ElliptecCommandError(InstrumentCommandError):
    """The module refused a command (bad command, value or range, busy, isolated)."""

    def __init__(self, message: str, status: ElliptecStatus) -> None:
        super().__init__(message)
        self.status = status


def status_error(status: ElliptecStatus, name: str, command: str) -> InstrumentError:
    """The exception for a non-zero status code answered to `command`."""
    message = f"{name} answered GS{status.value:02X} to {command!r}: {_DESCRIPTIONS[status]}"
    if status in MOTION_FAULTS:
        return MotionError(message, status)
    return ElliptecCommandError(message, status)


def _hex_field(text: str, what: str) -> int:
    if not _HEX.fullmatch(text):
        raise ValueError(f"{what} is not hexadecimal: {text!r}")
    return int(text, 16)


def decode_position(text: str) -> int:
    """8 hex digits, 32-bit two's complement -> pulses (`FFFFFFFF` -> -1)."""
    if len(text) != 8:
        raise ValueError(f"a position has 8 hex digits, got {text!r}")
    value = _hex_field(text, "position")
    return value - (1 << 32) if value & (1 << 31) else value


def encode_position(pulses: int) -> str:
    """Pulses -> 8 upper-case hex digits, 32-bit two's complement (-1 -> `FFFFFFFF`)."""
    if not -(1 << 31) <= pulses < (1 << 31):
        raise ValueError(f"{pulses} pulses do not fit a 32-bit position")
    return f"{pulses & 0xFFFFFFFF:08X}"


@dataclass(frozen=True)
class ElliptecInfo:
    """The `in` reply. `pulses_per_unit` is the manual's "pulses per measurement unit",
    which on rotation mounts counts the whole travel (see the module docstring)."""

    module_type: int
    serial_number: str
    year: int
    firmware: str
    hardware: str
    travel: int
    pulses_per_unit: int

    @property
    def model(self) -> str:
        """`ELL14` for module type 0x0E."""
        return f"ELL{self.module_type}"

    @property
    def pulses_per_deg(self) -> float:
        return self.pulses_per_unit / self.travel

    @classmethod
    def parse(cls, data: str) -> ElliptecInfo:
        """Parse the 30 characters after `<address>IN`."""
        if len(data) != 30:
            raise ValueError(f"an IN reply carries 30 characters, got {len(data)}: {data!r}")
        if not data[10:14].isdigit():
            raise ValueError(f"year of manufacture is not a number: {data[10:14]!r}")
        return cls(
            module_type=_hex_field(data[0:2], "module type"),
            serial_number=data[2:10],
            year=int(data[10:14]),
            firmware=data[14:16],
            hardware=data[16:18],
            travel=_hex_field(data[18:22], "travel"),
            pulses_per_unit=_hex_field(data[22:30], "pulses"),
        )


def _payload(code: str):
    """preprocess_reply: check the reply code (address already stripped) and drop it."""
    def strip(reply: str) -> str:
        if not reply.startswith(code):
            raise ValueError(f"expected a {code} reply, got {reply!r}")
        return reply[len(code):]
    return strip


def _status_code(text: str) -> ElliptecStatus:
    if len(text) != 2:
        raise ValueError(f"a status code has 2 hex digits, got {text!r}")
    return ElliptecStatus(_hex_field(text, "status code"))


def _valid_angle(angle_deg: float) -> float:
    """Validator: a mount angle in [0, 360). Wrapping is the caller's decision, not ours."""
    if not is_finite_real(angle_deg) or not 0.0 <= angle_deg < 360.0:
        raise ValueError(f"angle {angle_deg!r}° is not in [0, 360); wrap it first "
                         "(angle % 360) if that is what you mean")
    return float(angle_deg)


def _valid_step(delta_deg: float) -> float:
    if not is_finite_real(delta_deg) or not -360.0 <= delta_deg <= 360.0:
        raise ValueError(f"relative move {delta_deg!r}° is not in [-360, 360]")
    return float(delta_deg)


class ThorlabsElliptec(CheckedMessaging, Instrument):
    """Thorlabs Elliptec rotation mount (ELL14) at one bus address.

    The `in` reply is read at connection: it says what the module is and how many encoder
    pulses make a turn. A move the mount cannot make raises MotionError; a command the module
    refuses raises ElliptecCommandError (an InstrumentCommandError). A move that ends more
    than `position_tolerance_deg` away from its target raises MotionError too (guessed
    tolerance; the ELL14 settles well within it).
    """

    def __init__(self, adapter, name: str = "Thorlabs Elliptec rotation mount",
                 address: str | int = "0", position_tolerance_deg: float = 0.5,
                 **kwargs) -> None:
        self.address = self._valid_address(address)
        if not position_tolerance_deg > 0.0:
            raise ValueError(f"position_tolerance_deg must be positive, got "
                             f"{position_tolerance_deg!r}")
        self.position_tolerance_deg = float(position_tolerance_deg)
        kwargs.setdefault("asrl", {"baud_rate": 9600, "data_bits": 8})  # parity none, 1 stop
        kwargs.setdefault("timeout", 5000)
        super().__init__(
            adapter, name, includeSCPI=False, write_termination="", read_termination="\r\n",
            **kwargs,
        )
        self.info = self._read_info()
        if self.info.travel != 360 or self.info.pulses_per_unit <= 0:
            raise InstrumentCommandError(
                f"{self.name}: the module at address {self.address} is an {self.info.model} "
                f"with a travel of {self.info.travel} and {self.info.pulses_per_unit} pulses; "
                "this driver drives 360° rotation mounts (ELL14, ELL18)")

    @staticmethod
    def _valid_address(address: str | int) -> str:
        if isinstance(address, int) and not isinstance(address, bool) and 0 <= address <= 15:
            return ADDRESSES[address]
        if isinstance(address, str) and len(address) == 1 and address.upper() in ADDRESSES:
            return address.upper()
        raise ValueError(f"Elliptec bus address {address!r} is not one hex digit 0-F")

    # --- the wire: every command carries the address, every reply is checked -------------
    def write(self, command: str, **kwargs) -> None:
        """Send `command` (without the address) to this module; `last_command` records it
        with the address, as sent."""
        super().write(f"{self.address}{command}", **kwargs)

    def read(self, **kwargs) -> str:
        """One reply without the address, e.g. `PO00004600`. A status reply with an error
        code raises its exception, except when the status was asked for (`gs`)."""
        reply = super().read(**kwargs).strip()
        if len(reply) < 3 or reply[0].upper() != self.address:
            raise InstrumentResponseError(
                f"{self.name}: expected a reply from address {self.address}, got {reply!r}")
        body = reply[1:]
        if body.startswith("GS") and not self.last_command[1:].startswith("gs"):
            try:
                status = _status_code(body[2:])
            except ValueError as exc:
                raise InstrumentResponseError(f"{self.name}: unreadable status {reply!r}: "
                                              f"{exc}") from exc
            if status is not ElliptecStatus.OK:
                raise status_error(status, self.name, self.last_command)
        return body

    def _read_info(self) -> ElliptecInfo:
        reply = self.values("in", cast=str, preprocess_reply=_payload("IN"))[0]
        try:
            return ElliptecInfo.parse(reply)
        except ValueError as exc:
            raise InstrumentResponseError(f"{self.name}: unreadable IN reply: {exc}") from exc

    # --- declarative reads -------------------------------------------------------------------
    status = Instrument.measurement(
        "gs", "Status code (ElliptecStatus). Reading it clears a latched error, so it answers "
        "an error once.",
        cast=_status_code, preprocess_reply=_payload("GS"),
    )
    position_pulses = Instrument.measurement(
        "gp", "Position in encoder pulses (signed; may leave [0, one turn) after relative "
        "moves).",
        cast=decode_position, preprocess_reply=_payload("PO"),
    )

    # --- derived ---------------------------------------------------------------------------
    @property
    def pulses_per_deg(self) -> float:
        """Encoder pulses per degree, from the `in` reply."""
        return self.info.pulses_per_deg

    @property
    def identity(self) -> str:
        info = self.info
        return (f"Thorlabs {info.model} rotation mount, serial {info.serial_number}, "
                f"firmware {info.firmware}, address {self.address}")

    def _angle_of(self, pulses: int) -> float:
        return (pulses / self.pulses_per_deg) % 360.0

    def _get_angle(self) -> float:
        return self._angle_of(self.position_pulses)

    def _set_angle(self, angle_deg: float) -> None:
        angle_deg = _valid_angle(angle_deg)
        pulses_per_turn = self.info.pulses_per_unit
        target = round(angle_deg * self.pulses_per_deg) % pulses_per_turn
        reached = self._move(f"ma{encode_position(target)}")
        if reached is not None:
            self._check_reached(target, reached)

    angle_deg = property(
        _get_angle, _set_angle,
        doc="Mount angle in degrees, [0, 360). Setting it moves there (`ma`) and returns when "
            "the move is done; angles outside [0, 360) are rejected before anything is sent.")

    def check_status(self) -> ElliptecStatus:
        """Read the status; raise its exception unless it is OK."""
        status = self.status
        if status is not ElliptecStatus.OK:
            raise status_error(status, self.name, f"{self.address}gs")
        return status

    def home(self, direction: str = "cw") -> float:
        """Home the mount (`ho0` clockwise, `ho1` counter-clockwise); return the angle."""
        code = strict_discrete_set(direction, list(_HOME_DIRECTIONS))
        reached = self._move(f"ho{_HOME_DIRECTIONS[code]}")
        return self.angle_deg if reached is None else self._angle_of(reached)

    def move_relative(self, delta_deg: float) -> float:
        """Turn by `delta_deg` in [-360, 360] (`mr`); return the new angle."""
        delta_deg = _valid_step(delta_deg)
        reached = self._move(f"mr{encode_position(round(delta_deg * self.pulses_per_deg))}")
        return self.angle_deg if reached is None else self._angle_of(reached)

    def _move(self, command: str) -> int | None:
        """Send a move; return the final position from `PO`, or None if the module answered
        `GS00` (done, no position). Error codes raise in `read`."""
        reply = self.ask(command)
        if reply.startswith("PO"):
            try:
                return decode_position(reply[2:])
            except ValueError as exc:
                raise InstrumentResponseError(f"{self.name}: unreadable reply {reply!r} to "
                                              f"{command!r}: {exc}") from exc
        if reply.startswith("GS"):
            return None
        raise InstrumentResponseError(f"{self.name}: unexpected reply {reply!r} to {command!r}")

    def _check_reached(self, target: int, reached: int) -> None:
        turn = self.info.pulses_per_unit
        miss = (reached - target + turn / 2) % turn - turn / 2
        miss_deg = abs(miss) / self.pulses_per_deg
        if miss_deg > self.position_tolerance_deg:
            raise MotionError(
                f"{self.name} stopped at {self._angle_of(reached):.3f}° instead of "
                f"{self._angle_of(target):.3f}° ({miss_deg:.3f}° off, tolerance "
                f"{self.position_tolerance_deg}°)")
