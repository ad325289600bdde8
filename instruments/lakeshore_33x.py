"""Lake Shore 335/336 temperature controller: driver drivers/temperature/lakeshore_33x.py,
twin sim_devices/instruments/lakeshore_33x.py on a closed-cycle thermal stage."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import cryostat_device
from avlab.roles import CRYOSTAT, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec


def _open(ctx: OpenContext) -> Any:
    from drivers.temperature.lakeshore_33x import LakeShore33x

    # The driver's own cap is the cut-off; the bench enforces the tighter max_setpoint_K.
    return LakeShore33x(ctx.link, max_setpoint_K=ctx.inst.limits["temperature_limit_K"])


def _prepare(inst: Any, driver: Any) -> None:
    driver.configure_safety_limit(inst.limits["temperature_limit_K"])


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.lakeshore_33x import SimLakeShore336
    from sim_devices.thermal import ThermalStage

    stage = ThermalStage.closed_cycle(world.clock)
    world.attach_thermal(stage)
    return SimLakeShore336(stage, model=inst.options.get("model", 336))


def _faults() -> dict[str, str]:
    from sim_devices.instruments.lakeshore_33x import SimLakeShore336

    return SimLakeShore336.fault_names()


SPEC = DriverSpec(
    name="lakeshore_33x", kinds=(CRYOSTAT,),
    description="Lake Shore 335/336 temperature controller (USB serial 57600 7O1, or TCP 7777 "
                "on the 336)",
    options={
        "control_output": OptionSpec(int, "heater output of the control loop (1 or 2)",
                                     positive=True),
        "control_input": OptionSpec(str, "sensor input the loop regulates ('A'-'D')"),
        "sample_input": OptionSpec(str, "sensor input on the sample ('A'-'D')"),
        "heater_range": OptionSpec(int, "heater range used for closed-loop control (1 low, 2 "
                                        "medium, 3 high)", positive=True),
        "model": OptionSpec(int, "335 or 336 (simulation only)", positive=True),
    },
    open=_open, prepare=_prepare, device=cryostat_device, resource=resources.visa,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True, port=7777),
)
