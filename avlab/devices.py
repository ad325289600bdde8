"""Role-level wrappers around drivers: the one place where safety limits are enforced.

Procedures talk to roles (`bench.laser()`, `bench.power_meter()`, `bench.detector()`), never
to driver classes. Each wrapper holds its instrument's lock — pymeasure instruments are not
thread-safe, and the GUI polls from another thread — and checks every request against the
limits of the lab config before anything is sent.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from drivers.counters.base import dead_time_corrected_rate_cps
from drivers.errors import (
    HeaterFaultError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentTimeoutError,
    LaserFaultError,
    LaserInterlockError,
    SensorFaultError,
)

from .errors import DetectorOverloadError, SafetyLimitError
from .health import Health

log = logging.getLogger(__name__)

#: How long shutdown waits for an instrument lock held by a stuck thread before it sends anyway.
SHUTDOWN_LOCK_TIMEOUT_S = 5.0


class RoleDevice:
    """Common part: role name, driver, lock, identity."""

    kind = "device"

    def __init__(self, role: str, driver: Any, *, identity: str, resource: str,
                 driver_name: str, reopen: Callable[[], Any] | None = None) -> None:
        self.role = role
        self.driver = driver
        self._reopen = reopen
        self.identity = identity
        self.resource = resource
        self.driver_name = driver_name
        self.lock = threading.RLock()
        #: The newest value of each quantity this role set or read (name -> value, units in
        #: the names), and when (wall clock, s); a GUI shows these during a run instead of
        #: taking readings that would compete with the procedure.
        self.last_readings: dict[str, Any] = {}
        self.readings_time = 0.0

    def publish(self, **readings: Any) -> None:
        """Record values just set or read in `last_readings`. Replaces the dict instead of
        updating it, so a reader on another thread always sees a consistent copy."""
        self.last_readings = {**self.last_readings, **readings}
        self.readings_time = time.time()

    def describe(self) -> dict[str, str]:
        return {"driver": self.driver_name, "identity": self.identity, "resource": self.resource}

    def live_status(self) -> str:
        """A short, live, human-readable state (for `avlab instruments` and GUI polling)."""
        return ""

    def health(self) -> Health:
        """Whether the instrument is fit to measure (the runner asks before every point).

        At most one or two instrument messages; a failure to talk to the instrument raises as
        any other call does. Roles with nothing to query report healthy: their faults surface
        as errors of the calls a procedure makes."""
        return Health(self.role)

    def begin_run(self, *, defer_overload: bool = False) -> None:
        """A run starts: reset references the health check compares against."""

    def end_run(self) -> None:
        """The run is over: undo what begin_run changed."""

    def close(self) -> None:
        from .connect import close_driver

        close_driver(self.driver)

    def _call(self, what: str, function: Callable[[], Any]) -> Any:
        """Run one driver call under the lock, its failures named as instrument errors (SDK
        drivers raise plain TimeoutError / OSError)."""
        with self.lock:
            try:
                return function()
            except TimeoutError as exc:
                raise InstrumentTimeoutError(f"{self.role}: {what} timed out: {exc}") from exc
            except OSError as exc:
                raise InstrumentConnectionError(
                    f"{self.role}: lost the link during {what}: {exc}") from exc

    @contextlib.contextmanager
    def _shutdown_lock(self) -> Iterator[None]:
        """The lock, unless another thread is stuck holding it: after SHUTDOWN_LOCK_TIMEOUT_S
        the shutdown step is sent anyway — a safe state matters more than tidy I/O."""
        acquired = self.lock.acquire(timeout=SHUTDOWN_LOCK_TIMEOUT_S)
        if not acquired:
            log.error("%s: lock busy for %g s; shutting down anyway", self.role,
                      SHUTDOWN_LOCK_TIMEOUT_S)
        try:
            yield
        finally:
            if acquired:
                self.lock.release()


class PumpLaser(RoleDevice):
    """A CW pump laser; its output power can never be set above the configured limit."""

    kind = "laser"

    def __init__(self, role: str, driver: Any, *, wavelength_nm: float, max_power_W: float,
                 wait: Callable[[float], None], **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.wavelength_nm = wavelength_nm
        self.max_power_W = max_power_W
        self._wait = wait
        #: Emission was switched on through this role and not off since: the health check
        #: treats emission found off as a trip.
        self.expects_emission = False

    def check_power(self, power_W: float) -> None:
        """Raise SafetyLimitError unless 0 ≤ power_W ≤ the configured limit."""
        if not 0.0 <= power_W <= self.max_power_W:
            raise SafetyLimitError(
                f"power {power_W:g} W is outside 0 … {self.max_power_W:g} W, the configured "
                f"limit for {self.role}"
            )

    def set_power_W(self, power_W: float) -> None:
        self.check_power(power_W)
        with self.lock:
            self.driver.power_setpoint_W = power_W
        self.publish(power_setpoint_W=power_W)

    def emission_on(self, timeout_s: float = 15.0, poll_s: float = 0.25) -> None:
        """Switch emission on and wait (through the bench clock) until light comes out."""
        with self.lock:
            self.driver.enable_emission()
        try:
            waited = 0.0
            while True:
                with self.lock:
                    if self.driver.emission_ready:
                        self.expects_emission = True
                        self.publish(emission=True)
                        return
                if waited >= timeout_s:
                    raise TimeoutError(f"{self.role}: emission not ready after {timeout_s:g} s")
                self._wait(poll_s)
                waited += poll_s
        except BaseException:  # timeout, abort during the wait, a failing status query
            self.emission_off()
            raise

    def emission_off(self) -> None:
        self.expects_emission = False
        with self.lock:
            self.driver.disable_emission()
        self.publish(emission=False)

    def health(self) -> Health:
        """Fault and interlock registers (the driver's `check_faults()`, which raises
        LaserFaultError / LaserInterlockError naming the bit) and emission: found off while
        this role switched it on is a trip even when no register says why, and so is
        emission nobody switched on through this role.

        One or two messages: the emission state, then the registers — or one, when the driver
        reads both from one status reply (`emission_checked()`, e.g. the YLR's status word).
        An idle laser (off and expected off) is not asked further — its registers matter once
        emission is asked for, and emission_on checks them then. A driver whose every trip
        switches the output off (`TRIPS_STOP_EMISSION`, e.g. the Thorlabs CLD) is healthy
        while it emits as expected."""
        combined = getattr(self.driver, "emission_checked", None)
        with self.lock:
            if combined is not None and self.expects_emission:
                try:
                    emitting = bool(combined())
                except (LaserFaultError, LaserInterlockError) as exc:
                    return Health.tripped(self.role, str(exc))
                if not emitting:
                    return Health.tripped(self.role, "emission stopped while the run expected "
                                                     "it on (no fault register says why)")
                return Health(self.role)
            emitting = bool(self.driver.emission_enabled)
            if not emitting and not self.expects_emission:
                return Health(self.role)
            if not (emitting and getattr(self.driver, "TRIPS_STOP_EMISSION", False)):
                check = getattr(self.driver, "check_faults", None)
                if check is not None:
                    try:
                        check()
                    except (LaserFaultError, LaserInterlockError) as exc:
                        return Health.tripped(self.role, str(exc))
        if not self.expects_emission:
            return Health.tripped(self.role, "emitting although the run did not switch "
                                             "emission on")
        if not emitting:
            return Health.tripped(self.role, "emission stopped while the run expected it on "
                                             "(no fault register says why)")
        return Health(self.role)

    @contextlib.contextmanager
    def emitting(self) -> Iterator[PumpLaser]:
        """Emission on for the block, off again on any exit."""
        self.emission_on()
        try:
            yield self
        finally:
            self.emission_off()

    def set_modulation_input(self, on: bool) -> None:
        """Make the laser follow (or ignore) its external modulation input. Only with emission
        off: a laser leaving modulation while emitting jumps to CW at its setpoint."""
        if self.is_emitting:
            raise SafetyLimitError(f"{self.role}: switch emission off before changing the "
                                   "modulation input")
        with self.lock:
            self.driver.analog_modulation_enabled = on

    @property
    def is_emitting(self) -> bool:
        with self.lock:
            emitting = bool(self.driver.emission_enabled)
        self.publish(emission=emitting)
        return emitting

    def live_status(self) -> str:
        with self.lock:
            emitting = self.driver.emission_enabled
            setpoint = self.driver.power_setpoint_W
            output = getattr(self.driver, "output_power_W", None)
        text = f"emission {'ON' if emitting else 'off'}, setpoint {setpoint:g} W"
        if output is not None:
            text += f", output {output:g} W"
        return text + f" (limit {self.max_power_W:g} W)"

    def shutdown(self) -> str:
        """Emission off even if another thread is stuck holding the lock, and even if the
        link broke: then a new link is opened once and emission off sent again. Returns what
        was done; raises only if the laser could not be reached at all."""
        self.expects_emission = False
        with self._shutdown_lock():
            try:
                self.driver.disable_emission()
                self.publish(emission=False)
                return "emission off"
            except Exception as first:
                if self._reopen is None:
                    raise
                log.warning("%s: emission off failed (%s); reconnecting", self.role, first)
                self.driver = self._reopen()
                self.driver.disable_emission()
                self.publish(emission=False)
                return "emission off (after reconnecting)"


class PowerMeter(RoleDevice):
    """An optical power meter at the calibrated plane."""

    kind = "power_meter"

    def __init__(self, role: str, driver: Any, *, max_power_W: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.max_power_W = max_power_W
        self._fault = ""  # what the last reading reported (over range, no sensor), or ""

    def configure(self, *, wavelength_nm: float, averaging_count: int | None = None) -> None:
        with self.lock:
            self.driver.wavelength_nm = wavelength_nm
            if averaging_count is not None:
                self.driver.averaging_count = averaging_count

    def power_W(self) -> float:
        """One reading in W. It may be slightly negative at the noise floor (after zeroing,
        the noise is symmetric about zero); callers record it as read."""
        with self.lock:
            try:
                power = float(self.driver.power_W)
            except InstrumentError as exc:
                self._fault = str(exc)
                raise
        self._fault = ""
        self.publish(power_W=power)
        if self.max_power_W is not None and power > self.max_power_W:
            log.warning("%s: %g W is above the sensor limit %g W", self.role, power,
                        self.max_power_W)
        return power

    def zero(self) -> None:
        with self.lock:
            self.driver.zero()

    def health(self) -> Health:
        """What the last reading showed (over range, sensor unplugged); no extra message —
        a meter's faults show in its readings, which raise."""
        if self._fault:
            return Health.tripped(self.role, self._fault)
        return Health(self.role)

    def live_status(self) -> str:
        with self.lock:
            wavelength = self.driver.wavelength_nm
        return f"reading {self.power_W():.4g} W at {wavelength:g} nm"


@dataclass(frozen=True)
class CountReading:
    """One gate of photon counting."""

    counts: int
    gate_s: float
    rate_cps: float  # dead-time corrected (the measured rate when overloaded)
    dead_time_loss: float  # fraction of photons lost to dead time, m·τ (NaN when overloaded)
    #: Above the rate limit; only returned (not raised) in a suspendable run, whose health
    #: check then suspends it and discards the point.
    overloaded: bool = False


class Detector(RoleDevice):
    """A photon-counting detector on a gated counter, protected by a count-rate limit."""

    kind = "counter"

    def __init__(self, role: str, driver: Any, *, max_count_rate_cps: float,
                 dead_time_s: float = 0.0, **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.max_count_rate_cps = max_count_rate_cps
        self.dead_time_s = dead_time_s
        #: In a suspendable run an overload is reported by health() instead of raised.
        self.defer_overload = False
        self._overload = ""  # the last overload seen, until a probe gate shows it cleared

    #: Gate (s) of the probe a suspended run counts to see whether a flood has cleared.
    PROBE_GATE_S = 0.05

    def count(self, gate_s: float) -> CountReading:
        """Count over `gate_s`; raise DetectorOverloadError above the configured rate limit."""
        if gate_s <= 0:
            raise ValueError(f"gate time must be positive, got {gate_s} s")
        counts = int(self._call("counting", lambda: self.driver.count(gate_s)))
        reading = self.reading(counts, gate_s)
        self.publish(rate_cps=reading.rate_cps)
        return reading

    def reading(self, counts: int, gate_s: float) -> CountReading:
        """What `counts` photons in `gate_s` (one gate, or several summed) mean: the
        dead-time-corrected rate and loss; DetectorOverloadError above the rate limit."""
        measured = counts / gate_s
        if measured > self.max_count_rate_cps:
            self._overload = (f"{self.role}: {measured:.3g} counts/s exceeds the configured "
                              f"limit {self.max_count_rate_cps:.3g} counts/s")
            if not self.defer_overload:
                raise DetectorOverloadError(self._overload)
            return CountReading(counts, gate_s, measured, math.nan, overloaded=True)
        try:
            rate = dead_time_corrected_rate_cps(counts, gate_s, self.dead_time_s)
        except ValueError as exc:
            raise DetectorOverloadError(f"{self.role}: {exc}") from None
        return CountReading(counts, gate_s, rate, measured * self.dead_time_s)

    def begin_run(self, *, defer_overload: bool = False) -> None:
        self.defer_overload = defer_overload
        self._overload = ""

    def end_run(self) -> None:
        self.defer_overload = False

    def health(self) -> Health:
        """Healthy unless the last gate was over the limit (no message then); after an
        overload, a short probe gate tells whether the light has gone (a flood may clear:
        recoverable)."""
        if not self._overload:
            return Health(self.role)
        counts = int(self._call("counting", lambda: self.driver.count(self.PROBE_GATE_S)))
        rate = counts / self.PROBE_GATE_S
        if rate <= self.max_count_rate_cps:
            self._overload = ""
            return Health(self.role, readings={"probe_rate_cps": rate})
        return Health.tripped(self.role, f"detector flooded: {rate:.3g} counts/s exceeds the "
                                         f"configured limit {self.max_count_rate_cps:.3g} "
                                         "counts/s", recoverable=True, probe_rate_cps=rate)

    def live_status(self) -> str:
        reading = self.count(0.1)
        return f"{reading.rate_cps:.4g} counts/s (0.1 s gate, limit {self.max_count_rate_cps:.3g})"


class Cryostat(RoleDevice):
    """The sample temperature: setpoints within the configured limit, waits on the bench clock.

    Shutdown leaves the temperature control as it is — a run that stops should not send the
    sample on a 300 K excursion; the controller's own cut-off (TLIMIT, programmed from the
    config at connect) is the hardware safety net.
    """

    kind = "cryostat"

    def __init__(self, role: str, driver: Any, *, max_setpoint_K: float,
                 control_output: int = 1, control_input: str = "A", sample_input: str = "B",
                 heater_range: int = 3, wait: Callable[[float], None],
                 now: Callable[[], float], max_excursion_K: float = 2.0,
                 **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.max_setpoint_K = max_setpoint_K
        #: Largest drift of the sample temperature during a run (K) before a point is refused.
        self.max_excursion_K = max_excursion_K
        self._setpoint_K: float | None = None  # last setpoint sent through this role
        self._reference_K: float | None = None  # what the excursion is measured from
        self._armed = False  # the stage has reached the reference (not still settling)
        self.control_output = control_output
        self.control_input = control_input
        self.sample_input = sample_input
        self.heater_range = heater_range
        self._wait, self._now = wait, now
        self._lakeshore = hasattr(driver, "output")

    def check_setpoint(self, setpoint_K: float) -> None:
        if not 0.0 < setpoint_K <= self.max_setpoint_K:
            raise SafetyLimitError(f"setpoint {setpoint_K:g} K is outside 0 … "
                                   f"{self.max_setpoint_K:g} K, the configured limit for "
                                   f"{self.role}")

    def set_setpoint_K(self, setpoint_K: float) -> None:
        """Regulate to `setpoint_K` (closed loop on the control input)."""
        self.check_setpoint(setpoint_K)
        # From now on the excursion is measured from the setpoint, once the stage has come
        # within max_excursion_K of it (a stage on its way is settling, not drifting).
        self._setpoint_K = self._reference_K = setpoint_K
        self._armed = False
        with self.lock:
            if self._lakeshore:
                from drivers.temperature.lakeshore_33x import OutputMode

                output = self.driver.output(self.control_output)
                output.output_mode = (OutputMode.CLOSED_LOOP, self.control_input, False)
                output.setpoint_K = setpoint_K
                output.heater_range = self.heater_range
            else:
                self.driver.temperature_setpoint_K = setpoint_K
        self.publish(setpoint_K=setpoint_K)

    def sample_temperature_K(self) -> float:
        with self.lock:
            if self._lakeshore:
                temperature_K = float(self.driver.input(self.sample_input).temperature_K)
            else:
                temperature_K = float(self.driver.sample_temperature_K)
        self.publish(sample_temperature_K=temperature_K)
        return temperature_K

    def wait_stable(self, *, tolerance_K: float = 0.1, stable_s: float = 60.0,
                    timeout_s: float = 3600.0, poll_s: float = 1.0) -> float:
        """Wait (bench clock, abortable) until the loop holds the setpoint; the temperature."""
        kwargs = dict(tolerance_K=tolerance_K, stable_s=stable_s, timeout_s=timeout_s,
                      poll_s=poll_s, wait=self._locked_wait, now=self._now)
        with self.lock:
            if self._lakeshore:
                return self.driver.wait_for_setpoint(self.control_output,
                                                     input_name=self.control_input, **kwargs)
            return self.driver.wait_for_setpoint(**kwargs)

    def _locked_wait(self, seconds: float) -> None:
        # Let GUI polling in between polls of a long wait.
        self.lock.release()
        try:
            self._wait(seconds)
        finally:
            self.lock.acquire()

    def begin_run(self, *, defer_overload: bool = False) -> None:
        """The excursion of this run is measured from the setpoint (if one was set through
        this role) or else from the first temperature the run reads."""
        self._reference_K = self._setpoint_K
        self._armed = False

    def health(self) -> Health:
        """Sensor and heater status with the sample temperature (Lake Shore: one message,
        `KRDG? B;RDGST? B;RDGST? A;HTRST? 1`; Cryostation: the sample temperature and the
        alarm, two messages), and the excursion from the run's reference temperature.

        A broken sensor or heater, or the Cryostation's alarm, is a trip; an excursion may
        clear (recoverable)."""
        with self.lock:
            try:
                if self._lakeshore:
                    temperature = float(self.driver.health_reading(
                        sample_input=self.sample_input, control_input=self.control_input,
                        output=self.control_output))
                    alarm = False
                else:
                    temperature = float(self.driver.sample_temperature_K)
                    alarm = bool(self.driver.alarm_active)
            except InstrumentError as exc:
                if not isinstance(exc, (SensorFaultError, HeaterFaultError)):
                    raise  # a broken link or an unreadable reply, as for any other call
                return Health.tripped(self.role, str(exc))
        if alarm:
            return Health.tripped(self.role, "the cryostat reports a system alarm "
                                             f"(sample at {temperature:.3f} K)",
                                  sample_temperature_K=temperature)
        if not math.isfinite(temperature):
            return Health.tripped(self.role, "the sample thermometer gives no reading "
                                             "(sensor failed)")
        if self._reference_K is None:
            self._reference_K, self._armed = temperature, True
        excursion = temperature - self._reference_K
        if not self._armed:
            self._armed = abs(excursion) <= self.max_excursion_K
        elif abs(excursion) > self.max_excursion_K:
            return Health.tripped(
                self.role, f"sample temperature excursion: {temperature:.3f} K is "
                           f"{excursion:+.3f} K from {self._reference_K:.3f} K (limit "
                           f"{self.max_excursion_K:g} K)", recoverable=True,
                sample_temperature_K=temperature)
        return Health(self.role, readings={"sample_temperature_K": temperature})

    def live_status(self) -> str:
        return f"sample {self.sample_temperature_K():.3f} K (setpoint limit {self.max_setpoint_K:g} K)"


class Attenuator(RoleDevice):
    """A calibrated variable attenuator in the pump path (before the power-meter plane).

    It never passes more or less light than the configured transmission limits allow. Its
    nominal transmission is for choosing a setpoint only: the intensity axis of a measurement
    always comes from the power meter.
    """

    kind = "attenuator"

    def __init__(self, role: str, driver: Any, *, calibration: Any, min_transmission: float,
                 max_transmission: float, **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.calibration = calibration
        self.min_transmission = min_transmission
        self.max_transmission = max_transmission

    def check_transmission(self, transmission: float) -> None:
        if not self.min_transmission <= transmission <= self.max_transmission:
            raise SafetyLimitError(
                f"transmission {transmission:.3g} is outside {self.min_transmission:.3g} … "
                f"{self.max_transmission:.3g}, the configured range of {self.role}")

    def set_transmission(self, transmission: float) -> float:
        """Rotate to `transmission`; return the nominal transmission actually reached."""
        self.check_transmission(transmission)
        angle = self.calibration.angle_for_transmission(transmission)
        with self.lock:
            self.driver.angle_deg = angle
            reached = self.calibration.transmission(self.driver.angle_deg)
        self.publish(transmission=reached)
        return reached

    def transmission(self) -> float:
        with self.lock:
            reached = self.calibration.transmission(self.driver.angle_deg)
        self.publish(transmission=reached)
        return reached

    def block(self) -> None:
        """Rotate to extinction (the least light it can pass)."""
        with self.lock:
            self.driver.angle_deg = self.calibration.extinction_angle_deg
        self.publish(transmission=self.calibration.transmission(
            self.calibration.extinction_angle_deg))

    def shutdown(self) -> str:
        """After the lasers are off: rotate to extinction as a second barrier."""
        with self._shutdown_lock():
            self.driver.angle_deg = self.calibration.extinction_angle_deg
        self.publish(transmission=self.calibration.transmission(
            self.calibration.extinction_angle_deg))
        return "at extinction"

    def live_status(self) -> str:
        with self.lock:
            angle = self.driver.angle_deg
        return (f"angle {angle:.2f} deg, nominal transmission "
                f"{self.calibration.transmission(angle):.3g}")


class Scanner(RoleDevice):
    """A galvo scanner with photon counting clocked by its samples.

    Frames are checked against the galvo limits before anything moves (a ScanLimitError
    becomes a SafetyLimitError naming the role), and every line is checked against the
    detector's count-rate limit as it arrives.
    """

    kind = "scanner"

    def __init__(self, role: str, driver: Any, *, max_count_rate_cps: float,
                 **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.max_count_rate_cps = max_count_rate_cps

    def check_frame(self, frame: Any) -> None:
        from drivers.scanning.calibration import ScanLimitError

        try:
            self.driver.check_frame(frame)
        except ScanLimitError as exc:
            raise SafetyLimitError(f"{self.role}: {exc}") from exc

    def scan_lines(self, frame: Any) -> Iterator[Any]:
        """Yield the frame line by line (LineResult); the instrument lock is held per line."""
        self.check_frame(frame)
        lines = self.driver.scan_lines(frame)
        try:
            while True:
                with self.lock:
                    try:
                        line = next(lines)
                    except StopIteration:
                        return
                peak = float(line.counts.max()) / line.dwell_s if line.counts.size else 0.0
                if peak > self.max_count_rate_cps:
                    raise DetectorOverloadError(
                        f"{self.role}: {peak:.3g} counts/s in line {line.index} exceeds the "
                        f"configured limit {self.max_count_rate_cps:.3g} counts/s")
                yield line
        finally:
            lines.close()  # stops the hardware when the caller stops early

    def reachable_um(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x_min, x_max), (y_min, y_max)) in µm the galvos reach within the configured
        voltage limit (the calibration's own figure)."""
        (x_low, x_high), (y_low, y_high) = self.driver.calibration.reachable_um()
        return (float(x_low), float(x_high)), (float(y_low), float(y_high))

    def park(self, x_um: float, y_um: float) -> None:
        """Park the spot; a position beyond the voltage limit is refused by the calibration
        before anything moves."""
        with self.lock:
            self.driver.park(x_um, y_um)
        self.publish(park_x_um=x_um, park_y_um=y_um)

    def live_status(self) -> str:
        with self.lock:
            x, y = self.driver.position_um
        return f"spot at ({x:.3f}, {y:.3f}) um"


class Spectrometer(RoleDevice):
    """An emission spectrometer: exposures within the configured limit, one at a time."""

    kind = "spectrometer"

    def __init__(self, role: str, driver: Any, *, max_exposure_s: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.max_exposure_s = max_exposure_s

    def acquire(self, exposure_s: float) -> Any:
        """One spectrum (drivers.spectrometers.Spectrum; `saturated` says if it clipped)."""
        from drivers.spectrometers.base import ExposureOutOfRangeError

        if self.max_exposure_s is not None and exposure_s > self.max_exposure_s:
            raise SafetyLimitError(f"exposure {exposure_s:g} s exceeds the configured limit "
                                   f"{self.max_exposure_s:g} s for {self.role}")
        with self.lock:
            try:
                return self.driver.acquire(exposure_s)
            except ExposureOutOfRangeError as exc:
                raise SafetyLimitError(f"{self.role}: {exc}") from exc

    def wavelengths_nm(self) -> Any:
        with self.lock:
            return self.driver.wavelengths_nm()

    def live_status(self) -> str:
        with self.lock:
            wavelengths = self.driver.wavelengths_nm()
        return f"{wavelengths[0]:.1f} … {wavelengths[-1]:.1f} nm, {len(wavelengths)} pixels"


class TimeTagger(RoleDevice):
    """Time-resolved photon counting against the pump-modulation marker.

    Rise curves start on the marker's rising edge (pump on), decay curves on its falling edge
    (pump off). Every histogram is checked against the detector's count-rate limit.
    """

    kind = "time_tagger"

    def __init__(self, role: str, driver: Any, *, max_count_rate_cps: float,
                 detector_channel: int = 1, marker_channel: int = 2, **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.max_count_rate_cps = max_count_rate_cps
        self.detector_channel = detector_channel
        self.marker_channel = marker_channel

    def histogram(self, *, binwidth_s: float, n_bins: int, duration_s: float,
                  falling_edge: bool = False) -> Any:
        """Clicks versus time since the marker edge (rising: rise curve; falling: decay)."""
        from drivers.timetagging.base import seconds_to_ps

        start = -self.marker_channel if falling_edge else self.marker_channel
        result = self._call("histogram", lambda: self.driver.histogram(
            start, self.detector_channel, seconds_to_ps(binwidth_s), n_bins, duration_s))
        self._check_rate(result.counts, duration_s)
        return result

    def rise_histogram(self, **kwargs: Any) -> Any:
        return self.histogram(falling_edge=False, **kwargs)

    def decay_histogram(self, **kwargs: Any) -> Any:
        return self.histogram(falling_edge=True, **kwargs)

    def _check_rate(self, counts: Any, duration_s: float) -> None:
        rate = float(counts.sum()) / duration_s if duration_s > 0 else 0.0
        if rate > self.max_count_rate_cps:
            raise DetectorOverloadError(f"{self.role}: {rate:.3g} counts/s exceeds the "
                                        f"configured limit {self.max_count_rate_cps:.3g}")

    def live_status(self) -> str:
        return f"detector on {self.detector_channel}, marker on {self.marker_channel}"


class Modulator(RoleDevice):
    """Square-wave pump modulation; stopped on shutdown (after the lasers are off)."""

    kind = "modulator"

    def __init__(self, role: str, driver: Any, *, min_period_s: float | None = None,
                 max_period_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(role, driver, **kwargs)
        self.min_period_s = min_period_s
        self.max_period_s = max_period_s

    def start(self, period_s: float, duty_cycle: float = 0.5) -> Any:
        if self.min_period_s is not None and period_s < self.min_period_s or (
                self.max_period_s is not None and period_s > self.max_period_s):
            raise SafetyLimitError(f"period {period_s:g} s is outside the configured range of "
                                   f"{self.role}")
        with self.lock:
            return self.driver.start(period_s, duty_cycle)

    def stop(self) -> None:
        with self.lock:
            self.driver.stop()

    @contextlib.contextmanager
    def modulating(self, period_s: float, duty_cycle: float = 0.5) -> Iterator[Any]:
        waveform = self.start(period_s, duty_cycle)
        try:
            yield waveform
        finally:
            self.stop()

    def shutdown(self) -> str:
        with self._shutdown_lock():
            self.driver.stop()
            return "modulation stopped"

    def live_status(self) -> str:
        with self.lock:
            waveform = self.driver.waveform
        return "stopped" if waveform is None else f"{waveform}"


# --- standard wrappers: how the bench wraps a driver of each kind ---------------------------
# A driver spec names one of these as its `device` (or brings its own RoleDevice subclass).
# Each gets the role's config, the connected driver, the bench (for its clock) and the keyword
# arguments every RoleDevice takes.

def laser_device(inst: Any, driver: Any, bench: Any, common: dict[str, Any]) -> PumpLaser:
    return PumpLaser(inst.role, driver, wavelength_nm=float(inst.wavelength_nm),
                     max_power_W=inst.limits["max_power_W"], wait=bench.wait, **common)


def power_meter_device(inst: Any, driver: Any, bench: Any, common: dict[str, Any]) -> PowerMeter:
    return PowerMeter(inst.role, driver, max_power_W=inst.limits.get("max_power_W"), **common)


def counter_device(inst: Any, driver: Any, bench: Any, common: dict[str, Any]) -> Detector:
    return Detector(inst.role, driver, max_count_rate_cps=inst.limits["max_count_rate_cps"],
                    dead_time_s=inst.options["dead_time_ns"] * 1e-9, **common)


def time_tagger_device(inst: Any, driver: Any, bench: Any,
                       common: dict[str, Any]) -> TimeTagger:
    return TimeTagger(inst.role, driver, max_count_rate_cps=inst.limits["max_count_rate_cps"],
                      detector_channel=inst.options.get("detector_channel", 1),
                      marker_channel=inst.options.get("marker_channel", 2), **common)


def modulator_device(inst: Any, driver: Any, bench: Any, common: dict[str, Any]) -> Modulator:
    return Modulator(inst.role, driver, min_period_s=inst.limits.get("min_period_s"),
                     max_period_s=inst.limits.get("max_period_s"), **common)


def spectrometer_device(inst: Any, driver: Any, bench: Any,
                        common: dict[str, Any]) -> Spectrometer:
    return Spectrometer(inst.role, driver, max_exposure_s=inst.limits.get("max_exposure_s"),
                        **common)


def scanner_device(inst: Any, driver: Any, bench: Any, common: dict[str, Any]) -> Scanner:
    return Scanner(inst.role, driver, max_count_rate_cps=inst.limits["max_count_rate_cps"],
                   **common)


def half_wave_plate_device(inst: Any, driver: Any, bench: Any,
                           common: dict[str, Any]) -> Attenuator:
    """A rotation mount behind a half-wave plate + polarizer, calibrated by the options
    theta0_deg, t_max and t_min; a session starts at extinction."""
    from drivers.attenuators.calibration import HalfWavePlateAttenuator

    opts = inst.options
    device = Attenuator(inst.role, driver,
                        calibration=HalfWavePlateAttenuator(opts["theta0_deg"], opts["t_max"],
                                                            opts["t_min"]),
                        min_transmission=inst.limits["min_transmission"],
                        max_transmission=inst.limits["max_transmission"], **common)
    device.block()
    return device


def cryostat_device(inst: Any, driver: Any, bench: Any, common: dict[str, Any]) -> Cryostat:
    opts = inst.options
    return Cryostat(inst.role, driver, max_setpoint_K=inst.limits["max_setpoint_K"],
                    control_output=opts.get("control_output", 1),
                    control_input=opts.get("control_input", "A"),
                    sample_input=opts.get("sample_input", "B"),
                    heater_range=opts.get("heater_range", 3),
                    max_excursion_K=inst.limits.get("max_excursion_K", 2.0),
                    wait=bench.wait, now=bench.now, **common)
