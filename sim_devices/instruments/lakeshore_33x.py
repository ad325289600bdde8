"""Simulated Lake Shore 335 / 336 cryogenic temperature controller (docs/protocols.md §7a).

ASCII commands, `\\n` in and `\\r\\n` out on the real link (USB 57600 7O1; TCP 7777 on the
336). Several commands may share one message separated by `;` (a leading `:` on each is
ignored, as the official driver sends `;:`); the replies of the queries among them come back
joined by `;` in one message. That is how the official driver checks every command:
`SETP 1,77;*ESR?` → `0`, `KRDG? A;*ESR?` → `+077.350;0`.

The IEEE 488.2 common commands are the shared ones (`Ieee488Status`: `*ESR?`, `*ESE`, `*SRE`,
`*STB?`, `*CLS`, `*OPC`, `*OPC?`, `*TST?`, `*WAI`); the 335/336 have no SCPI error queue, so their
status byte carries ESB and MSS only (no EAV). Errors set bits of the standard event status
register, read (and cleared) with `*ESR?`:
bit 5 (32) command error for an unknown command, bit 4 (16) execution error for a parameter
that is missing or out of range, bit 2 (4) query error for a query of an input or output the
model does not have. A refused command changes nothing and a refused query answers nothing.

Inputs read the `ThermalStage`: A the platform (control sensor), B the sample; C and D (336)
have no sensor. Outputs 1 and 2 are the current heaters (1 on the platform, 2 on the sample),
3 and 4 (336) are voltage outputs with no heater (range Off/On only). Faults can be injected:
an open or shorted sensor (RDGST? bits, reading 0), an open or shorted heater (HTRST? 1/2; the
output trips to Off), and a stopped cold head (the cryostat warms until TLIMIT cuts the heaters).

Reply formats follow the manuals' format strings (`KRDG?` ±nnnnnn → `+077.350`); the exact
padding is a plausible reading of them, not a capture from an instrument.
"""

from __future__ import annotations

import math
import re

from ..clock import Clock
from ..thermal import (
    PLATFORM,
    SAMPLE,
    ControlMode,
    HeaterFault,
    RANGE_POWER_FRACTIONS,
    HeaterLoop,
    ThermalStage,
)
from .base import SimulatedMessageInstrument
from .scpi import ESR_COMMAND_ERROR, ESR_EXECUTION_ERROR, ESR_QUERY_ERROR, Ieee488Status

# Input reading status bits (RDGST?).
RDG_INVALID = 1
RDG_TEMP_UNDER = 16
RDG_TEMP_OVER = 32
RDG_SENSOR_ZERO = 64
RDG_SENSOR_OVER = 128

#: What an injected sensor fault does to RDGST?: an open sensor reads past the top of its
#: range, a shorted one reads zero.
SENSOR_FAULT_BITS = {
    "open": RDG_INVALID | RDG_SENSOR_OVER,
    "short": RDG_INVALID | RDG_SENSOR_ZERO,
}

#: HTRSET <max current> presets in A (index 0: the user value); 1.414 A drives 100 W into 50 Ω.
MAX_CURRENT_PRESETS_A = (None, 0.707, 1.0, 1.414, 2.0)
HEATER_RESISTANCE_OHM = {1: 25.0, 2: 50.0}
#: Highest current each resistance setting allows (the output's compliance), A.
MAX_CURRENT_FOR_RESISTANCE_A = {1: 2.0, 2: 1.414}

#: Silicon diode (DT-470-like) voltage at a few temperatures, for SRDG? (V, decreasing in T).
_DIODE_CURVE = ((1.4, 1.70), (4.2, 1.626), (20.0, 1.29), (77.35, 1.0203), (150.0, 0.853),
                (305.0, 0.5069), (475.0, 0.09))
SENSOR_MIN_K, SENSOR_MAX_K = _DIODE_CURVE[0][0], _DIODE_CURVE[-1][0]

_COMMAND = re.compile(r"^(\*?[A-Za-z]+\??)\s*(.*)$")


def _diode_volts(temperature_K: float) -> float:
    pts = _DIODE_CURVE
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if temperature_K <= t1:
            return v0 + (v1 - v0) * (temperature_K - t0) / (t1 - t0)
    return pts[-1][1]


def _temp(value: float) -> str:
    """±nnnnnn: sign, six digits, three decimals (`+077.350`)."""
    return f"{value:+08.3f}"


