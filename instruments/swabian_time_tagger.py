"""Swabian Instruments Time Tagger: driver drivers/timetagging/swabian.py, twin
sim_devices/instruments/time_tagger.py (SimTimeTagger; SDK-level: the twin offers the
driver's API)."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import time_tagger_device
from avlab.roles import TIME_TAGGER, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec, over_simulated_sdk

from ._shared import DEAD_TIME_OPTION

_TWIN_KEYS = ("detector_channel", "marker_channel", "dark_count_rate_cps", "timing_jitter_ps")


def _arguments(ctx: OpenContext) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The driver constructor's arguments, the same on hardware and over the simulated SDK."""
    return (ctx.options.get("serial", ""),), {}


def _open(ctx: OpenContext) -> Any:
    from drivers.timetagging.swabian import SwabianTimeTagger

    args, kwargs = _arguments(ctx)
    return SwabianTimeTagger(*args, **kwargs)


def _prepare(inst: Any, driver: Any) -> None:
    if "trigger_level_V" in inst.options:
        for channel in (inst.options.get("detector_channel", 1),
                        inst.options.get("marker_channel", 2)):
            driver.set_trigger_level(channel, inst.options["trigger_level_V"])


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.time_tagger import SimTimeTagger

    opts = inst.options
    return SimTimeTagger(world, pump_source_name=opts["pump_role"],
                         dead_time_s=opts["dead_time_ns"] * 1e-9,
                         **{k: opts[k] for k in _TWIN_KEYS if k in opts})


def _faults() -> dict[str, str]:
    from sim_devices.instruments.time_tagger import SimTimeTagger

    return SimTimeTagger.fault_names()


SPEC = DriverSpec(
    name="swabian_time_tagger", kinds=(TIME_TAGGER,),
    description="Swabian Instruments Time Tagger (pip install Swabian-TimeTagger)",
    options={
        "serial": OptionSpec(str, "serial number (default: the first tagger found)"),
        "pump_role": OptionSpec(str, "the laser role the modulation markers belong to",
                                required=True, role_of_kind="laser"),
        "detector_channel": OptionSpec(int, "input of the detector TTLs", positive=True),
        "marker_channel": OptionSpec(int, "input of the modulation marker", positive=True),
        "trigger_level_V": OptionSpec(float, "trigger level of both inputs"),
        "dead_time_ns": DEAD_TIME_OPTION,
        "dark_count_rate_cps": OptionSpec(float, "simulation only"),
        "timing_jitter_ps": OptionSpec(float, "simulation only", positive=True),
    },
    open=_open, prepare=_prepare, device=time_tagger_device, resource=resources.serial_number,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=False, open=over_simulated_sdk(_arguments)),
)
