"""Lake Shore Model 335 / 336 cryogenic temperature controllers.

Protocol (docs/protocols.md §7a; Lake Shore 335/336 manuals, chapter 6): ASCII commands written with
`\\n`, replies ending in `\\r\\n`. Several commands may share one message separated by `;`; the
replies of its queries come back joined by `;`. Like the official Lake Shore driver, every
setting here is sent as `<command>;*ESR?` and the standard event status register it returns is
checked: bit 2 query error, bit 4 execution error, bit 5 command error raise
InstrumentCommandError, so a refused setting never passes silently. A temperature is read
together with its reading status in one message (`KRDG? A;RDGST? A`), and the heater output
together with the heater status (`HTR? 1;HTRST? 1`), so a broken sensor raises
SensorFaultError and a broken heater HeaterFaultError instead of returning a number.

Links:
- USB (a virtual serial port): **57600 baud, 7 data bits, odd parity, 1 stop bit** — the
  defaults given to VISA serial resources, e.g. `ASRL/dev/ttyACM0::INSTR`.
- Ethernet (336 only): raw TCP port **7777**, `TCPIP0::<ip>::7777::SOCKET`.
- Leave ~50 ms between commands on hardware (a guess from the manuals' pacing advice).

Inputs are channels `input_A` … `input_D` (the 335 has A and B), heater outputs `output_1` and
`output_2` (the current outputs that run the PID loops). PID follows the Lake Shore law:
P in % output per kelvin, I a reset in repeats per 1000 s (integral time 1000/I s), D in % of a
quarter of the integral time.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_range
from pyvisa.constants import Parity, StopBits

from ..errors import (  # HeaterFaultError, SensorFaultError: shared with other controllers
    HeaterFaultError,
    InstrumentCommandError,
    InstrumentResponseError,
    SensorFaultError,
    SetpointTimeoutError,
)
from ..messaging import CheckedMessaging
from ..validators import strict_integer_range
from ..waiting import check_settle_arguments, wait_until_stable

#: Highest setpoint this driver sends unless the constructor is given another limit (K).
DEFAULT_MAX_SETPOINT_K = 400.0

#: Serial settings of the USB port (a virtual COM port).
SERIAL_SETTINGS = {"baud_rate": 57600, "data_bits": 7, "parity": Parity.odd,
                   "stop_bits": StopBits.one}
TCP_PORT = 7777

#: HTRSET <max current> presets in A; index 0 means "the user value that follows".
MAX_CURRENT_PRESETS_A = (None, 0.707, 1.0, 1.414, 2.0)
HEATER_RESISTANCES_OHM = {1: 25.0, 2: 50.0}

INPUT_NUMBERS = {"A": 1, "B": 2, "C": 3, "D": 4}


class HeaterRange(enum.IntEnum):
    """RANGE values of outputs 1 and 2: each range a decade of power below the next."""

    OFF = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class HeaterStatus(enum.IntEnum):
    """HTRST? codes (the instrument clears the code when it is read)."""

    OK = 0
    OPEN = 1
    SHORT = 2


class OutputMode(enum.IntEnum):
    """OUTMODE control modes."""

    OFF = 0
    CLOSED_LOOP = 1
    ZONE = 2
    OPEN_LOOP = 3
    MONITOR_OUT = 4
    WARMUP_SUPPLY = 5


class ReadingStatus(enum.IntFlag):
    """RDGST? bits; 0 means a valid reading."""

    INVALID_READING = 1
    TEMPERATURE_UNDERRANGE = 16
    TEMPERATURE_OVERRANGE = 32
    SENSOR_UNITS_ZERO = 64
    SENSOR_UNITS_OVERRANGE = 128


class EventStatus(enum.IntFlag):
    """*ESR? bits."""

    OPERATION_COMPLETE = 1
    QUERY_ERROR = 4
    EXECUTION_ERROR = 16
    COMMAND_ERROR = 32
    POWER_ON = 128


ESR_ERRORS = EventStatus.QUERY_ERROR | EventStatus.EXECUTION_ERROR | EventStatus.COMMAND_ERROR


class PIDSettings(NamedTuple):
    P: float
    I: float  # noqa: E741 - the manuals' name
    D: float


class RampSettings(NamedTuple):
    enabled: bool
    rate_K_min: float


class OutputModeSettings(NamedTuple):
    mode: OutputMode
    input: str | None  # control input, None: no input
    powerup_enable: bool


class HeaterSetup(NamedTuple):
    resistance_ohm: float
    max_current_A: float
    display: str  # "current" or "power": what HTR? percentages refer to


# --- validators (reject, never clamp) ---------------------------------------------------------

def _pid_validator(value: Sequence[float], limits: Sequence[Sequence[float]]) -> PIDSettings:
    if len(value) != 3:
        raise ValueError(f"PID takes (P, I, D), got {value!r}")
    names = ("P", "I", "D")
    for name, number, (low, high) in zip(names, value, limits):
        if not low <= float(number) <= high:
            raise ValueError(f"{name} = {number!r} is outside [{low:g}, {high:g}]")
    return PIDSettings(*(float(v) for v in value))


def _ramp_validator(value: Sequence[float], limits: Sequence[float]) -> tuple[int, float]:
    enabled, rate = value
    low, high = limits
    rate = float(rate)
    if not (rate == 0.0 or low <= rate <= high):
        raise ValueError(f"ramp rate {rate:g} K/min is outside [{low:g}, {high:g}] "
                         "(0: no rate limit)")
    if enabled not in (0, 1, True, False):
        raise ValueError(f"ramp on/off must be a bool, got {enabled!r}")
    return int(bool(enabled)), rate


def _output_mode_validator(value: Sequence, _values: object) -> tuple[int, int, int]:
    mode, input_name, powerup = value
    mode = strict_integer_range(mode, [0, 5])
    if input_name is None:
        number = 0
    elif str(input_name).upper() in INPUT_NUMBERS:
        number = INPUT_NUMBERS[str(input_name).upper()]
    else:
        raise ValueError(f"control input must be A–D or None, got {input_name!r}")
    if powerup not in (0, 1, True, False):
        raise ValueError(f"power-up enable must be a bool, got {powerup!r}")
    return mode, number, int(bool(powerup))


def _heater_setup_validator(value: Sequence, _values: object) -> tuple[int, int, float, int]:
    resistance_ohm, max_current_A, display = value
    codes = {r: c for c, r in HEATER_RESISTANCES_OHM.items()}
    if float(resistance_ohm) not in codes:
        raise ValueError(f"heater resistance must be 25 or 50 Ω, got {resistance_ohm!r}")
    compliance = 2.0 if float(resistance_ohm) == 25.0 else 1.414
    if not 0.1 <= float(max_current_A) <= compliance:
        raise ValueError(f"max current {max_current_A!r} A is outside [0.1, {compliance}] A "
                         f"for a {resistance_ohm:g} Ω heater")
    if display not in ("current", "power"):
        raise ValueError(f"display must be 'current' or 'power', got {display!r}")
    return (codes[float(resistance_ohm)], 0, float(max_current_A),
            1 if display == "current" else 2)


def _parse_output_mode(values: list) -> OutputModeSettings:
    mode, number, powerup = (int(v) for v in values)
    names = {n: name for name, n in INPUT_NUMBERS.items()}
    return OutputModeSettings(OutputMode(mode), names.get(number), bool(powerup))


def _parse_heater_setup(values: list) -> HeaterSetup:
    resistance, preset, user_current, display = values
    preset = int(preset)
    current = float(user_current) if preset == 0 else MAX_CURRENT_PRESETS_A[preset]
    return HeaterSetup(HEATER_RESISTANCES_OHM[int(resistance)], float(current),
                       "current" if int(display) == 1 else "power")


# --- channels ---------------------------------------------------------------------------------

class LakeShoreInput(CheckedMessaging, Channel):
    """One sensor input (A–D)."""

    @property
    def name(self) -> str:
        return f"{self.parent.name} input {self.id}"

    kelvin = Instrument.measurement(
        "KRDG? {ch}", "Raw reading in K (0 when the reading is invalid; prefer temperature_K).")
    celsius = Instrument.measurement("CRDG? {ch}", "Raw reading in °C.")
    sensor_units = Instrument.measurement(
        "SRDG? {ch}", "Reading in sensor units (V for a diode, Ω for a resistor).")
    reading_status = Instrument.measurement(
        "RDGST? {ch}", "Reading status flags (ReadingStatus; empty when the reading is valid).",
        cast=int, get_process=ReadingStatus)
    temperature_limit_K = Instrument.control(
        "TLIMIT? {ch}", "TLIMIT {ch},%g;*ESR?",
        "Over-temperature cut-off in K: above it the instrument switches every control output "
        "off. 0 disables it. This is where the application's safety limit lives.",
        validator=strict_range, values=[0.0, 1500.0], check_set_errors=True)

    @property
    def temperature_K(self) -> float:
        """Temperature in K, read with its status in one message; raises SensorFaultError when
        the reading is invalid (open or shorted sensor, out of the sensor's range)."""
        reading, status = _pair(self.values("KRDG? {ch};RDGST? {ch}", separator=";"),
                                self.name)
        flags = ReadingStatus(int(status))
        if flags:
            raise SensorFaultError(
                f"{self.parent.name}: input {self.id} reading is invalid ({_flag_names(flags)}); "
                "check the sensor and its wiring")
        return float(reading)


class LakeShoreHeaterOutput(CheckedMessaging, Channel):
    """One heater output (1 or 2) and its control loop."""

    @property
    def name(self) -> str:
        return f"{self.parent.name} output {self.id}"

    setpoint_K = Instrument.control(
        "SETP? {ch}", "SETP {ch},%g;*ESR?",
        "Control-loop setpoint in K (the target; with ramping on the loop approaches it at the "
        "ramp rate). Values above the driver's maximum setpoint are rejected, never clamped.",
        validator=strict_range, values=[0.0, DEFAULT_MAX_SETPOINT_K], dynamic=True,
        check_set_errors=True)
    heater_range = Instrument.control(
        "RANGE? {ch}", "RANGE {ch},%d;*ESR?",
        "Heater range (HeaterRange: OFF, LOW, MEDIUM, HIGH — a decade of power apart).",
        validator=strict_integer_range, values=[0, 3], cast=int, get_process=HeaterRange,
        check_set_errors=True)
    manual_output_percent = Instrument.control(
        "MOUT? {ch}", "MOUT {ch},%g;*ESR?",
        "Manual output in % of full scale: the whole output in open loop, added to the PID "
        "output in closed loop.",
        validator=strict_range, values=[0.0, 100.0], check_set_errors=True)
    pid = Instrument.control(
        "PID? {ch}", "PID {ch},%g,%g,%g;*ESR?",
        "PID settings (P 0.1–1000 %/K, I 0.1–1000 repeats/1000 s, D 0–200 %) as PIDSettings; "
        "set with a (P, I, D) tuple.",
        validator=_pid_validator, values=((0.1, 1000.0), (0.1, 1000.0), (0.0, 200.0)),
        get_process_list=lambda v: PIDSettings(*(float(x) for x in v)), check_set_errors=True)
    ramp = Instrument.control(
        "RAMP? {ch}", "RAMP {ch},%d,%g;*ESR?",
        "Setpoint ramp as RampSettings(enabled, rate_K_min); set with (on/off, K/min), rate "
        "0.1–100 K/min (0: no limit).",
        validator=_ramp_validator, values=(0.1, 100.0),
        get_process_list=lambda v: RampSettings(bool(int(v[0])), float(v[1])),
        check_set_errors=True)
    ramping = Instrument.measurement(
        "RAMPST? {ch}", "True while the setpoint is ramping towards its target.",
        cast=int, get_process=bool)
    output_mode = Instrument.control(
        "OUTMODE? {ch}", "OUTMODE {ch},%d,%d,%d;*ESR?",
        "Control mode, control input and power-up enable as OutputModeSettings; set with "
        "(OutputMode, 'A'–'D' or None, bool).",
        validator=_output_mode_validator, values=None,
        get_process_list=_parse_output_mode, check_set_errors=True)
    heater_setup = Instrument.control(
        "HTRSET? {ch}", "HTRSET {ch},%d,%d,%g,%d;*ESR?",
        "Heater resistance (25 or 50 Ω), maximum current (A) and what HTR? percentages refer "
        "to ('current' or 'power'), as HeaterSetup; set with a (resistance, current, display) "
        "tuple (sent as a user-specified current).",
        validator=_heater_setup_validator, values=None,
        get_process_list=_parse_heater_setup, check_set_errors=True)
    heater_status = Instrument.measurement(
        "HTRST? {ch}", "Heater status (HeaterStatus); reading it clears the code.",
        cast=int, get_process=HeaterStatus)

    @property
    def heater_output_percent(self) -> float:
        """Heater output in % of full scale, read with the heater status in one message;
        raises HeaterFaultError when the heater is open or shorted."""
        output, status = _pair(self.values("HTR? {ch};HTRST? {ch}", separator=";"), self.name)
        _raise_heater_fault(self.parent.name, self.id, HeaterStatus(int(status)))
        return float(output)

    def check_heater(self) -> None:
        """Raise HeaterFaultError if the heater reports a fault (clears the code)."""
        _raise_heater_fault(self.parent.name, self.id, self.heater_status)

    def set_ramp(self, rate_K_min: float, enabled: bool = True) -> None:
        self.ramp = (enabled, rate_K_min)


def _pair(values: list, name: str) -> tuple[float, float]:
    """The two replies of a two-query message (anything else is an unreadable reply)."""
    if len(values) != 2:
        raise InstrumentResponseError(f"{name}: expected two replies joined by ';', got {values!r}")
    return values[0], values[1]


def _flag_names(flags: enum.Flag) -> str:
    return ", ".join(f.name.lower().replace("_", " ") for f in type(flags) if f in flags)


def _raise_heater_fault(name: str, output: object, status: HeaterStatus) -> None:
    if status == HeaterStatus.OPEN:
        raise HeaterFaultError(f"{name}: heater {output} is open (no load); the output is off. "
                               "Check the heater wiring")
    if status == HeaterStatus.SHORT:
        raise HeaterFaultError(f"{name}: heater {output} is shorted; the output is off. Check "
                               "the heater and its leads")


# --- the instrument ---------------------------------------------------------------------------

class LakeShore33x(CheckedMessaging, Instrument):
    """Lake Shore Model 335 or 336 temperature controller.

    `max_setpoint_K` bounds every setpoint this driver sends (the lab's limit for the
    cryostat); `configure_safety_limit` also sets the instrument's own TLIMIT cut-off.
    """

    input_A = Instrument.ChannelCreator(LakeShoreInput, "A")
    input_B = Instrument.ChannelCreator(LakeShoreInput, "B")
    input_C = Instrument.ChannelCreator(LakeShoreInput, "C")
    input_D = Instrument.ChannelCreator(LakeShoreInput, "D")
    output_1 = Instrument.ChannelCreator(LakeShoreHeaterOutput, 1)
    output_2 = Instrument.ChannelCreator(LakeShoreHeaterOutput, 2)

    def __init__(self, adapter, name: str = "Lake Shore 335/336 temperature controller", *,
                 max_setpoint_K: float = DEFAULT_MAX_SETPOINT_K, **kwargs) -> None:
        kwargs.setdefault("asrl", dict(SERIAL_SETTINGS))
        super().__init__(adapter, name, includeSCPI=False, write_termination="\n",
                         read_termination="\r\n", **kwargs)
        if not max_setpoint_K > 0:
            raise ValueError(f"max_setpoint_K must be positive, got {max_setpoint_K}")
        self.max_setpoint_K = float(max_setpoint_K)
        self._set_setpoint_limit(self.max_setpoint_K)

    def _set_setpoint_limit(self, limit_K: float) -> None:
        for output in self.outputs:
            output.setpoint_K_values = [0.0, limit_K]

    @property
    def inputs(self) -> list[LakeShoreInput]:
        return [self.input_A, self.input_B, self.input_C, self.input_D]

    @property
    def outputs(self) -> list[LakeShoreHeaterOutput]:
        return [self.output_1, self.output_2]

    def input(self, name: str) -> LakeShoreInput:
        """The input channel 'A'–'D'."""
        try:
            return {"A": self.input_A, "B": self.input_B, "C": self.input_C,
                    "D": self.input_D}[str(name).upper()]
        except KeyError:
            raise ValueError(f"input must be A–D, got {name!r}") from None

    def output(self, number: int) -> LakeShoreHeaterOutput:
        """The heater output 1 or 2."""
        try:
            return {1: self.output_1, 2: self.output_2}[int(number)]
        except (KeyError, ValueError):
            raise ValueError(f"heater output must be 1 or 2, got {number!r}") from None

    # --- messages -----------------------------------------------------------------------------
    def check_set_errors(self) -> list:
        """Read the `*ESR?` reply that ends every setting; raise on an error bit."""
        reply = self.read().strip()
        try:
            status = EventStatus(int(reply))
        except ValueError:
            raise InstrumentResponseError(
                f"{self.name}: expected the *ESR? status after {self.last_command!r}, got "
                f"{reply!r}") from None
        errors = status & ESR_ERRORS
        if errors:
            raise InstrumentCommandError(
                f"{self.name} refused {self.last_command!r}: {_flag_names(errors)} "
                f"(*ESR? = {int(status)})")
        return []

    def _setting(self, command: str) -> None:
        """Send settings (several may be joined with ';') followed by *ESR? and check it."""
        self.write(f"{command};*ESR?")
        self.check_set_errors()

    # --- identity and housekeeping ------------------------------------------------------------
    identification = Instrument.measurement(
        "*IDN?", "Identification: 'LSCI,MODEL336,<serial>,<firmware>'.", cast=str,
        get_process_list=lambda v: ",".join(str(x).strip() for x in v))

    @property
    def model(self) -> int:
        """335 or 336 (from *IDN?)."""
        word = self.identification.split(",")[1].strip().upper()
        return int(word.removeprefix("MODEL"))

    @property
    def identity(self) -> str:
        _, model, serial, firmware = (p.strip() for p in self.identification.split(",")[:4])
        return f"Lake Shore {model.removeprefix('MODEL')} SN {serial}, firmware {firmware}"

    all_temperatures_K = Instrument.measurement(
        "KRDG? 0", "Raw readings of every input in K (a list, 0 where invalid).")

    def clear_status(self) -> None:
        """*CLS: clear the status registers."""
        self.write("*CLS")

    def all_heaters_off(self) -> None:
        """Heater outputs 1 and 2 to range Off in one message (the front panel's safety key)."""
        self._setting("RANGE 1,0;RANGE 2,0")

    def configure_safety_limit(self, limit_K: float, inputs: Sequence[str] = ("A", "B")) -> None:
        """Set the instrument's TLIMIT cut-off on `inputs` and refuse setpoints above it."""
        limit_K = strict_range(limit_K, [0.1, self.max_setpoint_K])
        for name in inputs:
            self.input(name).temperature_limit_K = limit_K
        self._set_setpoint_limit(limit_K)

    # --- health ---------------------------------------------------------------------------------
    def health_reading(self, *, sample_input: str = "B", control_input: str = "A",
                       output: int = 1) -> float:
        """The sample temperature in K, checked in one message with the sample and control
        sensors' reading status and the heater status (`KRDG? B;RDGST? B;RDGST? A;HTRST? 1`).

        Raises SensorFaultError for an invalid reading on either sensor (the control sensor
        too: with it open the loop cannot regulate), HeaterFaultError for an open or shorted
        heater (reading HTRST? clears the code, as wait_for_setpoint's polls do)."""
        sample, control = self.input(sample_input), self.input(control_input)
        inputs = [sample] if control is sample else [sample, control]
        query = ";".join([f"KRDG? {sample.id}", *(f"RDGST? {i.id}" for i in inputs),
                          f"HTRST? {int(output)}"])
        replies = self.values(query, separator=";")
        if len(replies) != len(inputs) + 2:
            raise InstrumentResponseError(f"{self.name}: expected {len(inputs) + 2} replies to "
                                          f"{query!r}, got {replies!r}")
        for sensor, status in zip(inputs, replies[1:-1]):
            flags = ReadingStatus(int(status))
            if flags:
                raise SensorFaultError(
                    f"{self.name}: input {sensor.id} reading is invalid "
                    f"({_flag_names(flags)}); check the sensor and its wiring")
        _raise_heater_fault(self.name, output, HeaterStatus(int(replies[-1])))
        return float(replies[0])

    # --- waiting for a temperature ------------------------------------------------------------
    def wait_for_setpoint(
        self,
        output: int = 1,
        *,
        tolerance_K: float = 0.1,
        stable_s: float = 60.0,
        timeout_s: float = 3600.0,
        poll_s: float = 1.0,
        input_name: str | None = None,
        wait: Callable[[float], object] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> float:
        """Wait until the control input stays within `tolerance_K` of the setpoint for
        `stable_s` (and the setpoint has stopped ramping); return the last temperature.

        Time passes only through `wait` and is read only through `now`, so the simulated bench
        can pass its clock (virtual time) and the bench's interruptible wait. Raises
        SetpointTimeoutError after `timeout_s`, and SensorFaultError / HeaterFaultError as soon
        as a poll sees one.
        """
        check_settle_arguments(tolerance_K, stable_s, timeout_s, poll_s)
        channel = self.output(output)
        if input_name is None:
            input_name = channel.output_mode.input
            if input_name is None:
                raise InstrumentCommandError(
                    f"{self.name}: output {output} has no control input; pass input_name")
        sensor = self.input(input_name)
        setpoint = channel.setpoint_K

        def read() -> float:
            temperature = sensor.temperature_K
            channel.heater_output_percent  # raises HeaterFaultError on a heater fault
            return temperature

        def settled(temperature: float) -> bool:
            return abs(temperature - setpoint) <= tolerance_K and not channel.ramping

        def timeout_error(temperature: float) -> SetpointTimeoutError:
            return SetpointTimeoutError(
                f"{self.name}: input {input_name} at {temperature:.3f} K did not settle "
                f"within {tolerance_K:g} K of {setpoint:g} K for {stable_s:g} s in "
                f"{timeout_s:g} s")

        return wait_until_stable(read, settled, stable_s=stable_s, timeout_s=timeout_s,
                                 poll_s=poll_s, wait=wait, now=now, timeout_error=timeout_error)
