"""Simulated Thorlabs CLD101x / ITC400x laser-diode + TEC controller (docs/protocols.md §2a).

SCPI over USBTMC. Channel 1 is the laser diode (LD), channel 2 the TEC. The twin is also a beam
source of the simulated world: `wavelength_nm` and `output_power_W()`.

Model, all computed lazily from the clock (no threads):
- TEC: the diode temperature relaxes first-order towards the setpoint while the TEC is on
  (time constant `tec_time_constant_s`, a few seconds), and towards ambient (23 °C) while it
  is off. Readings carry a few mK of noise.
- Diode: P = η·(I − I_th(T)) above threshold, 0 below. I_th grows with temperature as
  I_th0·exp((T − T_cal)/T0), so power depends weakly on the TEC temperature. The LD current
  follows its setpoint with a short soft-start time constant, and never exceeds the limit.
- The LD is refused (SCPI error queued, output stays off) with the TEC off, the interlock
  open, the key off or the controller over temperature, as on the real controller. Opening
  the interlock, turning the key off, or switching the TEC off while the LD is on switches
  the LD off.
- A current setpoint above the limit, or a limit above the controller maximum, is refused
  with -222 "Data out of range" and leaves the value unchanged.
- Error queue: `+0,"No error"` when empty, FIFO, 10 entries, then -350 "Error queue
  overflow", as the Series 4000 SCPI manual describes; the IEEE 488.2 status registers and
  common commands (`*STB?`, `*ESE`, `*SRE`, `*ESR?`, `*OPC`, `*TST?`, `*WAI`) come with it.

Fault hooks for tests: `open_interlock()` / `close_interlock()`, `trip_over_temperature()`,
`set_key(on)`, and `clear_faults()` (interlock closed, key on, temperature normal; the LD stays
off until switched on again). What the LD did is logged in `events`, and every
accepted current setpoint in `setpoint_history`, so tests can check order and ramp steps.
Reply formats (`6.500000E-02`, `0`/`1`) are plausible, not confirmed: drivers parse leniently.
"""

from __future__ import annotations

import math

import numpy as np

from ..clock import Clock
from .base import SimulatedMessageInstrument
from .scpi import ScpiErrorQueue, ScpiVocabulary

AMBIENT_C = 23.0

_VOCAB = ScpiVocabulary([
    "*IDN", "*RST", "*CLS", "*OPC", "*TST", "SYSTem", "ERRor", "NEXT",
    "SOURce", "CURRent", "LEVel", "IMMediate", "AMPLitude", "LIMit", "TRIPped", "FUNCtion",
    "MODE", "TEMPerature", "SPOint", "LOW", "HIGH", "AM", "STATe", "OUTPut", "PROTection",
    "INTLock", "KEYLock", "OTEMp", "MEASure", "SCALar", "VOLTage", "POWer", "SENSe", "DATA",
    "DC",
])
#: Nodes SCPI lets a client leave out wherever they stand, e.g. SOUR:CURR[:LEV][:IMM][:AMPL].
_OPTIONAL_NODES = frozenset({"LEV", "IMM", "AMPL", "STAT", "SCAL", "DC", "MODE"})

# Measurement queries: SCPI `MEAS:...?` and the `SENSn:...:DATA?` spelling of the CLD scripts.
_MEASUREMENTS = {
    "MEAS:CURR": "ld_current", "SENS3:CURR:DATA": "ld_current",
    "MEAS:VOLT": "ld_voltage", "SENS4:VOLT:DATA": "ld_voltage",
    "MEAS:TEMP": "temperature", "SENS2:TEMP:DATA": "temperature",
    "MEAS:POW": "electrical_power",
    "MEAS:POW2": "monitor_power",
}


def _relax(start: float, target: float, elapsed_s: float, tau_s: float) -> float:
    """First-order approach from `start` to `target` after `elapsed_s`."""
    if tau_s <= 0.0:
        return target
    return target + (start - target) * math.exp(-max(0.0, elapsed_s) / tau_s)


