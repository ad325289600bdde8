"""IPG Photonics YLR CW fiber laser: driver drivers/lasers/ipg_ylr.py, twin
sim_devices/instruments/ipg_ylr.py."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import laser_device
from avlab.roles import LASER, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec

from ._shared import check_rated_power


def _open(ctx: OpenContext) -> Any:
    from drivers.lasers.ipg_ylr import IPGYLR

    return IPGYLR(ctx.link, max_power_W=ctx.options.get("max_power_W"))


def _prepare(inst: Any, driver: Any) -> None:
    driver.disable_emission()  # whatever state it was left in, a session starts dark


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.ipg_ylr import SimIPGYLR

    twin = SimIPGYLR(world.clock, wavelength_nm=float(inst.wavelength_nm),
                     max_power_W=inst.options.get("max_power_W") or 5.0)
    world.attach_source(inst.role, twin)
    return twin


def _faults() -> dict[str, str]:
    from sim_devices.instruments.ipg_ylr import SimIPGYLR

    return SimIPGYLR.fault_names()


SPEC = DriverSpec(
    name="ipg_ylr", kinds=(LASER,),
    description="IPG Photonics YLR CW fiber laser (RS-232 57600 or TCP 10001)",
    options={"max_power_W": OptionSpec(float, "rated output power; read from the model name "
                                              "if omitted", positive=True)},
    open=_open, prepare=_prepare, device=laser_device, resource=resources.visa,
    check=check_rated_power,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True, port=10001),
)
