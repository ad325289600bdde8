"""avlab's declaration of the ACME PM-1: registered through the `avlab.drivers` entry point."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import power_meter_device
from avlab.roles import LASER, POWER_METER, OptionSpec
from avlab.specs import ConfigProblem, DriverSpec, OpenContext, TwinSpec


def _open(ctx: OpenContext) -> Any:
    from .driver import AcmePowerMeter

    return AcmePowerMeter(ctx.link)


def _prepare(inst: Any, driver: Any) -> None:
    driver.averaging_count = inst.options.get("averages", 10)


def _check(inst: Any, roles: dict) -> None:
    low, high = inst.options["range_nm"]
    for role, other in roles.items():
        if other.kind == LASER and not low <= other.wavelength_nm <= high:
            raise ConfigProblem("range_nm", f"laser {role!r} at {other.wavelength_nm:g} nm is "
                                            f"outside {low:g}-{high:g} nm")


def _twin(inst: Any, world: Any) -> Any:
    from .twin import SimAcmePowerMeter

    low, high = inst.options["range_nm"]
    return SimAcmePowerMeter(world, min_wavelength_nm=low, max_wavelength_nm=high)


def _faults() -> dict[str, str]:
    from .twin import SimAcmePowerMeter

    return SimAcmePowerMeter.fault_names()


SPEC = DriverSpec(
    name="acme_pm", kinds=(POWER_METER,), description="ACME PM-1 power meter (test plugin)",
    options={
        "averages": OptionSpec(int, "samples per reading", positive=True),
        "range_nm": OptionSpec(float, "sensor range [low, high] nm", positive=True,
                               pair_only=True, default=[400.0, 1700.0]),
    },
    open=_open, prepare=_prepare, device=power_meter_device, check=_check,
    resource=resources.visa,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True),
)
