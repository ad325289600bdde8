"""IPG Photonics YLR continuous-wave fiber laser (1064 nm and others).

Protocol (docs/protocols.md §1a): RS-232 57600 8N1 or raw TCP port 10001; ASCII commands ending
in CR; queries echo `CMD: value`, actions echo the bare command, refusals start with `ERR`,
unknown commands answer `BCMD`. Every command has a reply, so setting a value reads it back
and a refusal becomes an exception instead of passing silently.

Resources: `ASRL/dev/ttyUSB0::INSTR` or `TCPIP0::<ip>::10001::SOCKET`.
"""

from __future__ import annotations

import enum
import math
import re

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_range

from ..errors import (
    InstrumentCommandError,
    InstrumentResponseError,
    LaserFaultError,
    LaserInterlockError,
)
from ..messaging import CheckedMessaging


class YLRStatus(enum.IntFlag):
    """Bits of the `STA` status word (agreed by two independent drivers; docs/protocols.md §1a)."""

    OVER_TEMPERATURE = 1 << 1
    EMISSION = 1 << 2
    HIGH_BACK_REFLECTION = 1 << 3
    ANALOG_CONTROL = 1 << 4
    MODULE_DISCONNECTED = 1 << 6
    MODULE_FAILED = 1 << 7
    AIMING_BEAM = 1 << 8
    OPTICAL_INTERLOCK = 1 << 10
    POWER_SUPPLY_OFF = 1 << 11
    MODULATION = 1 << 12
    LASER_ENABLE = 1 << 14
    EMISSION_STARTUP = 1 << 15
    UNEXPECTED_EMISSION = 1 << 17
    KEY_IN_REMOTE = 1 << 21


#: Any of these forbids emission.
YLR_FAULTS = (
    YLRStatus.OVER_TEMPERATURE
    | YLRStatus.HIGH_BACK_REFLECTION
    | YLRStatus.MODULE_DISCONNECTED
    | YLRStatus.MODULE_FAILED
    | YLRStatus.POWER_SUPPLY_OFF
    | YLRStatus.UNEXPECTED_EMISSION
)


def _value_after_echo(reply: str) -> str:
    """`ROP: 3.45` -> `3.45` (the echo prefix is checked by `IPGYLR.read`)."""
    return reply.split(":", 1)[1].strip() if ":" in reply else reply.strip()


def _output_power(value: str) -> float:
    """ROP answers a number in W, `Off` (no emission) or `Low` (below the display threshold)."""
    word = value.strip().lower()
    if word == "off":
        return 0.0
    if word == "low":
        return math.nan
    return float(value)


