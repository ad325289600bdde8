"""Pump modulation from an NI-DAQ counter output: driver drivers/modulation.py, twin
sim_devices/instruments/time_tagger.py (SimPumpModulator; SDK-level: the twin offers the
driver's API)."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import modulator_device
from avlab.roles import MODULATOR, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec, over_simulated_sdk


def _period_limits(inst: Any) -> dict[str, float]:
    return {k: inst.limits[k] for k in ("min_period_s", "max_period_s") if k in inst.limits}


#: Where a simulated role sits on the simulated NI card.
SIMULATED_RESOURCE = 'Dev1/ctr2'


def _arguments(ctx: OpenContext) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The driver constructor's arguments, the same on hardware and over the simulated SDK
    (where a `sim` role is cabled to the simulated card as 'Dev1/ctr2')."""
    resource = SIMULATED_RESOURCE if ctx.simulated else ctx.inst.resource
    return ((resource,),
            {"output_terminal": ctx.options.get("output_terminal"), **_period_limits(ctx.inst)})


def _open(ctx: OpenContext) -> Any:
    from drivers.modulation import NIDAQPumpModulator

    args, kwargs = _arguments(ctx)
    return NIDAQPumpModulator(*args, **kwargs)


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.time_tagger import SimPumpModulator

    return SimPumpModulator(world, pump_source_name=inst.options["pump_role"],
                            **_period_limits(inst))


def _faults() -> dict[str, str]:
    from sim_devices.instruments.time_tagger import SimPumpModulator

    return SimPumpModulator.fault_names()


SPEC = DriverSpec(
    name="nidaq_modulator", kinds=(MODULATOR,),
    description="pump modulation from an NI-DAQ counter output (resource: the counter, e.g. "
                "Dev1/ctr2)",
    options={
        "output_terminal": OptionSpec(str, "PFI terminal of the counter output"),
        "pump_role": OptionSpec(str, "the laser role it modulates", required=True,
                                role_of_kind="laser"),
    },
    open=_open, device=modulator_device, resource=resources.ni_channel,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=False, open=over_simulated_sdk(_arguments)),
)