class SimThorlabsCLD(ScpiErrorQueue, SimulatedMessageInstrument):
    """A virtual CLD1015 (or ITC400x) driving one diode; a beam source of the world."""

    DEVICE_FAULTS = {
        "interlock_open": "the interlock circuit opens: the LD switches off and is refused",
        "over_temperature": "the controller overheats: the LD switches off and is refused",
        "key_switch_off": "the key switch is turned off: the LD switches off and is refused",
    }

    def __init__(
        self,
        clock: Clock,
        *,
        wavelength_nm: float,
        threshold_current_A: float,
        slope_efficiency_W_A: float,
        current_limit_A: float,
        max_current_A: float,
        model: str = "CLD1015",
        serial: str = "M00123456",
        firmware: str = "2.3.0",
        manufacturer: str = "Thorlabs",
        tec_setpoint_C: float = 25.0,
        tec_window_C: tuple[float, float] = (5.0, 45.0),
        ambient_C: float = AMBIENT_C,
        tec_time_constant_s: float = 4.0,
        ambient_time_constant_s: float = 30.0,
        ld_time_constant_s: float = 0.05,
        calibration_temperature_C: float = 25.0,
        characteristic_temperature_K: float = 80.0,
        forward_voltage_V: float = 1.2,
        series_resistance_ohm: float = 2.0,
        temperature_noise_C: float = 0.002,
        monitor_noise: float = 0.002,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= current_limit_A <= max_current_A:
            raise ValueError(f"current_limit_A {current_limit_A} must lie in [0, max_current_A "
                             f"{max_current_A}]")
        self.clock = clock
        self.wavelength_nm = float(wavelength_nm)
        self.threshold_current_A = threshold_current_A
        self.slope_efficiency_W_A = slope_efficiency_W_A
        self.max_current_A = max_current_A
        self.model, self.serial, self.firmware = model, serial, firmware
        self.manufacturer = manufacturer
        self.tec_window_C = tec_window_C
        self.ambient_C = ambient_C
        self.tec_time_constant_s = tec_time_constant_s
        self.ambient_time_constant_s = ambient_time_constant_s
        self.ld_time_constant_s = ld_time_constant_s
        self.calibration_temperature_C = calibration_temperature_C
        self.characteristic_temperature_K = characteristic_temperature_K
        self.forward_voltage_V = forward_voltage_V
        self.series_resistance_ohm = series_resistance_ohm
        self.temperature_noise_C = temperature_noise_C
        self.monitor_noise = monitor_noise
        self.rng = np.random.default_rng(seed)

        self._init_error_queue()
        #: (time s, what happened): 'TEC ON', 'LD ON', 'LD OFF', 'LD OFF: interlock', ...
        self.events: list[tuple[float, str]] = []
        #: (time s, A) of every accepted LD current setpoint.
        self.setpoint_history: list[tuple[float, float]] = []
        self.interlock_open = False
        self.key_off = False
        self.over_temperature = False
        # Thermal state: temperature `_temp_start` at `_t0`, relaxing towards the TEC setpoint
        # (TEC on) or ambient (TEC off).
        self._t0 = clock.now()
        self._temp_start = ambient_C
        self.tec_on = False
        self.tec_setpoint_C = tec_setpoint_C
        self.ld_on = False
        self.current_limit_A = current_limit_A
        self._default_tec_setpoint_C = tec_setpoint_C
        self._reset()

    def _reset(self) -> None:
        """Power-on / *RST state: outputs off, setpoints at defaults (the queue stays)."""
        now = self.clock.now()
        self._switch_ld(False, "reset")
        if self.tec_on:
            self.events.append((now, "TEC OFF"))
        self._set_tec(False, now)
        self.tec_setpoint_C = self._default_tec_setpoint_C
        self.current_setpoint_A = 0.0
        self.am_enabled = False
        self.mode = "CURR"
        # LD current: `_i_start` at `_i0`, relaxing towards the effective setpoint.
        self._i0 = now
        self._i_start = 0.0

    # --- physics (pure functions of the clock) ---------------------------------------------
    def temperature_C(self, t: float | None = None) -> float:
        """Diode temperature now (noise-free)."""
        t = self.clock.now() if t is None else t
        if self.tec_on:
            return _relax(self._temp_start, self.tec_setpoint_C, t - self._t0,
                          self.tec_time_constant_s)
        return _relax(self._temp_start, self.ambient_C, t - self._t0,
                      self.ambient_time_constant_s)

    def _effective_setpoint_A(self) -> float:
        return min(self.current_setpoint_A, self.current_limit_A) if self.ld_on else 0.0

    def ld_current_A(self, t: float | None = None) -> float:
        """Current through the diode now."""
        if not self.ld_on:
            return 0.0
        t = self.clock.now() if t is None else t
        return _relax(self._i_start, self._effective_setpoint_A(), t - self._i0,
                      self.ld_time_constant_s)

    def threshold_at_A(self, temperature_C: float) -> float:
        """Lasing threshold at a diode temperature (grows as exp(ΔT/T0))."""
        return self.threshold_current_A * math.exp(
            (temperature_C - self.calibration_temperature_C) / self.characteristic_temperature_K)

    def output_power_W(self) -> float:
        """Optical output now (the world reads this)."""
        t = self.clock.now()
        current = self.ld_current_A(t)
        if current <= 0.0:
            return 0.0
        threshold = self.threshold_at_A(self.temperature_C(t))
        return self.slope_efficiency_W_A * max(0.0, current - threshold)

    def ld_voltage_V(self) -> float:
        current = self.ld_current_A()
        if current <= 0.0:
            return 0.0
        return self.forward_voltage_V + self.series_resistance_ohm * current

    # --- state changes ---------------------------------------------------------------------
    def _set_tec(self, on: bool, now: float) -> None:
        self._temp_start = self.temperature_C(now)
        self._t0 = now
        self.tec_on = on

    def _restart_current(self, now: float) -> None:
        """Start a new relaxation segment from the present current."""
        self._i_start = self.ld_current_A(now)
        self._i0 = now

    def _switch_ld(self, on: bool, reason: str = "") -> None:
        now = self.clock.now()
        if on == self.ld_on:
            return
        if on:
            self.ld_on = True
            self._i_start, self._i0 = 0.0, now  # soft start from 0 A
            self.events.append((now, "LD ON"))
        else:
            self.ld_on = False
            self._i_start, self._i0 = 0.0, now
            self.events.append((now, "LD OFF" + (f": {reason}" if reason else "")))

    def _ld_refusal(self) -> str | None:
        if self.interlock_open:
            return "interlock open"
        if self.key_off:
            return "key switch off"
        if self.over_temperature:
            return "over temperature"
        if not self.tec_on:
            return "TEC output is off"
        return None

    # --- fault injection -------------------------------------------------------------------
    def open_interlock(self) -> None:
        """Open the interlock circuit: the LD switches off and is refused until closed."""
        with self._lock:
            self._inject_device_fault("interlock_open")

    def close_interlock(self) -> None:
        with self._lock:
            self.interlock_open = False

    def trip_over_temperature(self) -> None:
        """The controller overheats: the LD switches off and is refused until cleared."""
        with self._lock:
            self._inject_device_fault("over_temperature")

    def set_key(self, on: bool) -> None:
        """Turn the key switch on or off (off switches the LD off)."""
        with self._lock:
            if on:
                self.key_off = False
            else:
                self._inject_device_fault("key_switch_off")

    def _inject_device_fault(self, fault: str) -> None:
        if fault == "interlock_open":
            self.interlock_open = True
            self._switch_ld(False, "interlock opened")
        elif fault == "over_temperature":
            self.over_temperature = True
            self._switch_ld(False, "over temperature")
        elif fault == "key_switch_off":
            self.key_off = True
            self._switch_ld(False, "key switch off")
        else:  # pragma: no cover - guarded by the base class
            raise ValueError(fault)

    def _clear_device_faults(self) -> None:
        """Interlock closed, key on, controller cooled down; the LD stays off until switched on."""
        self.interlock_open = self.key_off = self.over_temperature = False

    # --- protocol --------------------------------------------------------------------------
    def _handle(self, command: str) -> str | None:
        parsed = _VOCAB.parse(command)
        if parsed is None:
            self._error(-113, "Undefined header")
            return None
        path = [node for node in parsed.path if node not in _OPTIONAL_NODES]
        key, query, args = ":".join(path), parsed.is_query, parsed.args
        if key == "*IDN" and query:
            return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"
        if key == "*RST" and not query:
            self._reset()
            return None
        common = self._common_command(key, query)
        if common is not None:
            return common(args)
        if key in _MEASUREMENTS and query:
            return self._measure(_MEASUREMENTS[key])
        handler = _HANDLERS.get(key)
        if handler is None:
            self._error(-113, "Undefined header")
            return None
        return handler(self, query, args)

    # --- argument parsing ------------------------------------------------------------------
    def _number(self, args: tuple[str, ...]) -> float | None:
        if not args:
            self._error(-109, "Missing parameter")
            return None
        try:
            value = float(args[0])
        except ValueError:
            self._error(-224, "Illegal parameter value")
            return None
        if not math.isfinite(value):
            self._error(-224, "Illegal parameter value")
            return None
        return value

    def _boolean(self, args: tuple[str, ...]) -> bool | None:
        if not args:
            self._error(-109, "Missing parameter")
            return None
        word = args[0].upper()
        if word in ("1", "ON"):
            return True
        if word in ("0", "OFF"):
            return False
        self._error(-224, "Illegal parameter value")
        return None

    @staticmethod
    def _format(value: float) -> str:
        return f"{value:.6E}"

    # --- commands --------------------------------------------------------------------------
    def _measure(self, what: str) -> str:
        if what == "ld_current":
            return self._format(self.ld_current_A())
        if what == "ld_voltage":
            return self._format(self.ld_voltage_V())
        if what == "electrical_power":
            return self._format(self.ld_current_A() * self.ld_voltage_V())
        if what == "temperature":
            noise = self.rng.normal(0.0, self.temperature_noise_C)
            return self._format(self.temperature_C() + noise)
        # Monitor photodiode: proportional to the output, with a little noise.
        power = self.output_power_W()
        sigma = math.hypot(1e-7, self.monitor_noise * power)
        return self._format(max(0.0, power + self.rng.normal(0.0, sigma)))

    def _cmd_current(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            which = args[0].upper() if args else ""
            if which.startswith("MIN"):
                return self._format(0.0)
            if which.startswith("MAX"):
                return self._format(self.current_limit_A)
            return self._format(self.current_setpoint_A)
        value = self._number(args)
        if value is None:
            return None
        if not 0.0 <= value <= self.current_limit_A:
            self._error(-222, "Data out of range")
            return None
        now = self.clock.now()
        self._restart_current(now)
        self.current_setpoint_A = value
        self.setpoint_history.append((now, value))
        return None

    def _cmd_limit(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            which = args[0].upper() if args else ""
            if which.startswith("MIN"):
                return self._format(0.0)
            if which.startswith("MAX"):
                return self._format(self.max_current_A)
            return self._format(self.current_limit_A)
        value = self._number(args)
        if value is None:
            return None
        if not 0.0 <= value <= self.max_current_A:
            self._error(-222, "Data out of range")
            return None
        self._restart_current(self.clock.now())
        self.current_limit_A = value  # a setpoint above it stays; the output is limited
        return None

    def _cmd_limit_tripped(self, query: bool, args: tuple[str, ...]) -> str | None:
        if not query:
            self._error(-113, "Undefined header")
            return None
        return "1" if self.ld_on and self.current_setpoint_A > self.current_limit_A else "0"

    def _cmd_mode(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return self.mode
        word = args[0].upper() if args else ""
        if word.startswith("CURR"):
            if self.ld_on and self.mode != "CURR":
                self._error(-221, "Settings conflict; switch the LD off first")
                return None
            self.mode = "CURR"
        elif word.startswith("POW"):
            # This twin has no monitor-photodiode control loop: constant power is refused.
            self._error(-221, "Settings conflict; constant power mode not available")
        else:
            self._error(-224, "Illegal parameter value")
        return None

    def _cmd_ld_output(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return "1" if self.ld_on else "0"
        on = self._boolean(args)
        if on is None:
            return None
        if on:
            refusal = self._ld_refusal()
            if refusal is not None:
                self._error(-221, f"Settings conflict; {refusal}")
                return None
        self._switch_ld(on)
        return None

    def _cmd_tec_output(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return "1" if self.tec_on else "0"
        on = self._boolean(args)
        if on is None or on == self.tec_on:
            return None
        now = self.clock.now()
        if not on and self.ld_on:
            self._switch_ld(False, "temperature protection (TEC switched off)")
        self._set_tec(on, now)
        self.events.append((now, "TEC ON" if on else "TEC OFF"))
        return None

    def _cmd_tec_setpoint(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return self._format(self.tec_setpoint_C)
        value = self._number(args)
        if value is None:
            return None
        low, high = self.tec_window_C
        if not low <= value <= high:
            self._error(-222, "Data out of range")
            return None
        now = self.clock.now()
        self._set_tec(self.tec_on, now)  # new segment from the present temperature
        self.tec_setpoint_C = value
        return None

    def _cmd_tec_window(self, index: int, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return self._format(self.tec_window_C[index])
        value = self._number(args)
        if value is None:
            return None
        window = list(self.tec_window_C)
        window[index] = value
        if not window[0] < window[1]:
            self._error(-222, "Data out of range")
            return None
        self.tec_window_C = (window[0], window[1])
        return None

    def _cmd_am(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return "1" if self.am_enabled else "0"
        on = self._boolean(args)
        if on is not None:
            self.am_enabled = on
        return None


def _protection(flag: str):
    def handler(self: SimThorlabsCLD, query: bool, args: tuple[str, ...]) -> str | None:
        if not query:
            self._error(-113, "Undefined header")
            return None
        return "1" if getattr(self, flag) else "0"
    return handler


_HANDLERS = {
    "SOUR:CURR": SimThorlabsCLD._cmd_current,
    "SOUR:CURR:LIM": SimThorlabsCLD._cmd_limit,
    "SOUR:CURR:LIM:TRIP": SimThorlabsCLD._cmd_limit_tripped,
    "SOUR:FUNC": SimThorlabsCLD._cmd_mode,
    "SOUR:AM": SimThorlabsCLD._cmd_am,
    "OUTP": SimThorlabsCLD._cmd_ld_output,
    "OUTP2": SimThorlabsCLD._cmd_tec_output,
    "SOUR2:TEMP:SPO": SimThorlabsCLD._cmd_tec_setpoint,
    "SOUR2:TEMP:LIM:LOW": lambda self, q, a: self._cmd_tec_window(0, q, a),
    "SOUR2:TEMP:LIM:HIGH": lambda self, q, a: self._cmd_tec_window(1, q, a),
    "OUTP:PROT:INTL:TRIP": _protection("interlock_open"),
    "OUTP:PROT:KEYL:TRIP": _protection("key_off"),
    "OUTP:PROT:OTEM:TRIP": _protection("over_temperature"),
}
