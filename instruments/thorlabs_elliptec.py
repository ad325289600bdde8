"""Thorlabs Elliptec ELL14 rotation mount behind a half-wave plate and a polarizer: driver
drivers/attenuators/thorlabs_elliptec.py, twin sim_devices/instruments/thorlabs_elliptec.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from avlab import resources
from avlab.devices import half_wave_plate_device
from avlab.roles import ATTENUATOR, OptionSpec
from avlab.specs import ConfigProblem, DriverSpec, OpenContext, TwinSpec


def _open(ctx: OpenContext) -> Any:
    from drivers.attenuators.thorlabs_elliptec import ThorlabsElliptec

    return ThorlabsElliptec(ctx.link, address=ctx.options.get("address", "0"),
                            position_tolerance_deg=ctx.options.get("position_tolerance_deg",
                                                                   0.5))


def _prepare(inst: Any, driver: Any) -> None:
    driver.status  # reading the status clears an error latched before we connected


def _check(inst: Any, roles: Mapping[str, Any]) -> None:
    """The calibration must be possible, and the transmission limits (default 2·t_min …
    t_max: below 2·t_min, angle error and drift dominate) must lie inside it."""
    t_min, t_max = inst.options["t_min"], inst.options["t_max"]
    if not t_min < t_max <= 1.0:
        raise ConfigProblem("t_max", f"impossible calibration: need t_min < t_max <= 1, got "
                                     f"t_min {t_min:g}, t_max {t_max:g}")
    low = inst.limits.setdefault("min_transmission", 2.0 * t_min)
    high = inst.limits.setdefault("max_transmission", t_max)
    if not t_min <= low < high <= t_max:
        raise ConfigProblem("limits", f"impossible limits: need t_min <= min_transmission < "
                                      f"max_transmission <= t_max, got {low:g} … {high:g} with "
                                      f"calibration {t_min:g} … {t_max:g}")


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.thorlabs_elliptec import SimThorlabsElliptec

    opts = inst.options
    twin = SimThorlabsElliptec(world.clock, address=opts.get("address", "0"),
                               theta0_deg=opts["theta0_deg"], t_max=opts["t_max"],
                               t_min=opts["t_min"],
                               design_wavelength_nm=opts.get("design_wavelength_nm"))
    world.add_to_beam_path(twin)
    return twin


def _faults() -> dict[str, str]:
    from sim_devices.instruments.thorlabs_elliptec import SimThorlabsElliptec

    return SimThorlabsElliptec.fault_names()


SPEC = DriverSpec(
    name="thorlabs_elliptec", kinds=(ATTENUATOR,),
    description="Thorlabs Elliptec ELL14 rotation mount (serial 9600 8N1, multidrop address "
                "0-F)",
    options={
        "address": OptionSpec(str, "bus address of the mount, '0'-'F'"),
        "theta0_deg": OptionSpec(float, "mount angle of maximum transmission", required=True),
        "t_max": OptionSpec(float, "transmission at theta0 (calibrated)", positive=True,
                            required=True),
        "t_min": OptionSpec(float, "transmission at extinction (calibrated)", positive=True,
                            required=True),
        "position_tolerance_deg": OptionSpec(float, "largest accepted move error",
                                             positive=True),
        "design_wavelength_nm": OptionSpec(float, "wave-plate design wavelength (simulation "
                                                  "only)", positive=True),
    },
    open=_open, prepare=_prepare, device=half_wave_plate_device, resource=resources.visa,
    check=_check,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True),
)
