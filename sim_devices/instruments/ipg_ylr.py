"""Simulated IPG Photonics YLR CW fiber laser (docs/protocols.md §1a).

ASCII commands terminated by CR, case-insensitive, optional space before the parameter.
Queries echo as `CMD: value`; actions echo the bare command; refused commands answer
`ERR: <reason>`; an unknown command answers `BCMD`.

Model: a power-controlled YLR-5-1064-LP. Diode current setpoint SDC (% of maximum) and power
setpoint SPS (W) describe the same operating point; output power is linear in current above
the lasing threshold. After `EMON` the laser needs a start-up time (status bit 15) before
light comes out, as the real one does (~3 s).
"""

from __future__ import annotations

import re

from ..clock import Clock
from .base import SimulatedMessageInstrument

# Status bits (index) agreed by two independent drivers (docs/protocols.md §1a).
BIT_OVERTEMP = 1
BIT_EMISSION = 2
BIT_BACK_REFLECTION = 3
BIT_MODULE_FAILED = 7
BIT_AIMING = 8
BIT_OPTICAL_INTERLOCK = 10
BIT_MODULATION = 12
BIT_ENABLE = 14
BIT_STARTUP = 15
BIT_KEY_REM = 21

FAULT_BITS = (BIT_OVERTEMP, BIT_BACK_REFLECTION, BIT_MODULE_FAILED, BIT_OPTICAL_INTERLOCK)

#: Actions that only echo; the value is the state they set (empty: accepted, not modelled).
_TOGGLES: dict[str, dict[str, bool]] = {
    "ABN": {"aiming_beam": True},
    "ABF": {"aiming_beam": False},
    "EMOD": {"modulation": True},
    "DMOD": {"modulation": False},
    "EEC": {},
    "DEC": {},
    "DLE": {},
    "DGM": {},
}

_COMMAND = re.compile(r"^([A-Za-z]{3,5})\s*(.*)$")


