"""Simulated Thorlabs PM100D / PM100USB optical power meter with a photodiode sensor (docs/protocols.md §3a).

SCPI over USBTMC. The meter measures a photocurrent and divides it by the sensor
responsivity at the *configured* wavelength — so a wrongly set wavelength gives a wrong
reading, as on the real meter. Noise falls with averaging; each reading takes
`averages × 1 ms` of bench time; readings above the range answer 9.9E37 (over-range).
Error queue, `SYST:ERR?` and the IEEE 488.2 common commands (`*STB?`, `*ESE`, `*SRE`, `*ESR?`,
`*CLS`, `*OPC`, `*TST?`, `*WAI`) as on the CLD twin (`ScpiErrorQueue`: 10 entries, then -350
"Error queue overflow"; the status byte follows the queue and the event register).
"""

from __future__ import annotations

import math

import numpy as np

from ..world import SimWorld
from .base import SimulatedMessageInstrument
from .scpi import ScpiErrorQueue, ScpiVocabulary

OVER_RANGE_W = 9.9e37
SAMPLE_PERIOD_S = 1e-3

# Approximate responsivity of a silicon photodiode sensor (S120C-class), A/W.
_SI_RESPONSIVITY = (
    (400.0, 0.12), (500.0, 0.27), (600.0, 0.37), (700.0, 0.45), (800.0, 0.52),
    (900.0, 0.58), (960.0, 0.60), (1000.0, 0.53), (1064.0, 0.25), (1100.0, 0.12),
)

# Approximate responsivity of an InGaAs photodiode sensor (S122C-class, 800-1700 nm), A/W.
_INGAAS_RESPONSIVITY = (
    (800.0, 0.20), (900.0, 0.45), (1000.0, 0.62), (1100.0, 0.72), (1200.0, 0.80),
    (1300.0, 0.86), (1400.0, 0.92), (1450.0, 0.95), (1550.0, 1.00), (1650.0, 0.90),
    (1700.0, 0.60),
)
#: Responsivity table of each simulated sensor head.
SENSOR_RESPONSIVITY = {"S120C": _SI_RESPONSIVITY, "S122C": _INGAAS_RESPONSIVITY}

_VOCAB = ScpiVocabulary(
    [
        "*IDN", "IDN", "*RST", "*CLS", "*OPC", "SYSTem", "ERRor", "NEXT", "SENSe", "SENSor", "CORRection",
        "WAVelength", "AVERage", "COUNt", "POWer", "RANGe", "UPPer", "AUTO", "UNIT", "CONFigure",
        "INITiate", "IMMediate", "FETCh", "READ", "MEASure", "SCALar", "COLLect", "ZERO", "INITiate",
        "STATe", "MAGNitude", "ABORt", "PDIode", "RESPonse", "DC", "BEAMdiameter",
    ],
    optional=("SENS",),
)