class _BadParameter(Exception):
    """A parameter is missing or out of range: execution error, nothing changes."""


class _NoSuchChannel(Exception):
    """The model has no such input or output."""


class SimLakeShore336(Ieee488Status, SimulatedMessageInstrument):
    """A virtual Lake Shore 336 (or 335 with `model=335`) on a simulated cryostat."""

    write_termination = "\n"
    read_termination = "\r\n"
    DEVICE_FAULTS = {
        "sensor_open": "the control sensor (input A) opens: RDGST? 129, reading 0, the loop "
                       "stops heating",
        "sensor_short": "the control sensor (input A) shorts: RDGST? 65, reading 0",
        "sample_sensor_open": "the sample sensor (input B) opens: RDGST? 129, reading 0",
        "heater_open": "heater 1 goes open circuit: HTRST? 1, the output trips to Off",
        "heater_short": "heater 1 shorts: HTRST? 2, the output trips to Off",
        "cooler_stopped": "the cold head stops: the cryostat warms until TLIMIT cuts the heaters",
    }

    def __init__(
        self,
        stage: ThermalStage | None = None,
        *,
        clock: Clock | None = None,
        model: int = 336,
        serial: str = "LSA2Q4E",
        firmware: str = "2.9",
        heater_max_power_W: tuple[float, float] = (50.0, 50.0),
    ) -> None:
        super().__init__()
        if model not in (335, 336):
            raise ValueError(f"model must be 335 or 336, got {model}")
        if stage is None:
            if clock is None:
                raise ValueError("give a ThermalStage or a clock to build one on")
            stage = ThermalStage.closed_cycle(clock)
        self.stage = stage
        self.model, self.serial, self.firmware = model, serial, firmware
        self.inputs = ("A", "B", "C", "D") if model == 336 else ("A", "B")
        #: Which thermal node each input's sensor sits on (None: no sensor connected).
        self.input_nodes: dict[str, str | None] = {
            name: {"A": PLATFORM, "B": SAMPLE}.get(name) for name in self.inputs}
        self.sensor_faults: dict[str, str | None] = dict.fromkeys(self.inputs)
        self.temperature_limits_K: dict[str, float] = dict.fromkeys(self.inputs, 0.0)
        self._init_status()
        self.loops: dict[int, HeaterLoop] = {}
        self.control_inputs: dict[int, int] = {}
        self.powerup_enable: dict[int, int] = {}
        self.heater_setup: dict[int, tuple[int, int, float, int]] = {}
        outputs = (1, 2, 3, 4) if model == 336 else (1, 2)
        for number in outputs:
            heater = number <= 2
            node = PLATFORM if number == 1 else SAMPLE
            loop = HeaterLoop(
                f"output {number}",
                max_power_W=heater_max_power_W[number - 1] if heater else 0.0,
                heater_node=node, control_node=node,
                range_fractions=RANGE_POWER_FRACTIONS if heater else (0.0, 1.0),
            )
            self.loops[number] = self.stage.add_loop(loop)
            self.control_inputs[number] = 1 if number == 1 else (2 if heater else 0)
            self.powerup_enable[number] = 0
            if heater:
                self.heater_setup[number] = (2, 2, 0.0, 1)  # 50 Ω, 1 A preset, current display
            loop.set_mode(ControlMode.CLOSED_LOOP if heater else ControlMode.OFF)
            self._apply_control_input(number)

    # --- fault injection ----------------------------------------------------------------------
    def inject_sensor_fault(self, input_name: str, fault: str | None) -> None:
        """'open', 'short' or None (repaired) on an input."""
        if fault is not None and fault not in SENSOR_FAULT_BITS:
            raise ValueError(f"sensor fault must be one of {sorted(SENSOR_FAULT_BITS)} or None")
        self.stage.advance()
        self.sensor_faults[input_name.upper()] = fault
        for number in self.loops:
            self._apply_control_input(number)

    def inject_heater_fault(self, output: int, fault: HeaterFault | str | int) -> None:
        """Open (1), short (2) or NONE (0) on a heater output."""
        if isinstance(fault, str):
            fault = HeaterFault[fault.upper()]
        self.stage.advance()
        self.loops[output].inject_fault(HeaterFault(fault))

    def _inject_device_fault(self, fault: str) -> None:
        if fault in ("sensor_open", "sensor_short"):
            self.inject_sensor_fault("A", fault.removeprefix("sensor_"))
        elif fault == "sample_sensor_open":
            self.inject_sensor_fault("B", "open")
        elif fault in ("heater_open", "heater_short"):
            self.inject_heater_fault(1, fault.removeprefix("heater_"))
        elif fault == "cooler_stopped":
            self.stop_cooling()

    def _clear_device_faults(self) -> None:
        """Repair sensors, heaters and the cold head. A heater that tripped stays Off and its
        HTRST? code stays latched until read, as on the real controller."""
        for name in self.inputs:
            self.inject_sensor_fault(name, None)
        for number in (1, 2):
            self.inject_heater_fault(number, HeaterFault.NONE)
        self.restart_cooling()

    def stop_cooling(self) -> None:
        """The cold head stops (compressor fault): the cryostat starts to warm up."""
        self.stage.set_cooling(False)

    def restart_cooling(self) -> None:
        self.stage.set_cooling(True)

    # --- readings -----------------------------------------------------------------------------
    def _reading(self, input_name: str) -> tuple[int, float]:
        """The input's reading status and temperature in K (0 unless the status is clean)."""
        node = self.input_nodes[input_name]
        if node is None:
            return RDG_INVALID, 0.0
        fault = self.sensor_faults[input_name]
        if fault is not None:
            return SENSOR_FAULT_BITS[fault], 0.0
        t = self.stage.temperature_K(node)
        if t > SENSOR_MAX_K:
            return RDG_TEMP_OVER, 0.0
        if t < SENSOR_MIN_K:
            return RDG_TEMP_UNDER, 0.0
        return 0, t

    def _reading_status(self, input_name: str) -> int:
        return self._reading(input_name)[0]

    def _kelvin(self, input_name: str) -> float:
        return self._reading(input_name)[1]

    def _apply_control_input(self, output: int) -> None:
        """Point the loop at its control input's node; invalid sensor → output held at 0."""
        loop = self.loops[output]
        number = self.control_inputs[output]
        name = self.inputs[number - 1] if 1 <= number <= len(self.inputs) else None
        loop.control_node = self.input_nodes.get(name) if name else None
        loop.control_valid = name is not None and self.sensor_faults.get(name) is None

    def _control_reading(self, output: int) -> float | None:
        number = self.control_inputs[output]
        if not 1 <= number <= len(self.inputs):
            return None
        status, kelvin = self._reading(self.inputs[number - 1])
        return None if status else kelvin

    # --- protocol -----------------------------------------------------------------------------
    def _handle(self, command: str) -> str | None:
        self.stage.advance()
        replies = []
        for part in command.split(";"):
            part = part.strip().lstrip(":").strip()
            if not part:
                continue
            reply = self._one(part)
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _one(self, part: str) -> str | None:
        match = _COMMAND.match(part)
        if not match:
            self.esr |= ESR_COMMAND_ERROR
            return None
        header = match.group(1).upper()
        args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
        common = self._common_command(header.rstrip("?"), header.endswith("?"))
        if common is not None:
            return common(args)
        handler = _HANDLERS.get(header)
        if handler is None:
            self.esr |= ESR_COMMAND_ERROR
            return None
        try:
            return handler(self, args)
        except _BadParameter:
            self.esr |= ESR_EXECUTION_ERROR
        except _NoSuchChannel:
            self.esr |= ESR_QUERY_ERROR if header.endswith("?") else ESR_EXECUTION_ERROR
        return None

    # --- argument parsing ---------------------------------------------------------------------
    def _input(self, args: list[str], index: int = 0, allow_all: bool = False) -> str:
        try:
            name = args[index].upper()
        except IndexError:
            raise _BadParameter from None
        if allow_all and name == "0":
            return "0"
        if name not in self.inputs:
            raise _NoSuchChannel
        return name

    def _output(self, args: list[str], index: int = 0, heater_only: bool = False) -> int:
        number = int(self._number(args, index))
        if number not in self.loops or (heater_only and number > 2):
            raise _NoSuchChannel
        return number

    @staticmethod
    def _number(args: list[str], index: int, low: float = -math.inf,
                high: float = math.inf) -> float:
        try:
            value = float(args[index])
        except (IndexError, ValueError):
            raise _BadParameter from None
        if not low <= value <= high or math.isnan(value):
            raise _BadParameter
        return value

    def _integer(self, args: list[str], index: int, choices) -> int:
        value = self._number(args, index)
        if value != int(value) or int(value) not in choices:
            raise _BadParameter
        return int(value)

    # --- commands -----------------------------------------------------------------------------
    def _idn(self, args: list[str]) -> str:
        return f"LSCI,MODEL{self.model},{self.serial},{self.firmware}"

    def _rst(self, args: list[str]) -> None:
        for number, loop in self.loops.items():
            loop.switch_off()
            loop.set_pid(50.0, 20.0, 0.0)
            loop.set_ramp(False, 0.0)
            loop.manual_percent = 0.0
            loop.set_setpoint(0.0, None)
        return None

    def _krdg(self, args: list[str]) -> str:
        name = self._input(args, allow_all=True)
        if name == "0":
            return ",".join(_temp(self._kelvin(n)) for n in self.inputs)
        return _temp(self._kelvin(name))

    def _crdg(self, args: list[str]) -> str:
        name = self._input(args, allow_all=True)
        names = self.inputs if name == "0" else (name,)
        readings = (self._reading(n) for n in names)
        return ",".join(_temp(0.0 if status else kelvin - 273.15) for status, kelvin in readings)

    def _srdg(self, args: list[str]) -> str:
        name = self._input(args, allow_all=True)
        names = self.inputs if name == "0" else (name,)
        values = []
        for n in names:
            status, kelvin = self._reading(n)
            if status & RDG_SENSOR_OVER:
                values.append(f"{9.99999:+.5f}")
            elif status:
                values.append(f"{0.0:+.5f}")
            else:
                values.append(f"{_diode_volts(kelvin):+.5f}")
        return ",".join(values)

    def _rdgst(self, args: list[str]) -> str:
        return f"{self._reading_status(self._input(args)):03d}"

    def _setp(self, args: list[str]) -> None:
        output = self._output(args)
        value = self._number(args, 1, 0.0, 2000.0)
        self.loops[output].set_setpoint(value, self._control_reading(output))
        return None

    def _setp_query(self, args: list[str]) -> str:
        return _temp(self.loops[self._output(args)].target_setpoint_K)

    def _range(self, args: list[str]) -> None:
        output = self._output(args)
        loop = self.loops[output]
        value = self._integer(args, 1, range(loop.ranges))
        if value > 0 and loop.range == 0 and loop.ramping:
            # Switching on mid-ramp: the ramp restarts from the present reading.
            reading = self._control_reading(output)
            if reading is not None:
                loop.setpoint_now_K = reading
        loop.set_range(value)
        return None

    def _range_query(self, args: list[str]) -> str:
        return str(self.loops[self._output(args)].range)

    def _htr_query(self, args: list[str]) -> str:
        output = self._output(args, heater_only=True)
        loop = self.loops[output]
        percent = loop.output_percent
        if self.heater_setup[output][3] == 2:  # power display: % of full-scale power
            percent = 100.0 * (percent / 100.0) ** 2
        return f"{percent:+06.1f}"

    def _htrst_query(self, args: list[str]) -> str:
        return str(int(self.loops[self._output(args, heater_only=True)].read_fault()))

    def _htrset(self, args: list[str]) -> None:
        output = self._output(args, heater_only=True)
        resistance = self._integer(args, 1, (1, 2))
        preset = self._integer(args, 2, range(len(MAX_CURRENT_PRESETS_A)))
        compliance = MAX_CURRENT_FOR_RESISTANCE_A[resistance]
        user_current = self._number(args, 3, 0.0, compliance)
        current = user_current if preset == 0 else MAX_CURRENT_PRESETS_A[preset]
        if current <= 0.0 or current > compliance:
            raise _BadParameter
        display = self._integer(args, 4, (1, 2))
        self.heater_setup[output] = (resistance, preset, user_current, display)
        self.loops[output].max_power_W = current ** 2 * HEATER_RESISTANCE_OHM[resistance]
        return None

    def _htrset_query(self, args: list[str]) -> str:
        resistance, preset, user_current, display = self.heater_setup[
            self._output(args, heater_only=True)]
        return f"{resistance},{preset},{user_current:+.3f},{display}"

    def _outmode(self, args: list[str]) -> None:
        output = self._output(args)
        mode = self._integer(args, 1, range(6))
        control_input = self._integer(args, 2, range(len(self.inputs) + 1))
        powerup = self._integer(args, 3, (0, 1)) if len(args) > 3 else 0
        self.loops[output].set_mode(mode)
        self.control_inputs[output] = control_input
        self.powerup_enable[output] = powerup
        self._apply_control_input(output)
        return None

    def _outmode_query(self, args: list[str]) -> str:
        output = self._output(args)
        return (f"{int(self.loops[output].mode)},{self.control_inputs[output]},"
                f"{self.powerup_enable[output]}")

    def _pid(self, args: list[str]) -> None:
        output = self._output(args, heater_only=True)
        p = self._number(args, 1, 0.1, 1000.0)
        i = self._number(args, 2, 0.1, 1000.0)
        d = self._number(args, 3, 0.0, 200.0) if len(args) > 3 and args[3] else 0.0
        self.loops[output].set_pid(p, i, d)
        return None

    def _pid_query(self, args: list[str]) -> str:
        loop = self.loops[self._output(args, heater_only=True)]
        return f"{loop.P:+07.1f},{loop.I:+07.1f},{loop.D:+06.1f}"

    def _ramp(self, args: list[str]) -> None:
        output = self._output(args, heater_only=True)
        enabled = self._integer(args, 1, (0, 1))
        rate = self._number(args, 2, 0.0, 100.0)
        if 0.0 < rate < 0.1:
            raise _BadParameter
        self.loops[output].set_ramp(bool(enabled), rate)
        return None

    def _ramp_query(self, args: list[str]) -> str:
        loop = self.loops[self._output(args, heater_only=True)]
        return f"{int(loop.ramp_enabled)},{loop.ramp_rate_K_min:+07.2f}"

    def _rampst_query(self, args: list[str]) -> str:
        return str(int(self.loops[self._output(args, heater_only=True)].ramping))

    def _mout(self, args: list[str]) -> None:
        output = self._output(args)
        self.loops[output].manual_percent = self._number(args, 1, 0.0, 100.0)
        return None

    def _mout_query(self, args: list[str]) -> str:
        return f"{self.loops[self._output(args)].manual_percent:+07.2f}"

    def _tlimit(self, args: list[str]) -> None:
        name = self._input(args)
        limit = self._number(args, 1, 0.0, 2000.0)
        self.temperature_limits_K[name] = limit
        node = self.input_nodes[name]
        if node is not None:
            self.stage.set_limit(name, node, limit)
        return None

    def _tlimit_query(self, args: list[str]) -> str:
        return f"{self.temperature_limits_K[self._input(args)]:+06.1f}"


