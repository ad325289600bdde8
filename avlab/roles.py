"""Role kinds: what a role of the lab config is for, and the safety limits each kind declares.

A lab config names its roles freely (`pump_980`, `meter_left`, ...) and gives each a `kind`.
The kind decides which safety limits the role must declare and which bench wrapper
(avlab/devices.py) guards it; the driver that fills the role is described by its own spec
(avlab/specs.py, one per driver in the `instruments` package or an installed plugin).
Keeping the kinds' limits in one table is what lets a config be checked completely — missing
or impossible limit — before any instrument is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LASER = "laser"
POWER_METER = "power_meter"
COUNTER = "counter"
CRYOSTAT = "cryostat"
ATTENUATOR = "attenuator"
SCANNER = "scanner"
SPECTROMETER = "spectrometer"
TIME_TAGGER = "time_tagger"
MODULATOR = "modulator"

#: Every role kind, in the order `avlab config` lists them.
KINDS: tuple[str, ...] = (LASER, POWER_METER, COUNTER, SCANNER, TIME_TAGGER, MODULATOR,
                          SPECTROMETER, CRYOSTAT, ATTENUATOR)


@dataclass(frozen=True)
class LimitSpec:
    """A safety limit a role declares in the config."""

    unit: str
    description: str
    required: bool = True
    minimum_exclusive: float = 0.0


#: Dead time of a typical SPAD module; used (and simulated) when a config does not give one.
DEFAULT_DEAD_TIME_NS = 22.0
DEAD_TIME_DOC = ("detector dead time, for the rate correction (and of the simulated detector); "
                 f"default {DEFAULT_DEAD_TIME_NS:g} ns")


@dataclass(frozen=True)
class OptionSpec:
    """A driver setting allowed in a role's table (besides driver, resource and limits)."""

    type: type
    description: str
    positive: bool = False
    required: bool = False
    #: For per-axis settings: a number, or an [x, y] pair of numbers.
    pair_ok: bool = False
    #: A [low, high] pair of numbers only (e.g. a wavelength range).
    pair_only: bool = False
    #: For settings that name another role of the config (e.g. pump_role): its kind.
    role_of_kind: str | None = None
    #: Filled in by the config parser when the setting is absent, so every consumer (the
    #: simulated twin and the app's corrections alike) sees one value.
    default: Any = None


LIMITS: dict[str, dict[str, LimitSpec]] = {
    LASER: {
        "max_power_W": LimitSpec("W", "highest laser output power any procedure may set"),
    },
    POWER_METER: {
        "max_power_W": LimitSpec("W", "sensor damage threshold (warn above)", required=False),
    },
    TIME_TAGGER: {
        "max_count_rate_cps": LimitSpec("counts/s", "detector protection, as for detector"),
    },
    MODULATOR: {
        "min_period_s": LimitSpec("s", "shortest modulation period (laser modulation "
                                       "bandwidth)", required=False),
        "max_period_s": LimitSpec("s", "longest modulation period", required=False),
    },
    SPECTROMETER: {
        "max_exposure_s": LimitSpec("s", "longest exposure a procedure may ask for",
                                    required=False),
    },
    SCANNER: {
        "max_volts": LimitSpec("V", "galvo command voltage limit (amplifier input range)"),
        "max_slew_V_per_ms": LimitSpec("V/ms", "galvo command slew-rate limit"),
        "max_count_rate_cps": LimitSpec("counts/s", "detector protection, as for detector"),
    },
    ATTENUATOR: {
        "min_transmission": LimitSpec(
            "", "lowest transmission a procedure may ask for (default 2·t_min: below that, "
            "angle error and drift dominate)", required=False),
        "max_transmission": LimitSpec("", "highest transmission (default t_max)",
                                      required=False),
    },
    CRYOSTAT: {
        "max_setpoint_K": LimitSpec("K", "highest setpoint any procedure may ask for"),
        "temperature_limit_K": LimitSpec(
            "K", "over-temperature cut-off programmed into the controller (heaters off above "
            "it); default: max_setpoint_K", required=False),
    },
    COUNTER: {
        "max_count_rate_cps": LimitSpec(
            "counts/s", "highest detected count rate before the run stops to protect the "
            "detector (and stay in its linear range)"),
    },
}



#: Role names of the closed list avlab used before roles were named freely: a config that
#: uses them may leave out `kind` (and, for `pump_<nm>`, `wavelength_nm`).
LEGACY_ROLE_KINDS: dict[str, str] = {
    "power_meter": POWER_METER,
    "detector": COUNTER,
    "cryostat": CRYOSTAT,
    "spectrometer": SPECTROMETER,
    "time_tagger": TIME_TAGGER,
    "modulator": MODULATOR,
    "scanner": SCANNER,
    "attenuator": ATTENUATOR,
}
_LEGACY_PUMP = re.compile(r"^pump_(\d{3,4})$")


def legacy_kind(role: str) -> tuple[str, float | None] | None:
    """(kind, wavelength in nm or None) that an old fixed role name implied, else None."""
    match = _LEGACY_PUMP.match(role)
    if match:
        return LASER, float(match.group(1))
    kind = LEGACY_ROLE_KINDS.get(role)
    return None if kind is None else (kind, None)
