"""Montana Instruments Cryostation (legacy remote protocol): driver
drivers/temperature/montana_cryostation.py, twin sim_devices/instruments/montana_cryostation.py."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import cryostat_device
from avlab.roles import CRYOSTAT, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec


def _driver(ctx: OpenContext, link: Any) -> Any:
    from drivers.temperature.montana_cryostation import MontanaCryostation

    return MontanaCryostation(link, max_setpoint_K=ctx.inst.limits["max_setpoint_K"],
                              max_heater_power_W=ctx.options.get("max_heater_power_W", 1.0))


def _open(ctx: OpenContext) -> Any:
    return _driver(ctx, ctx.inst.resource)


def _open_simulated(ctx: OpenContext) -> Any:
    from sim_devices.instruments.montana_cryostation import InProcessStream

    return _driver(ctx, InProcessStream(ctx.twin))  # framed bytes, not text lines


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.montana_cryostation import SimMontanaCryostation
    from sim_devices.thermal import ThermalStage

    stage = ThermalStage.closed_cycle(world.clock)
    world.attach_thermal(stage)
    return SimMontanaCryostation(stage)


def _faults() -> dict[str, str]:
    from sim_devices.instruments.montana_cryostation import SimMontanaCryostation

    return SimMontanaCryostation.fault_names()


SPEC = DriverSpec(
    name="montana_cryostation", kinds=(CRYOSTAT,),
    description="Montana Instruments Cryostation, legacy remote protocol (TCP 7773)",
    options={"max_heater_power_W": OptionSpec(float, "cap on the platform heater power",
                                              positive=True)},
    open=_open, device=cryostat_device, resource=resources.host_port,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True, port=7773,
                  open=_open_simulated),
)
