"""Galvo scanner on NI-DAQ analog outputs with a clocked photon counter: driver
drivers/scanning/nidaq_galvo.py, twin sim_devices/instruments/galvo_scanner.py (SDK-level:
the twin offers the driver's API)."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import scanner_device
from avlab.roles import SCANNER, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec, over_simulated_sdk

from ._shared import DEAD_TIME_OPTION


def galvo_calibration(inst: Any) -> Any:
    """The galvo calibration of a scanner role: config options plus its limits."""
    from drivers.scanning.calibration import GalvoCalibration

    opts = inst.options
    return GalvoCalibration(volts_per_degree=opts["volts_per_degree"],
                            um_per_degree=opts["um_per_degree"],
                            offset_volts=opts.get("offset_volts", 0.0),
                            max_volts=inst.limits["max_volts"],
                            max_slew_V_per_ms=inst.limits["max_slew_V_per_ms"])


#: Where a simulated role sits on the simulated NI card.
SIMULATED_RESOURCE = 'Dev1'


def _arguments(ctx: OpenContext) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The driver constructor's arguments, the same on hardware and over the simulated SDK
    (where a `sim` role is cabled to the simulated card as 'Dev1')."""
    resource = SIMULATED_RESOURCE if ctx.simulated else ctx.inst.resource
    opts = ctx.options
    kwargs = {"calibration": galvo_calibration(ctx.inst),
              "x_channel": opts.get("x_channel", "ao0"), "y_channel": opts.get("y_channel", "ao1"),
              "counter": opts.get("counter", "ctr0"),
              "photon_terminal": opts.get("photon_terminal", "PFI8")}
    if "park_rate_Hz" in opts:
        kwargs["park_rate_Hz"] = opts["park_rate_Hz"]
    return (resource,), kwargs


def _open(ctx: OpenContext) -> Any:
    from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner

    args, kwargs = _arguments(ctx)
    return NIDAQGalvoScanner(*args, **kwargs)


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.galvo_scanner import SimGalvoScanner

    return SimGalvoScanner(world, calibration=galvo_calibration(inst),
                           dark_count_rate_cps=inst.options.get("dark_count_rate_cps", 25.0),
                           dead_time_s=inst.options["dead_time_ns"] * 1e-9)


def _faults() -> dict[str, str]:
    from sim_devices.instruments.galvo_scanner import SimGalvoScanner

    return SimGalvoScanner.fault_names()


SPEC = DriverSpec(
    name="nidaq_galvo", kinds=(SCANNER,),
    description="galvo pair on NI-DAQ analog outputs, photon counter clocked by the AO sample "
                "clock",
    options={
        "x_channel": OptionSpec(str, "AO channel of the x galvo, e.g. 'ao0'"),
        "y_channel": OptionSpec(str, "AO channel of the y galvo, e.g. 'ao1'"),
        "counter": OptionSpec(str, "counter of the photon TTLs, e.g. 'ctr0'"),
        "photon_terminal": OptionSpec(str, "PFI terminal of the photon TTLs, e.g. 'PFI8'"),
        "volts_per_degree": OptionSpec(float, "galvo scale (GVS jumper), per mechanical degree",
                                       positive=True, required=True, pair_ok=True),
        "um_per_degree": OptionSpec(float, "spot travel at the sample per mechanical degree "
                                           "(calibrate on a grid)", required=True,
                                    pair_ok=True),
        "offset_volts": OptionSpec(float, "command voltage of the field centre", pair_ok=True),
        "park_rate_Hz": OptionSpec(float, "sample rate of parking moves", positive=True),
        "dead_time_ns": DEAD_TIME_OPTION,
        "dark_count_rate_cps": OptionSpec(float, "dark count rate of the simulated detector "
                                                 "(simulation only)"),
    },
    open=_open, device=scanner_device, resource=resources.ni_device,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=False, open=over_simulated_sdk(_arguments)),
)
