"""Thorlabs PM100D / PM100USB / PM101 / PM400 optical power meters (SCPI over USBTMC).

Resources: `USB0::0x1313::0x8078::<SN>::INSTR` (PM100D), `USB0::0x1313::0x8072::<SN>::INSTR`
(PM100USB). Unlike pymeasure's PM100USB driver, a wavelength outside the sensor's range is
rejected (that driver silently sends 1100 nm when asked for 1450 nm), and an over-range reading
(the meter answers ~9.9E37) raises instead of passing as a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_range

from ..errors import (
    InstrumentCommandError,
    InstrumentResponseError,
    PowerMeterOverRangeError,
    PowerMeterSensorError,
)
from ..messaging import CheckedMessaging, SCPIErrorQueue
from ..validators import strict_choice_ignore_case, strict_integer_range

OVER_RANGE_THRESHOLD_W = 1e37


@dataclass(frozen=True)
class SensorInfo:
    """Reply of `SYST:SENS:IDN?`."""

    name: str
    serial: str
    calibration_date: str
    type_code: int
    subtype_code: int
    flags: int

    @property
    def measures_power(self) -> bool:
        return bool(self.flags & 1)

    @property
    def wavelength_settable(self) -> bool:
        return bool(self.flags & 32)


class ThorlabsPM100(SCPIErrorQueue, CheckedMessaging, SCPIMixin, Instrument):
    """Thorlabs PM100-family power meter with a photodiode or thermal sensor attached."""

    def __init__(self, adapter, name: str = "Thorlabs PM100 power meter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)
        #: Unit of readings: read from the meter once here (it keeps the unit it was left in,
        #: front panel or another program), then as set through `power_unit`.
        self._unit = self.power_unit
        # The sensor decides the wavelength range; ask once so the validator rejects early.
        self.wavelength_nm_values = [self.wavelength_min_nm, self.wavelength_max_nm]

    wavelength_min_nm = Instrument.measurement("SENS:CORR:WAV? MIN",
                                               "Shortest wavelength the sensor supports, nm.")
    wavelength_max_nm = Instrument.measurement("SENS:CORR:WAV? MAX",
                                               "Longest wavelength the sensor supports, nm.")
    wavelength_nm = Instrument.control(
        "SENS:CORR:WAV?", "SENS:CORR:WAV %g",
        "Wavelength correction in nm; must be the wavelength of the measured beam. Values "
        "outside the sensor's range are rejected.",
        validator=strict_range, values=[0.0, 1e5], dynamic=True, check_set_errors=True,
    )
    averaging_count = Instrument.control(
        "SENS:AVER:COUN?", "SENS:AVER:COUN %d",
        "Samples averaged per reading (base rate ~1 kHz, so a reading takes about count ms).",
        validator=strict_integer_range, values=[1, 100_000], cast=int,
        check_set_errors=True,
    )
    auto_range = Instrument.control(
        "SENS:POW:RANG:AUTO?", "SENS:POW:RANG:AUTO %d", "Automatic power range.",
        validator=strict_integer_range, values=[0, 1],
        get_process=lambda v: bool(int(v)), check_set_errors=True,
    )
    range_W = Instrument.control(
        "SENS:POW:RANG?", "SENS:POW:RANG %g",
        "Upper end of the power range in W (setting it switches auto range off).",
        validator=strict_range, values=[1e-12, 1e3], check_set_errors=True,
    )
    @property
    def power_unit(self) -> str:
        """Unit of readings, 'W' or 'DBM' (InstrumentResponseError for anything else)."""
        unit = self.ask("SENS:POW:UNIT?").strip().upper()
        if unit not in ("W", "DBM"):
            raise InstrumentResponseError(f"{self.name}: unknown power unit {unit!r}")
        return unit

    @power_unit.setter
    def power_unit(self, unit: str) -> None:
        unit = strict_choice_ignore_case(unit, ("W", "DBM"))
        self.write(f"SENS:POW:UNIT {unit}")
        self.check_set_errors()
        self._unit = unit

    responsivity_A_W = Instrument.measurement(
        "SENS:CORR:POW:PDI:RESP?", "Photodiode responsivity at the set wavelength, A/W.")

    @property
    def sensor(self) -> SensorInfo:
        """The attached sensor; raises InstrumentCommandError if none is fitted."""
        reply = self.ask("SYST:SENS:IDN?")
        if reply.strip().lower().startswith("no sensor"):
            raise InstrumentCommandError(f"{self.name}: no sensor connected")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) < 6:
            raise InstrumentCommandError(f"{self.name}: unexpected sensor reply {reply!r}")
        return SensorInfo(parts[0], parts[1], parts[2], int(parts[3]), int(parts[4]),
                          int(parts[5]))

    def _reading(self) -> float:
        value = self.values("MEAS:POW?")[0]
        if value > OVER_RANGE_THRESHOLD_W:
            # Without a sensor head the meter also answers its over-range value, with
            # -241 "Hardware missing" in the error queue: look there before calling a missing
            # sensor "over range" (one more message, only on an over-range answer).
            try:
                self.check_errors()
            except InstrumentCommandError as exc:
                if "-241" in str(exc):
                    raise PowerMeterSensorError(
                        f"{self.name}: no sensor connected (sensor head unplugged?); no "
                        "readings") from None
                raise
            raise PowerMeterOverRangeError(
                f"{self.name}: reading over range (instrument answered {value:.3g}); "
                "enable auto range or choose a higher range"
            )
        return value

    @property
    def power_W(self) -> float:
        """One reading in W (MEAS:POW?). Raises PowerMeterOverRangeError when over range.

        Refuses to run while the meter is set to dBm (as found at connection, or as set
        through `power_unit`), so a dBm number can never pass for watts.
        """
        if self._unit != "W":
            raise InstrumentCommandError(f"{self.name}: unit is {self._unit}; set power_unit "
                                         "= 'W' to read watts (or read power_dBm)")
        return self._reading()

    @property
    def power_dBm(self) -> float:
        """One reading in dBm (the meter must be set to power_unit = 'DBM')."""
        if self._unit != "DBM":
            raise InstrumentCommandError(f"{self.name}: unit is {self._unit}; set power_unit "
                                         "= 'DBM' first")
        return self._reading()

    def zero(self) -> None:
        """Dark-zero the sensor (block the beam first)."""
        self.write("SENS:CORR:COLL:ZERO:INIT")
        self.check_errors()

    @property
    def identity(self) -> str:
        sensor = self.sensor
        return f"{self.id.strip()}; sensor {sensor.name} SN {sensor.serial}"
