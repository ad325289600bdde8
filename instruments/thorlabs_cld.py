"""Thorlabs CLD101x / ITC400x laser-diode + TEC controller: driver
drivers/lasers/thorlabs_cld.py, twin sim_devices/instruments/thorlabs_cld.py."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import laser_device
from avlab.roles import LASER, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec

from ._shared import check_rated_power

_DRIVER_KEYS = ("threshold_current_A", "slope_efficiency_W_A", "max_current_A", "max_power_W",
                "max_step_A", "step_dwell_s")


def _open(ctx: OpenContext) -> Any:
    from drivers.lasers.thorlabs_cld import ThorlabsCLD

    return ThorlabsCLD(ctx.link, wait=ctx.wait,
                       **{k: ctx.options[k] for k in _DRIVER_KEYS if k in ctx.options})


def _prepare(inst: Any, driver: Any) -> None:
    driver.disable_emission()  # a session starts dark
    driver.start_tec(inst.options.get("tec_setpoint_C"))  # TEC on and settled; LD off


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.thorlabs_cld import SimThorlabsCLD

    opts = inst.options
    limit_A = opts.get("current_limit_A") or opts.get("max_current_A") or 1.0
    twin = SimThorlabsCLD(
        world.clock, wavelength_nm=float(inst.wavelength_nm),
        threshold_current_A=opts["threshold_current_A"],
        slope_efficiency_W_A=opts["slope_efficiency_W_A"],
        current_limit_A=limit_A, max_current_A=max(1.5, limit_A),  # 1.5 A: CLD1015 maximum
        seed=int(world.rng.integers(2**32)))
    world.attach_source(inst.role, twin)
    return twin


def _faults() -> dict[str, str]:
    from sim_devices.instruments.thorlabs_cld import SimThorlabsCLD

    return SimThorlabsCLD.fault_names()


SPEC = DriverSpec(
    name="thorlabs_cld", kinds=(LASER,),
    description="Thorlabs CLD101x / ITC4001 / ITC4002 laser-diode + TEC controller (USBTMC)",
    options={
        "threshold_current_A": OptionSpec(float, "diode lasing threshold at the TEC setpoint",
                                          positive=True, required=True),
        "slope_efficiency_W_A": OptionSpec(float, "diode slope efficiency above threshold",
                                           positive=True, required=True),
        "tec_setpoint_C": OptionSpec(float, "TEC setpoint, reached (and held 3 s) when the "
                                            "bench connects, before any emission"),
        "max_current_A": OptionSpec(float, "the diode's absolute maximum current (caps the "
                                           "controller's current limit)", positive=True),
        "max_power_W": OptionSpec(float, "highest power setpoint (default: calibrated power "
                                         "at the current limit)", positive=True),
        "max_step_A": OptionSpec(float, "largest current step when ramping", positive=True),
        "step_dwell_s": OptionSpec(float, "time held after each ramp step", positive=True),
        "current_limit_A": OptionSpec(float, "current limit of the simulated controller "
                                             "(simulation only)", positive=True),
    },
    open=_open, prepare=_prepare, device=laser_device, resource=resources.visa,
    check=check_rated_power,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True),
)
