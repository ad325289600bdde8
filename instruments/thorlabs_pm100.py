"""Thorlabs PM100D / PM100USB / PM101 power meter: driver
drivers/powermeters/thorlabs_pm100.py, twin sim_devices/instruments/thorlabs_pm100.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from avlab import resources
from avlab.devices import power_meter_device
from avlab.roles import LASER, POWER_METER, OptionSpec
from avlab.specs import ConfigProblem, DriverSpec, OpenContext, TwinSpec

#: The sensor an S120C-class silicon photodiode covers; the default when the config names none.
SILICON_RANGE_NM = (400.0, 1100.0)


def _open(ctx: OpenContext) -> Any:
    from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100

    return ThorlabsPM100(ctx.link)


def _prepare(inst: Any, driver: Any) -> None:
    driver.power_unit = "W"  # the front panel may have left it in dBm
    if "averaging_count" in inst.options:
        driver.averaging_count = inst.options["averaging_count"]


def _check(inst: Any, roles: Mapping[str, Any]) -> None:
    """Every laser of the config must lie in the sensor's wavelength range: the meter refuses
    a wavelength correction outside it, and a reading at the wrong correction is wrong."""
    low, high = inst.options["sensor_range_nm"]
    if not 0 < low < high:
        raise ConfigProblem("sensor_range_nm", f"need 0 < low < high, got [{low:g}, {high:g}]")
    for role, other in roles.items():
        if other.kind == LASER and not low <= other.wavelength_nm <= high:
            raise ConfigProblem(
                "sensor_range_nm",
                f"the sensor covers {low:g}-{high:g} nm, but laser {role!r} emits at "
                f"{other.wavelength_nm:g} nm; use a sensor that covers it (e.g. an InGaAs "
                f"photodiode: sensor_range_nm = [800, 1700]) and set sensor_range_nm to its "
                "range")


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100

    low, high = inst.options["sensor_range_nm"]
    return SimThorlabsPM100(world, min_wavelength_nm=low, max_wavelength_nm=high,
                            sensor="S122C" if high > SILICON_RANGE_NM[1] else "S120C")


def _faults() -> dict[str, str]:
    from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100

    return SimThorlabsPM100.fault_names()


SPEC = DriverSpec(
    name="thorlabs_pm100", kinds=(POWER_METER,),
    description="Thorlabs PM100D/PM100USB/PM101 power meter (USBTMC)",
    options={
        "averaging_count": OptionSpec(int, "samples averaged per reading (1 kHz base)",
                                      positive=True),
        "sensor_range_nm": OptionSpec(float, "wavelength range of the sensor head, [low, "
                                             "high] in nm (default: a silicon S120C, 400-1100; "
                                             "an InGaAs S122C covers 800-1700)",
                                      positive=True, pair_only=True,
                                      default=list(SILICON_RANGE_NM)),
    },
    open=_open, prepare=_prepare, device=power_meter_device, resource=resources.visa,
    check=_check,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True),
)
