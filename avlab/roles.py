"""Instrument roles and the drivers that can fill them.

A lab config names roles (`pump_1064`, `power_meter`, `detector`, ...). Each role has a kind
(laser, power meter, counter), the safety limits it must declare, and a set of drivers that
can fill it. Keeping this table in one place is what lets the config be checked completely —
unknown role, unknown driver, missing or impossible limit — before any instrument is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    #: Filled in by the config parser when the setting is absent, so every consumer (the
    #: simulated twin and the app's corrections alike) sees one value.
    default: Any = None


@dataclass(frozen=True)
class DriverSpec:
    """A driver avlab knows how to build, and for which kind of role."""

    name: str
    kind: str
    description: str
    options: dict[str, OptionSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class RoleSpec:
    kind: str
    description: str
    wavelength_nm: float | None = None


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

ROLES: dict[str, RoleSpec] = {
    "pump_1064": RoleSpec(LASER, "CW pump laser at 1064 nm", 1064.0),
    "pump_852": RoleSpec(LASER, "CW pump laser at 852 nm", 852.0),
    "pump_1450": RoleSpec(LASER, "CW pump laser at 1450 nm", 1450.0),
    "power_meter": RoleSpec(POWER_METER, "optical power meter at the calibrated plane"),
    "detector": RoleSpec(COUNTER, "photon-counting detector read by a gated counter"),
    "cryostat": RoleSpec(CRYOSTAT, "sample temperature controller / cryostat"),
    "spectrometer": RoleSpec(SPECTROMETER, "emission spectrometer"),
    "time_tagger": RoleSpec(TIME_TAGGER, "time tagger: detector clicks and modulation markers"),
    "modulator": RoleSpec(MODULATOR, "square-wave pump modulation with a marker output"),
    "scanner": RoleSpec(SCANNER, "galvo scanner with photon counting clocked by its samples"),
    "attenuator": RoleSpec(ATTENUATOR, "half-wave plate on a motorized mount + polarizer in "
                                       "the pump path, before the power-meter plane"),
}

DRIVERS: dict[str, DriverSpec] = {
    "ipg_ylr": DriverSpec(
        "ipg_ylr", LASER, "IPG Photonics YLR CW fiber laser (RS-232 57600 or TCP 10001)",
        {"max_power_W": OptionSpec(float, "rated output power; read from the model name if "
                                          "omitted", positive=True)},
    ),
    "thorlabs_cld": DriverSpec(
        "thorlabs_cld", LASER,
        "Thorlabs CLD101x / ITC4001 / ITC4002 laser-diode + TEC controller (USBTMC)",
        {
            "threshold_current_A": OptionSpec(float, "diode lasing threshold at the TEC "
                                                     "setpoint", positive=True, required=True),
            "slope_efficiency_W_A": OptionSpec(float, "diode slope efficiency above threshold",
                                               positive=True, required=True),
            "tec_setpoint_C": OptionSpec(float, "TEC setpoint, reached (and held 3 s) when the "
                                                "bench connects, before any emission"),
            "max_current_A": OptionSpec(float, "the diode's absolute maximum current (caps the "
                                               "controller's current limit)", positive=True),
            "max_power_W": OptionSpec(float, "highest power setpoint (default: calibrated power "
                                             "at the current limit)", positive=True),
            "max_step_A": OptionSpec(float, "largest current step when ramping", positive=True),
            "step_dwell_s": OptionSpec(float, "time held after each ramp step", positive=True),
            "current_limit_A": OptionSpec(float, "current limit of the simulated controller "
                                                 "(simulation only)", positive=True),
        },
    ),
    "swabian_time_tagger": DriverSpec(
        "swabian_time_tagger", TIME_TAGGER,
        "Swabian Instruments Time Tagger (pip install Swabian-TimeTagger)",
        {
            "serial": OptionSpec(str, "serial number (default: the first tagger found)"),
            "pump_role": OptionSpec(str, "the laser role the modulation markers belong to",
                                    required=True),
            "detector_channel": OptionSpec(int, "input of the detector TTLs", positive=True),
            "marker_channel": OptionSpec(int, "input of the modulation marker", positive=True),
            "trigger_level_V": OptionSpec(float, "trigger level of both inputs"),
            "dead_time_ns": OptionSpec(float, DEAD_TIME_DOC, positive=True,
                                       default=DEFAULT_DEAD_TIME_NS),
            "dark_count_rate_cps": OptionSpec(float, "simulation only"),
            "timing_jitter_ps": OptionSpec(float, "simulation only", positive=True),
        },
    ),
    "nidaq_modulator": DriverSpec(
        "nidaq_modulator", MODULATOR,
        "pump modulation from an NI-DAQ counter output (resource: the counter, e.g. Dev1/ctr2)",
        {
            "output_terminal": OptionSpec(str, "PFI terminal of the counter output"),
            "pump_role": OptionSpec(str, "the laser role it modulates", required=True),
        },
    ),
    "ocean_seabreeze": DriverSpec(
        "ocean_seabreeze", SPECTROMETER,
        "Ocean Insight spectrometer through python-seabreeze (resource: serial number or "
        "'first')",
        {
            "backend": OptionSpec(str, "'cseabreeze' (default) or 'pyseabreeze'"),
            "correct_dark_counts": OptionSpec(bool, "subtract the optically dark pixels"),
            "correct_nonlinearity": OptionSpec(bool, "apply the stored nonlinearity "
                                                     "correction"),
            "throughput": OptionSpec(float, "collection to spectrometer throughput "
                                            "(simulation only)", positive=True),
        },
    ),
    "spectrapro": DriverSpec(
        "spectrapro", SPECTROMETER,
        "Princeton Instruments / Acton SpectraPro spectrograph (serial 9600 8N1) with a camera",
        {
            "grating": OptionSpec(int, "grating selected at connect (1-9)", positive=True),
            "center_wavelength_nm": OptionSpec(float, "centre wavelength set at connect",
                                               positive=True),
            "focal_length_mm": OptionSpec(float, "focal length (default: from the model)",
                                          positive=True),
            "camera_index": OptionSpec(int, "Andor camera index (default: the first)"),
            "camera_serial": OptionSpec(str, "Andor camera serial number"),
            "cooling_target_C": OptionSpec(float, "CCD temperature to cool to and wait for at "
                                                  "connect (whole degrees)"),
            "cooling_timeout_s": OptionSpec(float, "longest wait for the CCD temperature",
                                            positive=True),
            "camera_shutter": OptionSpec(str, "'auto', 'manual' or 'none'"),
            "camera_throughput": OptionSpec(float, "collection to camera throughput "
                                                   "(simulation only)", positive=True),
        },
    ),
    "nidaq_galvo": DriverSpec(
        "nidaq_galvo", SCANNER,
        "galvo pair on NI-DAQ analog outputs, photon counter clocked by the AO sample clock",
        {
            "x_channel": OptionSpec(str, "AO channel of the x galvo, e.g. 'ao0'"),
            "y_channel": OptionSpec(str, "AO channel of the y galvo, e.g. 'ao1'"),
            "counter": OptionSpec(str, "counter of the photon TTLs, e.g. 'ctr0'"),
            "photon_terminal": OptionSpec(str, "PFI terminal of the photon TTLs, e.g. 'PFI8'"),
            "volts_per_degree": OptionSpec(float, "galvo scale (GVS jumper), per mechanical "
                                                  "degree", positive=True, required=True,
                                           pair_ok=True),
            "um_per_degree": OptionSpec(float, "spot travel at the sample per mechanical "
                                               "degree (calibrate on a grid)", required=True,
                                        pair_ok=True),
            "offset_volts": OptionSpec(float, "command voltage of the field centre",
                                       pair_ok=True),
            "park_rate_Hz": OptionSpec(float, "sample rate of parking moves", positive=True),
            "dead_time_ns": OptionSpec(float, DEAD_TIME_DOC, positive=True,
                                       default=DEFAULT_DEAD_TIME_NS),
            "dark_count_rate_cps": OptionSpec(float, "dark count rate of the simulated "
                                                     "detector (simulation only)"),
        },
    ),
    "thorlabs_elliptec": DriverSpec(
        "thorlabs_elliptec", ATTENUATOR,
        "Thorlabs Elliptec ELL14 rotation mount (serial 9600 8N1, multidrop address 0-F)",
        {
            "address": OptionSpec(str, "bus address of the mount, '0'-'F'"),
            "theta0_deg": OptionSpec(float, "mount angle of maximum transmission",
                                     required=True),
            "t_max": OptionSpec(float, "transmission at theta0 (calibrated)", positive=True,
                                required=True),
            "t_min": OptionSpec(float, "transmission at extinction (calibrated)",
                                positive=True, required=True),
            "position_tolerance_deg": OptionSpec(float, "largest accepted move error",
                                                 positive=True),
            "design_wavelength_nm": OptionSpec(float, "wave-plate design wavelength "
                                                      "(simulation only)", positive=True),
        },
    ),
    "lakeshore_33x": DriverSpec(
        "lakeshore_33x", CRYOSTAT,
        "Lake Shore 335/336 temperature controller (USB serial 57600 7O1, or TCP 7777 on the 336)",
        {
            "control_output": OptionSpec(int, "heater output of the control loop (1 or 2)",
                                         positive=True),
            "control_input": OptionSpec(str, "sensor input the loop regulates ('A'-'D')"),
            "sample_input": OptionSpec(str, "sensor input on the sample ('A'-'D')"),
            "heater_range": OptionSpec(int, "heater range used for closed-loop control "
                                            "(1 low, 2 medium, 3 high)", positive=True),
            "model": OptionSpec(int, "335 or 336 (simulation only)", positive=True),
        },
    ),
    "montana_cryostation": DriverSpec(
        "montana_cryostation", CRYOSTAT,
        "Montana Instruments Cryostation, legacy remote protocol (TCP 7773)",
        {"max_heater_power_W": OptionSpec(float, "cap on the platform heater power",
                                          positive=True)},
    ),
    "thorlabs_pm100": DriverSpec(
        "thorlabs_pm100", POWER_METER, "Thorlabs PM100D/PM100USB/PM101 power meter (USBTMC)",
        {"averaging_count": OptionSpec(int, "samples averaged per reading (1 kHz base)",
                                       positive=True)},
    ),
    "nidaq_counter": DriverSpec(
        "nidaq_counter", COUNTER, "photon-counting module (SPAD/PMT TTL) on an NI-DAQ counter",
        {
            "input_terminal": OptionSpec(str, "PFI terminal the photon TTL is wired to, e.g. "
                                              "'PFI8'"),
            "gate_counter": OptionSpec(str, "second counter that times the gate, e.g. "
                                            "'Dev1/ctr1'"),
            "dead_time_ns": OptionSpec(float, DEAD_TIME_DOC, positive=True,
                                       default=DEFAULT_DEAD_TIME_NS),
            "dark_count_rate_cps": OptionSpec(float, "dark count rate of the simulated "
                                                     "detector (simulation only)"),
        },
    ),
}