_HANDLERS = {
    "*IDN?": SimLakeShore336._idn,
    "*RST": SimLakeShore336._rst,
    "KRDG?": SimLakeShore336._krdg,
    "CRDG?": SimLakeShore336._crdg,
    "SRDG?": SimLakeShore336._srdg,
    "RDGST?": SimLakeShore336._rdgst,
    "SETP": SimLakeShore336._setp,
    "SETP?": SimLakeShore336._setp_query,
    "RANGE": SimLakeShore336._range,
    "RANGE?": SimLakeShore336._range_query,
    "HTR?": SimLakeShore336._htr_query,
    "HTRST?": SimLakeShore336._htrst_query,
    "HTRSET": SimLakeShore336._htrset,
    "HTRSET?": SimLakeShore336._htrset_query,
    "OUTMODE": SimLakeShore336._outmode,
    "OUTMODE?": SimLakeShore336._outmode_query,
    "PID": SimLakeShore336._pid,
    "PID?": SimLakeShore336._pid_query,
    "RAMP": SimLakeShore336._ramp,
    "RAMP?": SimLakeShore336._ramp_query,
    "RAMPST?": SimLakeShore336._rampst_query,
    "MOUT": SimLakeShore336._mout,
    "MOUT?": SimLakeShore336._mout_query,
    "TLIMIT": SimLakeShore336._tlimit,
    "TLIMIT?": SimLakeShore336._tlimit_query,
}


class SimLakeShore335(SimLakeShore336):
    """The two-input, two-output Model 335 (USB only on the real one: no TCP port)."""

    def __init__(self, stage: ThermalStage | None = None, **kwargs) -> None:
        kwargs.setdefault("model", 335)
        super().__init__(stage, **kwargs)