class IPGYLR(CheckedMessaging, Instrument):
    """IPG YLR fiber laser.

    `max_power_W` sets the validator of the power setpoint; when omitted it is read from the
    model name (`YLR-5-1064-LP` -> 5 W).
    """

    def __init__(self, adapter, name: str = "IPG YLR fiber laser", max_power_W: float | None = None,
                 **kwargs) -> None:
        kwargs.setdefault("asrl", {"baud_rate": 57600})
        super().__init__(
            adapter, name, includeSCPI=False, write_termination="\r", read_termination="\r",
            **kwargs,
        )
        if max_power_W is None:
            max_power_W = self._max_power_from_model(self.model)
        self.max_power_W = float(max_power_W)

    @staticmethod
    def _max_power_from_model(model: str) -> float:
        match = re.match(r"\s*YL[RS]-(\d+(?:\.\d+)?)", model, re.IGNORECASE)
        if not match:
            raise InstrumentCommandError(
                f"cannot tell the maximum power of laser model {model!r}; pass max_power_W"
            )
        return float(match.group(1))

    # Every reply passes here: refusals become exceptions, never silent.
    def read(self, **kwargs) -> str:
        reply = super().read(**kwargs).strip()
        if reply.upper().startswith("ERR"):
            raise InstrumentCommandError(f"{self.name} refused the command: {reply}")
        if reply.upper() == "BCMD":
            raise InstrumentCommandError(f"{self.name} did not understand the command (BCMD)")
        return reply

    def check_set_errors(self) -> list:
        self.read()  # the echo of the setting, or an exception
        return []

    firmware = Instrument.measurement("RFV", "Firmware version.", cast=str,
                                      preprocess_reply=_value_after_echo)
    model = Instrument.measurement("RMN", "Model name, e.g. 'YLR-5-1064-LP'.", cast=str,
                                   preprocess_reply=_value_after_echo)
    status_word = Instrument.measurement("STA", "Raw status word (see YLRStatus).", cast=int,
                                         preprocess_reply=_value_after_echo)
    current_setpoint_percent = Instrument.control(
        "RCS", "SDC %.1f",
        "Diode-current setpoint in % of the maximum current. Values the laser refuses (below "
        "its minimum, see `minimum_current_percent`) raise InstrumentCommandError.",
        validator=strict_range, values=[0.0, 100.0], check_set_errors=True,
        preprocess_reply=_value_after_echo,
    )
    minimum_current_percent = Instrument.measurement(
        "RNC", "Lowest accepted diode-current setpoint, % of maximum.",
        preprocess_reply=_value_after_echo,
    )
    def _get_power_setpoint(self) -> float:
        return self.values("RPS", preprocess_reply=_value_after_echo)[0]

    def _set_power_setpoint(self, power_W: float) -> None:
        power_W = strict_range(power_W, [0.0, self.max_power_W])
        echoed = self.values(f"SPS {power_W:.4f}", preprocess_reply=_value_after_echo)[0]
        # A power-controlled YLR cannot go below its minimum current; it then sets a higher
        # power and says so in the echo. That must never pass silently.
        if abs(echoed - power_W) > max(1e-4, 1e-3 * power_W):
            raise InstrumentCommandError(
                f"{self.name} set {echoed:g} W instead of the requested {power_W:g} W (below "
                "its lowest power?); use an attenuator for lower powers")

    power_setpoint_W = property(
        _get_power_setpoint, _set_power_setpoint,
        doc="Output-power setpoint in W (power-controlled models). Out-of-range values are "
            "rejected, and a setpoint the laser changes (its echo differs) raises "
            "InstrumentCommandError — never clamped silently.")

    output_power_W = Instrument.measurement(
        "ROP", "Measured output power in W: 0.0 when emission is off, NaN when the laser "
        "reports 'Low' (below its display threshold).",
        cast=_output_power, preprocess_reply=_value_after_echo,
    )
    diode_current_A = Instrument.measurement("RDC", "Diode current in A.",
                                             preprocess_reply=_value_after_echo)
    case_temperature_C = Instrument.measurement("RCT", "Case temperature in °C.",
                                                preprocess_reply=_value_after_echo)

    @property
    def status(self) -> YLRStatus:
        """Decoded status word."""
        return YLRStatus(self.status_word)

    @property
    def emission_enabled(self) -> bool:
        return YLRStatus.EMISSION in self.status

    def _action(self, command: str) -> None:
        reply = self.ask(command)
        if reply.upper() != command:
            raise InstrumentResponseError(f"{self.name}: unexpected reply {reply!r} to {command}")

    def _get_analog_modulation(self) -> bool:
        return YLRStatus.MODULATION in self.status

    def _set_analog_modulation(self, enabled: bool) -> None:
        enabled = bool(enabled)
        if not enabled and YLRStatus.EMISSION in self.status:
            raise InstrumentCommandError(
                f"{self.name}: switch emission off before disabling modulation (DMOD would "
                "send the laser to CW at its setpoint)")
        command = "EMOD" if enabled else "DMOD"
        self._action(command)
        if self._get_analog_modulation() != enabled:
            raise InstrumentResponseError(
                f"{self.name}: modulation status bit did not follow {command}")

    analog_modulation_enabled = property(
        _get_analog_modulation, _set_analog_modulation,
        doc="The laser follows its rear modulation input (status bit 12; docs/protocols.md §1a). "
            "Setting it sends `EMOD` / `DMOD` and reads the status bit back "
            "(InstrumentResponseError if it did not follow). Disabling is refused while the "
            "laser emits (it would jump to CW at its setpoint); enabling is always allowed.")

    def enable_emission(self) -> None:
        """Switch emission on, after checking the key switch and fault bits (docs/protocols.md §1a)."""
        status = self.status
        if YLRStatus.KEY_IN_REMOTE not in status:
            raise LaserInterlockError(f"{self.name}: key switch is not in REM; emission refused")
        if YLRStatus.OPTICAL_INTERLOCK in status:
            raise LaserInterlockError(f"{self.name}: optical interlock open; emission refused")
        faults = status & YLR_FAULTS
        if faults:
            raise LaserFaultError(f"{self.name} reports a fault: {faults!r}; emission refused")
        self._action("EMON")

    def disable_emission(self) -> None:
        """Switch emission off (always allowed)."""
        self._action("EMOFF")

    def reset_errors(self) -> None:
        self._action("RERR")

    def set_aiming_beam(self, on: bool) -> None:
        self._action("ABN" if on else "ABF")

    def check_faults(self) -> YLRStatus:
        """Raise LaserFaultError if the status word shows a fault, LaserInterlockError if the
        optical interlock is open or the key switch has left REM; return the status (one
        `STA` query)."""
        status = self.status
        faults = status & YLR_FAULTS
        if faults:
            raise LaserFaultError(f"{self.name} reports a fault: {faults!r}")
        if YLRStatus.OPTICAL_INTERLOCK in status:
            raise LaserInterlockError(f"{self.name}: optical interlock open")
        if YLRStatus.KEY_IN_REMOTE not in status:
            raise LaserInterlockError(f"{self.name}: key switch is not in REM")
        return status

    def emission_checked(self) -> bool:
        """Whether emission is on, from the same status word `check_faults()` reads (and
        raising as it does): one query where a health check would otherwise ask twice."""
        return YLRStatus.EMISSION in self.check_faults()

    @property
    def emission_ready(self) -> bool:
        """Emission is on and the start-up phase (status bit 15) is over."""
        status = self.status
        return YLRStatus.EMISSION in status and YLRStatus.EMISSION_STARTUP not in status

    @property
    def identity(self) -> str:
        return f"IPG Photonics {self.model}, firmware {self.firmware}"
