"""Photon counter on an NI-DAQ counter: driver drivers/counters/nidaq.py, twin
sim_devices/instruments/photon_counter.py (SDK-level: on the simulated bench the real driver runs over the simulated SDK of
sim_devices/sdk)."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import counter_device
from avlab.roles import COUNTER, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec, over_simulated_sdk

from ._shared import DEAD_TIME_OPTION


#: Where a simulated role sits on the simulated NI card.
SIMULATED_RESOURCE = 'Dev1/ctr0'


def _arguments(ctx: OpenContext) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The driver constructor's arguments, the same on hardware and over the simulated SDK
    (where a `sim` role is cabled to the simulated card as 'Dev1/ctr0')."""
    resource = SIMULATED_RESOURCE if ctx.simulated else ctx.inst.resource
    return ((resource,),
            {"input_terminal": ctx.options.get("input_terminal", "PFI8"),
             "gate_counter": ctx.options.get("gate_counter", "Dev1/ctr1")})


def _open(ctx: OpenContext) -> Any:
    from drivers.counters.nidaq import NIDAQPhotonCounter

    args, kwargs = _arguments(ctx)
    return NIDAQPhotonCounter(*args, **kwargs)


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.photon_counter import SimPhotonCounter

    return SimPhotonCounter(world,
                            dark_count_rate_cps=inst.options.get("dark_count_rate_cps", 25.0),
                            dead_time_s=inst.options["dead_time_ns"] * 1e-9)


def _faults() -> dict[str, str]:
    from sim_devices.instruments.photon_counter import SimPhotonCounter

    return SimPhotonCounter.fault_names()


SPEC = DriverSpec(
    name="nidaq_counter", kinds=(COUNTER,),
    description="photon-counting module (SPAD/PMT TTL) on an NI-DAQ counter",
    options={
        "input_terminal": OptionSpec(str, "PFI terminal the photon TTL is wired to, e.g. "
                                          "'PFI8'"),
        "gate_counter": OptionSpec(str, "second counter that times the gate, e.g. "
                                        "'Dev1/ctr1'"),
        "dead_time_ns": DEAD_TIME_OPTION,
        "dark_count_rate_cps": OptionSpec(float, "dark count rate of the simulated detector "
                                                 "(simulation only)"),
    },
    open=_open, device=counter_device, resource=resources.ni_device,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=False, open=over_simulated_sdk(_arguments)),
)
