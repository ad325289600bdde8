"""Thorlabs CLD101x and ITC4001/ITC4002 laser-diode + TEC controllers (SCPI over USBTMC).

One driver for both families (docs/protocols.md §2a); a lab runs one instance per diode, e.g. an
852 nm and a 1450 nm pump. Channel 1 is the laser diode (LD), channel 2 the TEC.

Resources (Thorlabs vendor ID 0x1313; product IDs from Thorlabs' TL4000 VXIpnp header):
    USB0::0x1313::0x804F::<SN>::INSTR    CLD101x (0x8047 while firmware update is enabled)
    USB0::0x1313::0x804A::<SN>::INSTR    ITC4001, ITC4002 (all ITC4xxx; 0x8042 with firmware
                                         update enabled)

Safety, in the driver and not only in the controller:
- Out-of-range values are rejected before anything is sent, never clamped: the LD current
  setpoint within [0, current limit], the current limit within [0, the diode's maximum
  rating], the TEC setpoint within the configured window.
- Every setting is followed by an error-queue read (`SYST:ERR?`); a non-zero entry raises
  InstrumentCommandError.
- The LD is switched on only with the interlock closed, the key on, no over-temperature, the
  TEC on and at its setpoint. Each is checked before `OUTP:STAT ON` is sent.
- The LD current is switched on at 0 A and ramped to its setpoint in steps of at most
  `max_step_A`, each held for `step_dwell_s`. Ramping the setpoint while the output is off
  would change nothing the diode sees, so the ramp runs after switch-on.
- Switch-off order is LD off, then TEC off. The TEC cannot be switched off while the LD is on.

Power versus current: the bench sets power in W. This driver maps power to LD current through
the diode's calibration (`threshold_current_A`, `slope_efficiency_W_A`:
P = η·(I − I_th) above threshold) and drives the controller in constant-current mode. The
controller's constant-power mode (`SOUR:FUNC:MODE POW`) is not used, for three reasons. It
needs a monitor photodiode in the diode package, wired and calibrated, which many pigtailed
pump diodes lack. It regulates the power on that photodiode, not in the fiber or at the
sample, so it needs a power-meter calibration anyway. And a photodiode fault makes it drive
the current up to the limit. The power meter records the real power at every point in any
case.

Time: waits (TEC settling, ramp dwell) go through the `wait(seconds)` callable given to the
constructor (default `time.sleep`). The simulated bench passes its virtual clock's `sleep`,
and a procedure passes its interruptible bench wait.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from ..errors import (
    InstrumentCommandError,
    InstrumentResponseError,
    LaserFaultError,
    LaserInterlockError,
)
from ..messaging import CheckedMessaging, SCPIErrorQueue
from ..validators import strict_choice_ignore_case
from ..waiting import wait_until_stable

log = logging.getLogger(__name__)

#: Default TEC setpoint window in °C: rejects typos such as 250 for 25.0 before they reach a
#: diode. Narrow it per diode with `tec_window_C`.
DEFAULT_TEC_WINDOW_C = (15.0, 35.0)


class TECNotReadyError(LaserInterlockError):
    """The TEC is off or not yet at its setpoint, so the diode must not be driven.

    It subclasses LaserInterlockError because, like an open interlock, it is a condition that
    forbids emission and clears by itself once the condition is met.
    """


def _bool_reply(reply: str) -> bool:
    """`1`/`0` (or `ON`/`OFF`). Anything else raises, so an unreadable reply to a safety
    query (interlock tripped?) can never pass as 'no'."""
    word = str(reply).strip().upper()
    if word in ("1", "ON", "1.0", "+1"):
        return True
    if word in ("0", "OFF", "0.0", "+0"):
        return False
    raise InstrumentResponseError(f"expected 0 or 1, the controller answered {reply!r}")


def _mode_reply(reply: str) -> str:
    """`CURR`/`CURRENT` → 'CURR', `POW`/`POWER` → 'POW'."""
    word = str(reply).strip().upper()
    for mode in ("CURR", "POW"):
        if word.startswith(mode):
            return mode
    raise InstrumentResponseError(f"unknown operating mode {reply!r}")


class ThorlabsCLD(SCPIErrorQueue, CheckedMessaging, SCPIMixin, Instrument):
    """Thorlabs CLD101x / ITC4001 / ITC4002 laser-diode and TEC controller.

    The constructor reads the LD current limit (`SOUR:CURR:LIM:AMPL?`) and nothing else.

    :param threshold_current_A: lasing threshold of the diode at its TEC setpoint
    :param slope_efficiency_W_A: optical W per A above threshold. Together with the threshold
        it maps `power_setpoint_W` to a current; without both, power cannot be set.
    :param max_power_W: highest power setpoint accepted. Default: the calibrated power at the
        current limit read at construction.
    :param max_current_A: absolute maximum current of the diode. The current limit can never be
        set above it, and setpoints stay below it even if the controller's limit is higher.
        Default: the limit found on the controller, so the driver can lower the limit but never
        raise it.
    :param tec_window_C: (low, high) accepted TEC setpoints in °C
    :param tec_tolerance_C, tec_hold_s: the TEC counts as settled once |T − setpoint| <
        tolerance has held for `tec_hold_s` (0.15 °C for 3 s, as the qtlab ITC4001 driver does)
    :param tec_timeout_s, tec_poll_s: give up after this long; read T this often
    :param max_step_A, step_dwell_s: current ramp: largest step, and time held after each step
    :param current_tolerance_A: `emission_ready` needs |measured − set| ≤ max(this, 1 % of set)
    :param wait: `wait(seconds)` used for every wait (default `time.sleep`)
    """

    def __init__(
        self,
        adapter,
        name: str = "Thorlabs laser diode controller",
        *,
        threshold_current_A: float | None = None,
        slope_efficiency_W_A: float | None = None,
        max_power_W: float | None = None,
        max_current_A: float | None = None,
        tec_window_C: Sequence[float] = DEFAULT_TEC_WINDOW_C,
        tec_tolerance_C: float = 0.15,
        tec_hold_s: float = 3.0,
        tec_timeout_s: float = 120.0,
        tec_poll_s: float = 0.5,
        max_step_A: float = 0.01,
        step_dwell_s: float = 0.1,
        current_tolerance_A: float = 1e-4,
        wait: Callable[[float], object] | None = None,
        **kwargs,
    ) -> None:
        if (threshold_current_A is None) != (slope_efficiency_W_A is None):
            raise ValueError("give both threshold_current_A and slope_efficiency_W_A, or neither")
        if threshold_current_A is not None and threshold_current_A < 0:
            raise ValueError(f"threshold_current_A must be >= 0, got {threshold_current_A}")
        if slope_efficiency_W_A is not None and not slope_efficiency_W_A > 0:
            raise ValueError(f"slope_efficiency_W_A must be > 0, got {slope_efficiency_W_A}")
        low, high = (float(t) for t in tec_window_C)
        if not low < high:
            raise ValueError(f"tec_window_C must be (low, high) with low < high, got "
                             f"{tec_window_C}")
        for label, value in (("tec_tolerance_C", tec_tolerance_C), ("tec_poll_s", tec_poll_s),
                             ("max_step_A", max_step_A)):
            if not value > 0:
                raise ValueError(f"{label} must be > 0, got {value}")
        for label, value in (("tec_hold_s", tec_hold_s), ("tec_timeout_s", tec_timeout_s),
                             ("step_dwell_s", step_dwell_s)):
            if not value >= 0:
                raise ValueError(f"{label} must be >= 0, got {value}")

        super().__init__(adapter, name, **kwargs)
        self.threshold_current_A = threshold_current_A
        self.slope_efficiency_W_A = slope_efficiency_W_A
        #: Accepted TEC setpoints (low, high) in °C.
        self.tec_window_C = (low, high)
        self.tec_setpoint_C_values = [low, high]  # pymeasure's dynamic validator range
        self.tec_tolerance_C = tec_tolerance_C
        self.tec_hold_s = tec_hold_s
        self.tec_timeout_s = tec_timeout_s
        self.tec_poll_s = tec_poll_s
        self.max_step_A = max_step_A
        self.step_dwell_s = step_dwell_s
        self.current_tolerance_A = current_tolerance_A
        #: Every wait of this driver goes through here (replaceable after construction).
        self.wait: Callable[[float], object] = wait if wait is not None else time.sleep

        limit = self._read_current_limit()
        self.max_current_A = float(max_current_A) if max_current_A is not None else limit
        if limit > self.max_current_A:
            log.warning("%s: the controller's current limit %g A is above the diode maximum "
                        "%g A; setpoints stay below %g A", self.name, limit,
                        self.max_current_A, self.max_current_A)
        self._apply_limit(limit)
        if max_power_W is not None:
            self.max_power_W = float(max_power_W)
        elif self.calibrated:
            self.max_power_W = self.power_for_current(min(limit, self.max_current_A))
        else:
            self.max_power_W = 0.0  # no calibration: power cannot be set at all

    # --- LD source -------------------------------------------------------------------------
    current_setpoint_A = Instrument.control(
        "SOUR:CURR?", "SOUR:CURR %g",
        "LD current setpoint in A, within [0, current limit]; out-of-range values are rejected "
        "before sending. Setting it changes the current at once; use `ramp_current_to` (or "
        "`power_setpoint_W`) to change a running diode in steps.",
        validator=strict_range, values=[0.0, 0.0], dynamic=True, check_set_errors=True,
    )

    def _apply_limit(self, limit_A: float) -> None:
        """Current setpoints are validated against the limit as last read or set."""
        #: Accepted current setpoints [0, min(limit, max_current_A)] in A.
        self.current_range_A = (0.0, min(float(limit_A), self.max_current_A))
        self.current_setpoint_A_values = list(self.current_range_A)  # pymeasure's validator

    def _read_current_limit(self) -> float:
        """`SOUR:CURR:LIM:AMPL?` as a number (CheckedMessaging.values rejects anything else)."""
        return self.values("SOUR:CURR:LIM:AMPL?")[0]

    def _get_current_limit(self) -> float:
        limit = self._read_current_limit()
        self._apply_limit(limit)
        return limit

    def _set_current_limit(self, limit_A: float) -> None:
        limit_A = strict_range(limit_A, [0.0, self.max_current_A])
        self.write(f"SOUR:CURR:LIM:AMPL {limit_A:g}")
        self.check_set_errors()
        self._apply_limit(limit_A)

    current_limit_A = property(
        _get_current_limit, _set_current_limit,
        doc="LD current limit in A (the controller's hardware limit). It cannot be set above "
            "`max_current_A`, the diode's rating. Reading or setting it also updates the range "
            "accepted by `current_setpoint_A`.")

    operating_mode = Instrument.control(
        "SOUR:FUNC:MODE?", "SOUR:FUNC:MODE %s",
        "LD operating mode: 'CURR' (constant current, what this driver uses) or 'POW' "
        "(constant power on the monitor photodiode). Change it only with the LD off.",
        validator=strict_choice_ignore_case, values=("CURR", "POW"), cast=str,
        get_process=_mode_reply, check_set_errors=True,
    )
    analog_modulation_enabled = Instrument.control(
        "SOUR:AM:STAT?", "SOUR:AM:STAT %d",
        "Analog modulation input (rear BNC) on or off (bool).",
        validator=strict_discrete_set, values=(True, False), set_process=int, cast=str,
        get_process=_bool_reply, check_set_errors=True,
    )

    # --- TEC -------------------------------------------------------------------------------
    tec_setpoint_C = Instrument.control(
        "SOUR2:TEMP:SPO?", "SOUR2:TEMP:SPO %g",
        "TEC temperature setpoint in °C, within `tec_window_C` (rejected before sending "
        "otherwise).",
        validator=strict_range, values=list(DEFAULT_TEC_WINDOW_C), dynamic=True,
        check_set_errors=True,
    )

    # --- outputs (read-only: switching goes through methods that check first) -------------
    emission_enabled = Instrument.measurement(
        "OUTP:STAT?", "LD output is on (bool). Switch it with `enable_emission` / "
        "`disable_emission`, which check interlock, faults and the TEC first.",
        cast=str, get_process=_bool_reply,
    )
    tec_enabled = Instrument.measurement(
        "OUTP2:STAT?", "TEC output is on (bool). Switch it with `enable_tec` / `disable_tec`.",
        cast=str, get_process=_bool_reply,
    )

    # --- measurements ----------------------------------------------------------------------
    ld_current_A = Instrument.measurement("MEAS:CURR?", "Measured LD current in A.")
    ld_voltage_V = Instrument.measurement("MEAS:VOLT?", "Measured LD voltage in V.")
    temperature_C = Instrument.measurement("MEAS:TEMP?", "Measured TEC (diode) temperature "
                                           "in °C.")
    monitor_power_W = Instrument.measurement(
        "MEAS:POW2?", "Optical power from the monitor photodiode in W (needs a photodiode and "
        "its responsivity set on the controller).")

    # --- protection ------------------------------------------------------------------------
    interlock_tripped = Instrument.measurement(
        "OUTP:PROT:INTL:TRIP?", "Interlock circuit open (bool): the LD cannot be on.",
        cast=str, get_process=_bool_reply)
    keylock_tripped = Instrument.measurement(
        "OUTP:PROT:KEYL:TRIP?", "Key switch off (bool): the LD cannot be on.",
        cast=str, get_process=_bool_reply)
    over_temperature_tripped = Instrument.measurement(
        "OUTP:PROT:OTEM:TRIP?", "The controller is over temperature (bool): the LD cannot be on.",
        cast=str, get_process=_bool_reply)

    # --- calibration: power <-> current ----------------------------------------------------
    @property
    def calibrated(self) -> bool:
        """The diode's threshold and slope efficiency are known, so power can be set."""
        return self.threshold_current_A is not None and self.slope_efficiency_W_A is not None

    def _require_calibration(self) -> tuple[float, float]:
        if not self.calibrated:
            raise InstrumentCommandError(
                f"{self.name}: no diode calibration; pass threshold_current_A and "
                "slope_efficiency_W_A to set power (or set current_setpoint_A directly)")
        return float(self.threshold_current_A), float(self.slope_efficiency_W_A)

    def current_for_power(self, power_W: float) -> float:
        """LD current that gives `power_W` by the calibration: 0 A for 0 W (dark, not at
        threshold), I_th + P/η otherwise."""
        threshold, slope = self._require_calibration()
        if power_W <= 0.0:
            return 0.0
        return threshold + power_W / slope

    def power_for_current(self, current_A: float) -> float:
        """Optical power the calibration predicts at `current_A`: η·(I − I_th), 0 below
        threshold."""
        threshold, slope = self._require_calibration()
        return slope * max(0.0, current_A - threshold)

    @property
    def calibration(self) -> dict[str, float | None]:
        """The calibration in use (for the run's metadata)."""
        return {"threshold_current_A": self.threshold_current_A,
                "slope_efficiency_W_A": self.slope_efficiency_W_A,
                "max_power_W": self.max_power_W}

    def _get_power_setpoint(self) -> float:
        return self.power_for_current(self.current_setpoint_A)

    def _set_power_setpoint(self, power_W: float) -> None:
        self._require_calibration()
        power_W = strict_range(power_W, [0.0, self.max_power_W])
        current = self.current_for_power(power_W)
        low, high = self.current_range_A
        if not low <= current <= high:
            raise ValueError(f"{power_W:g} W needs {current:g} A by the calibration, above the "
                             f"current limit {high:g} A")
        if self.emission_enabled:
            self.ramp_current_to(current)
        else:
            self.current_setpoint_A = current

    power_setpoint_W = property(
        _get_power_setpoint, _set_power_setpoint,
        doc="Optical power setpoint in W, through the diode calibration (see the module "
            "docstring). Values outside [0, max_power_W], or needing a current above the "
            "limit, raise ValueError before sending. While emitting, the current is ramped.")

    # --- current ramp ----------------------------------------------------------------------
    def ramp_current_to(self, target_A: float) -> None:
        """Move the current setpoint to `target_A` in steps of at most `max_step_A`, waiting
        `step_dwell_s` after each. The target is validated before the first step."""
        target_A = strict_range(target_A, self.current_range_A)
        self._ramp(self.current_setpoint_A, target_A)

    def _ramp(self, start_A: float, target_A: float) -> None:
        span = target_A - start_A
        if span == 0.0:
            return
        steps = max(1, math.ceil(abs(span) / self.max_step_A - 1e-9))
        for i in range(1, steps + 1):
            self.current_setpoint_A = target_A if i == steps else start_A + span * i / steps
            self.wait(self.step_dwell_s)

    # --- TEC control -----------------------------------------------------------------------
    def enable_tec(self) -> None:
        """Switch the TEC on."""
        self.write("OUTP2:STAT ON")
        self.check_errors()

    def disable_tec(self) -> None:
        """Switch the TEC off; refused while the LD is on (switch the LD off first)."""
        if self.emission_enabled:
            raise InstrumentCommandError(
                f"{self.name}: the LD is on; switch it off (disable_emission) before the TEC")
        self.write("OUTP2:STAT OFF")
        self.check_errors()

    def wait_for_tec(self) -> float:
        """Wait until |T − setpoint| < `tec_tolerance_C` has held for `tec_hold_s`.

        Reads the temperature every `tec_poll_s` through `wait`. Returns the last reading.
        Raises TECNotReadyError if the TEC is off, and LaserFaultError if it has not settled
        after `tec_timeout_s` (the TEC is left on; the LD was not touched).
        """
        if not self.tec_enabled:
            raise TECNotReadyError(f"{self.name}: the TEC is off; enable_tec() first")
        setpoint = self.tec_setpoint_C

        def timeout_error(temperature: float) -> LaserFaultError:
            return LaserFaultError(
                f"{self.name}: TEC not settled at {setpoint:g} °C after "
                f"{self.tec_timeout_s:g} s (reads {temperature:.2f} °C); check the TEC "
                "cable, the setpoint and the TEC current limit")

        # Elapsed time is the sum of the waits (no clock is given to this driver).
        return wait_until_stable(
            lambda: self.temperature_C,
            lambda temperature: abs(temperature - setpoint) < self.tec_tolerance_C,
            stable_s=self.tec_hold_s, timeout_s=self.tec_timeout_s, poll_s=self.tec_poll_s,
            wait=self.wait, now=None, timeout_error=timeout_error, hold_slack_s=1e-9)

    def start_tec(self, setpoint_C: float | None = None) -> float:
        """TEC setpoint (if given) → TEC on → wait until settled. Returns the temperature."""
        if setpoint_C is not None:
            self.tec_setpoint_C = setpoint_C
        self.enable_tec()
        return self.wait_for_tec()

    # --- emission --------------------------------------------------------------------------
    def _check_emission_allowed(self) -> None:
        """Raise unless the LD may be switched on now; sends only queries."""
        if self.interlock_tripped:
            raise LaserInterlockError(f"{self.name}: interlock open; LD switch-on refused")
        if self.keylock_tripped:
            raise LaserInterlockError(f"{self.name}: key switch off; LD switch-on refused")
        if self.over_temperature_tripped:
            raise LaserFaultError(f"{self.name}: controller over temperature; LD switch-on "
                                  "refused")
        if not self.tec_enabled:
            raise TECNotReadyError(f"{self.name}: the TEC is off; LD switch-on refused "
                                   "(start_tec() or turn_on() first)")
        setpoint = self.tec_setpoint_C
        temperature = self.temperature_C
        if abs(temperature - setpoint) >= self.tec_tolerance_C:
            raise TECNotReadyError(
                f"{self.name}: diode at {temperature:.2f} °C, TEC setpoint {setpoint:g} °C; "
                "LD switch-on refused until the TEC has settled (wait_for_tec())")

    def enable_emission(self) -> None:
        """Switch the LD on and ramp it to its present current setpoint.

        Checks first, sending only queries: interlock, key, over-temperature
        (LaserInterlockError / LaserFaultError), TEC on and at its setpoint (TECNotReadyError),
        and the setpoint against the controller's current limit as it is now
        (InstrumentCommandError if the limit was lowered since). Then: constant-current mode,
        setpoint 0 A, LD on, ramp to the setpoint. If switch-on or the ramp fails (or the wait
        is aborted), the LD is switched off again before the error propagates. Does nothing if
        the LD is already on.
        """
        self._switch_on(None)

    def _switch_on(self, target_A: float | None) -> None:
        if self.emission_enabled:
            if target_A is not None:
                self.ramp_current_to(target_A)
            return
        self._check_emission_allowed()
        if target_A is None:
            target_A = self.current_setpoint_A
        limit = self.current_limit_A  # read now: the front panel may have changed it
        if target_A > min(limit, self.max_current_A):
            raise InstrumentCommandError(
                f"{self.name}: current setpoint {target_A:g} A is above the current limit "
                f"{limit:g} A; LD switch-on refused")
        if self.operating_mode != "CURR":
            self.operating_mode = "CURR"
        self.current_setpoint_A = 0.0
        try:
            self.write("OUTP:STAT ON")
            self.check_errors()
            self._ramp(0.0, target_A)
        except BaseException:
            # A refused step or an abort mid-ramp must not leave the diode at some partial
            # current: a failed switch-on ends with the LD off.
            self._ld_off_after_failure()
            raise

    def _ld_off_after_failure(self) -> None:
        try:
            self.disable_emission()
        except Exception as exc:  # the original error is the one to report
            log.error("%s: LD off after a failed switch-on/off failed too: %s", self.name, exc)

    def disable_emission(self) -> None:
        """Switch the LD off at once (no ramp; always allowed). The TEC stays on, so emission
        can come back without waiting for the temperature again."""
        self.write("OUTP:STAT OFF")
        self.check_errors()

    @property
    def emission_ready(self) -> bool:
        """LD on and its measured current within max(`current_tolerance_A`, 1 %) of the
        setpoint. False while the controller limits the current below the setpoint."""
        if not self.emission_enabled:
            return False
        setpoint = self.current_setpoint_A
        measured = self.ld_current_A
        return abs(measured - setpoint) <= max(self.current_tolerance_A, 0.01 * setpoint)

    # --- whole sequences -------------------------------------------------------------------
    def turn_on(self, *, tec_setpoint_C: float | None = None, current_A: float | None = None,
                power_W: float | None = None) -> None:
        """The full turn-on sequence.

        TEC setpoint → TEC on → wait until |T − set| < tolerance for `tec_hold_s` → checks
        (interlock, key, over-temperature, current limit) → LD on at 0 A → ramp to `current_A`
        (or the current for `power_W`, or the present setpoint).
        """
        if current_A is not None and power_W is not None:
            raise ValueError("give current_A or power_W, not both")
        target: float | None = None
        if power_W is not None:
            self._require_calibration()
            power_W = strict_range(power_W, [0.0, self.max_power_W])
            target = self.current_for_power(power_W)
        elif current_A is not None:
            target = current_A
        if target is not None:  # validate before anything is sent
            target = strict_range(target, self.current_range_A)
        if tec_setpoint_C is not None:
            strict_range(tec_setpoint_C, self.tec_window_C)
        self.start_tec(tec_setpoint_C)
        self._switch_on(target)

    def switch_off(self, *, ramp_down: bool = True) -> None:
        """LD off (ramped down to 0 A first unless `ramp_down` is False), then TEC off.

        After a ramp-down the current setpoint is restored (with the LD off), so the next
        switch-on returns to the same operating point. If the ramp-down fails or is aborted,
        the LD is switched off at once and the error propagates (the TEC stays on).
        """
        if self.emission_enabled:
            if ramp_down:
                setpoint = self.current_setpoint_A
                try:
                    self._ramp(setpoint, 0.0)
                except BaseException:
                    self._ld_off_after_failure()
                    raise
                self.disable_emission()
                low, high = self.current_range_A
                if low <= setpoint <= high:  # not if the limit was lowered meanwhile
                    self.current_setpoint_A = setpoint
            else:
                self.disable_emission()
        self.disable_tec()

    # --- identification --------------------------------------------------------------------
    @property
    def identity(self) -> str:
        """'Thorlabs CLD1015 SN M00123456, firmware 2.3.0' from `*IDN?`."""
        reply = str(self.id).strip()
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) < 4:
            return reply
        manufacturer, model, serial, firmware = parts[:4]
        return f"{manufacturer} {model} SN {serial}, firmware {firmware}"