class SimIPGYLR(SimulatedMessageInstrument):
    """A virtual YLR laser that is also a beam source of the simulated world."""

    write_termination = "\r"
    read_termination = "\r"
    DEVICE_FAULTS = {
        "interlock_open": "optical interlock opens (status bit 10): emission stops",
        "over_temperature": "over-temperature (status bit 1): emission stops",
        "back_reflection": "high back-reflection (status bit 3): emission stops",
        "key_switch_off": "key switch leaves REM: emission stops and EMON is refused",
    }

    def __init__(
        self,
        clock: Clock,
        *,
        wavelength_nm: float = 1064.0,
        max_power_W: float = 5.0,
        min_current_percent: float = 10.0,
        lasing_threshold_percent: float = 9.0,
        max_current_A: float = 12.0,
        startup_s: float = 3.0,
        model: str = "YLR-5-1064-LP",
        firmware: str = "3.6.1",
    ) -> None:
        super().__init__()
        self.clock = clock
        self.wavelength_nm = wavelength_nm
        self.max_power_W = max_power_W
        self.min_current_percent = min_current_percent
        self.lasing_threshold_percent = lasing_threshold_percent
        self.max_current_A = max_current_A
        self.startup_s = startup_s
        self.model = model
        self.firmware = firmware
        self.current_percent = min_current_percent
        self.emission_requested = False
        self.emission_since_s = 0.0
        self.key_in_remote = True
        self.aiming_beam = False
        self.modulation = False
        self.fault_bits: set[int] = set()
        self.case_temperature_C = 26.5

    # --- physics ---------------------------------------------------------------------------
    def _power_for_current(self, percent: float) -> float:
        span = 100.0 - self.lasing_threshold_percent
        return self.max_power_W * max(0.0, percent - self.lasing_threshold_percent) / span

    def _current_for_power(self, power_W: float) -> float:
        span = 100.0 - self.lasing_threshold_percent
        return self.lasing_threshold_percent + span * power_W / self.max_power_W

    def _starting_up(self) -> bool:
        return self.emission_requested and (
            self.clock.now() - self.emission_since_s < self.startup_s
        )

    def output_power_W(self) -> float:
        """Optical output now (the world reads this)."""
        if not self.emission_requested or self._starting_up() or self.fault_bits:
            return 0.0
        return self._power_for_current(self.current_percent)

    @property
    def status_word(self) -> int:
        bits = set(self.fault_bits)
        if self.emission_requested:
            bits.add(BIT_EMISSION)
        if self._starting_up():
            bits.add(BIT_STARTUP)
        if self.aiming_beam:
            bits.add(BIT_AIMING)
        if self.modulation:
            bits.add(BIT_MODULATION)
        if self.key_in_remote:
            bits.update((BIT_KEY_REM, BIT_ENABLE))
        return sum(1 << b for b in bits)

    # --- fault injection ------------------------------------------------------------------------
    def inject_fault(self, bit: int) -> None:
        """Raise a fault bit; like the real laser, a fault stops emission."""
        self.fault_bits.add(bit)
        self.emission_requested = False

    def _inject_device_fault(self, fault: str) -> None:
        if fault == "key_switch_off":
            self.key_in_remote = False
            self.emission_requested = False
            return
        bit = {"interlock_open": BIT_OPTICAL_INTERLOCK, "over_temperature": BIT_OVERTEMP,
               "back_reflection": BIT_BACK_REFLECTION}[fault]
        self.inject_fault(bit)

    def _clear_device_faults(self) -> None:
        """The key back in REM; raised fault bits stay latched until RERR, emission off until
        EMON, as on the real laser."""
        self.key_in_remote = True

    # --- protocol --------------------------------------------------------------------------
    def _handle(self, command: str) -> str | None:
        match = _COMMAND.match(command)
        if not match:
            return "BCMD"
        name, arg = match.group(1).upper(), match.group(2).strip()
        if name in _TOGGLES:
            for attr, value in _TOGGLES[name].items():
                setattr(self, attr, value)
            return name
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return "BCMD"
        return handler(arg)

    @staticmethod
    def _number(arg: str) -> float | None:
        try:
            return float(arg)
        except ValueError:
            return None

    def _cmd_RFV(self, _arg: str) -> str:
        return f"RFV: {self.firmware}"

    def _cmd_RMN(self, _arg: str) -> str:
        return f"RMN: {self.model}"

    def _cmd_STA(self, _arg: str) -> str:
        return f"STA: {self.status_word}"

    def _cmd_EMON(self, _arg: str) -> str:
        if not self.key_in_remote:
            return "ERR: Key switch not in REM"
        if self.fault_bits:
            return "ERR: Laser fault, reset errors first"
        if not self.emission_requested:
            self.emission_requested = True
            self.emission_since_s = self.clock.now()
        return "EMON"

    def _cmd_EMOFF(self, _arg: str) -> str:
        self.emission_requested = False
        return "EMOFF"

    def _cmd_SDC(self, arg: str) -> str:
        value = self._number(arg)
        if value is None:
            return "BCMD"
        if not self.min_current_percent <= value <= 100.0:
            return "ERR: Out of Range"
        self.current_percent = round(value, 1)
        return f"SDC: {self.current_percent:.1f}"

    def _cmd_RCS(self, _arg: str) -> str:
        return f"RCS: {self.current_percent:.1f}"

    def _cmd_RNC(self, _arg: str) -> str:
        return f"RNC: {self.min_current_percent:.1f}"

    def _cmd_SPS(self, arg: str) -> str:
        value = self._number(arg)
        if value is None:
            return "BCMD"
        if not 0.0 <= value <= self.max_power_W:
            return "ERR: Out of Range"
        # Power control regulates the diode current; below the lowest current the laser
        # cannot go, as on the real power-controlled models.
        self.current_percent = max(self.min_current_percent, self._current_for_power(value))
        return f"SPS: {self._power_for_current(self.current_percent):.4f}"

    def _cmd_RPS(self, _arg: str) -> str:
        return f"RPS: {self._power_for_current(self.current_percent):.4f}"

    def _cmd_ROP(self, _arg: str) -> str:
        power = self.output_power_W()
        if power <= 0.0:  # emission off, or still starting up: no light yet
            return "ROP: Off"
        if power < 0.01 * self.max_power_W:
            return "ROP: Low"
        return f"ROP: {power:.3f}"

    def _cmd_RDC(self, _arg: str) -> str:
        amps = self.max_current_A * self.current_percent / 100.0 if self.emission_requested else 0.0
        return f"RDC: {amps:.2f}"

    def _cmd_RCT(self, _arg: str) -> str:
        return f"RCT: {self.case_temperature_C:.1f}"

    def _cmd_RERR(self, _arg: str) -> str:
        self.fault_bits.clear()
        return "RERR"