class SimThorlabsPM100(ScpiErrorQueue, SimulatedMessageInstrument):
    """A virtual PM100 head that reads the beams of the simulated world at its plane."""

    DEVICE_FAULTS = {
        "over_range": "the sensor is flooded: every reading is over range (9.9E37)",
        "sensor_unplugged": "the sensor head is unplugged: 'no sensor', no readings",
    }

    def __init__(
        self,
        world: SimWorld,
        *,
        model: str = "PM100D",
        serial: str = "P0012345",
        firmware: str = "2.6.0",
        sensor: str = "S120C",
        sensor_serial: str = "190412345",
        min_wavelength_nm: float = 400.0,
        max_wavelength_nm: float = 1100.0,
        max_power_W: float = 50e-3,
        noise_floor_W: float = 1e-9,
        dark_offset_W: float = 0.8e-9,
    ) -> None:
        super().__init__()
        if sensor not in SENSOR_RESPONSIVITY:
            raise ValueError(f"unknown sensor {sensor!r}; simulated: "
                             f"{', '.join(SENSOR_RESPONSIVITY)}")
        self.world = world
        self.model, self.serial, self.firmware = model, serial, firmware
        self.sensor, self.sensor_serial = sensor, sensor_serial
        self.min_wavelength_nm, self.max_wavelength_nm = min_wavelength_nm, max_wavelength_nm
        self.max_power_W = max_power_W
        self.noise_floor_W = noise_floor_W
        self.dark_offset_W = dark_offset_W
        self._init_error_queue()
        self._reset()

    def _reset(self) -> None:
        self.wavelength_nm = 635.0
        self.averages = 1
        self.auto_range = True
        self.range_W = self.max_power_W
        self.unit = "W"
        self.zero_offset_W = 0.0
        self._fetched: float | None = None

    # --- measurement model -----------------------------------------------------------------
    def responsivity_A_W(self, wavelength_nm: float) -> float:
        """Responsivity of this meter's sensor head in A/W at `wavelength_nm`."""
        lam, resp = zip(*SENSOR_RESPONSIVITY[self.sensor])
        return float(np.interp(wavelength_nm, lam, resp, left=1e-3, right=1e-3))

    def _measure_W(self) -> float:
        """One reading: average of `averages` samples at 1 kHz, in W at the set wavelength."""
        self.world.clock.sleep(self.averages * SAMPLE_PERIOD_S)
        current_A = sum(p * self.responsivity_A_W(lam) for lam, p in self.world.beams_at_meter())
        power = current_A / self.responsivity_A_W(self.wavelength_nm)
        power += self.dark_offset_W - self.zero_offset_W
        noise_sigma = math.hypot(self.noise_floor_W, 2e-3 * power) / math.sqrt(self.averages)
        power += self.world.rng.normal(0.0, noise_sigma)
        limit = self.max_power_W if self.auto_range else self.range_W
        if power > limit * 1.1 or "over_range" in self.active_faults:
            return OVER_RANGE_W
        if self.auto_range:
            self.range_W = min(self.max_power_W, 10 ** math.ceil(math.log10(max(power, 1e-9))))
        return power

    def _format_reading(self, power_W: float) -> str:
        if power_W >= OVER_RANGE_W or self.unit == "W":
            return f"{power_W:.6E}"
        return f"{10.0 * math.log10(max(power_W, 1e-15) / 1e-3):.6E}"

    # --- protocol --------------------------------------------------------------------------
    def _handle(self, command: str) -> str | None:
        parsed = _VOCAB.parse(command)
        if parsed is None:
            self._error(-113, "Undefined header")
            return None
        path, query, args = parsed.path, parsed.is_query, parsed.args
        key = ":".join(path)
        if key == "*IDN" and query:
            return f"Thorlabs,{self.model},{self.serial},{self.firmware}"
        if key == "*RST":
            self._reset()
            return None
        common = self._common_command(key, query)
        if common is not None:
            return common(args)
        if key == "SYST:SENS:IDN" and query:
            if "sensor_unplugged" in self.active_faults:
                return "no sensor"
            return f"{self.sensor},{self.sensor_serial},12-Mar-2025,1,18,49"
        if key == "CORR:WAV":
            return self._wavelength(query, args)
        if key == "AVER:COUN" or key == "AVER":
            return self._averaging(query, args)
        if key in ("POW:RANG:AUTO", "POW:DC:RANG:AUTO"):
            if query:
                return "1" if self.auto_range else "0"
            return self._set_bool("auto_range", args)
        if key in ("POW:RANG", "POW:RANG:UPP", "POW:DC:RANG", "POW:DC:RANG:UPP"):
            return self._range(query, args)
        if key in ("POW:UNIT", "POW:DC:UNIT"):
            if query:
                return self.unit
            if not args or args[0].upper() not in ("W", "DBM"):
                self._error(-224, "Illegal parameter value")
                return None
            self.unit = args[0].upper()
            return None
        if key in ("CONF:POW", "CONF:SCAL:POW", "ABOR"):
            return None
        if key in ("INIT", "INIT:IMM"):
            self._fetched = self._measure_W()
            return None
        if key == "FETC" and query:
            if self._fetched is None:
                self._error(-230, "Data corrupt or stale")
                return None
            return self._format_reading(self._fetched)
        if key in ("READ", "MEAS", "MEAS:POW", "MEAS:SCAL:POW") and query:
            if "sensor_unplugged" in self.active_faults:
                self._error(-241, "Hardware missing")
                return self._format_reading(OVER_RANGE_W)
            self._fetched = self._measure_W()
            return self._format_reading(self._fetched)
        if key == "CORR:COLL:ZERO:INIT" or key == "CORR:COLL:ZERO":
            self.world.clock.sleep(0.5)
            self.zero_offset_W = self.dark_offset_W  # zeroing with the beam blocked
            return None
        if key == "CORR:COLL:ZERO:STAT" and query:
            return "0"
        if key == "CORR:COLL:ZERO:MAGN" and query:
            return f"{self.zero_offset_W * self.responsivity_A_W(self.wavelength_nm):.6E}"
        if key == "CORR:POW:PDI:RESP" and query:
            return f"{self.responsivity_A_W(self.wavelength_nm):.6E}"
        self._error(-113, "Undefined header")
        return None

    def _number(self, args: tuple[str, ...]) -> float | None:
        try:
            return float(args[0])
        except (IndexError, ValueError):
            self._error(-224, "Illegal parameter value")
            return None

    def _wavelength(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            which = args[0].upper() if args else ""
            if which.startswith("MIN"):
                return f"{self.min_wavelength_nm:.6E}"
            if which.startswith("MAX"):
                return f"{self.max_wavelength_nm:.6E}"
            return f"{self.wavelength_nm:.6E}"
        value = self._number(args)
        if value is None:
            return None
        if not self.min_wavelength_nm <= value <= self.max_wavelength_nm:
            self._error(-222, "Data out of range")
            return None
        self.wavelength_nm = value
        return None

    def _averaging(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return str(self.averages)
        value = self._number(args)
        if value is None:
            return None
        if not 1 <= value <= 100_000 or value != int(value):
            self._error(-222, "Data out of range")
            return None
        self.averages = int(value)
        return None

    def _range(self, query: bool, args: tuple[str, ...]) -> str | None:
        if query:
            return f"{self.range_W:.6E}"
        value = self._number(args)
        if value is None:
            return None
        if not 0.0 < value <= self.max_power_W:
            self._error(-222, "Data out of range")
            return None
        self.auto_range = False
        self.range_W = 10 ** math.ceil(math.log10(value) - 1e-9)
        return None

    def _set_bool(self, attr: str, args: tuple[str, ...]) -> None:
        word = args[0].upper() if args else ""
        if word in ("1", "ON"):
            setattr(self, attr, True)
        elif word in ("0", "OFF"):
            setattr(self, attr, False)
        else:
            self._error(-224, "Illegal parameter value")
        return None
