"""Open the driver for one configured role: real hardware, or its simulated twin.

The same driver class serves both; for `resource = "sim"` it gets an in-process adapter to the
twin on the shared simulated world instead of a VISA resource.
"""

from __future__ import annotations

from typing import Any

from .config import InstrumentConfig


def connect_driver(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    """Return (driver, identity string) for a role."""
    connect = _CONNECTORS[inst.driver]
    return connect(inst, world)


def _ipg_ylr(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    from drivers.lasers.ipg_ylr import IPGYLR

    max_power_W = inst.options.get("max_power_W")
    if inst.simulated:
        from sim_devices.instruments.ipg_ylr import SimIPGYLR
        from sim_devices.transport import InProcessAdapter

        twin = SimIPGYLR(world.clock, wavelength_nm=float(inst.spec.wavelength_nm),
                         max_power_W=max_power_W or 5.0)
        world.attach_source(inst.role, twin)
        driver = IPGYLR(InProcessAdapter(twin), max_power_W=max_power_W)
    else:
        driver = IPGYLR(inst.resource, max_power_W=max_power_W)
    # Whatever state the laser was left in, a new session starts dark.
    driver.disable_emission()
    return driver, driver.identity


def _thorlabs_pm100(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100

    if inst.simulated:
        from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
        from sim_devices.transport import InProcessAdapter

        driver = ThorlabsPM100(InProcessAdapter(SimThorlabsPM100(world)))
    else:
        driver = ThorlabsPM100(inst.resource)
    driver.power_unit = "W"  # the front panel may have left it in dBm
    if "averaging_count" in inst.options:
        driver.averaging_count = inst.options["averaging_count"]
    return driver, driver.identity


def _nidaq_counter(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    if inst.simulated:
        from sim_devices.instruments.photon_counter import SimPhotonCounter

        driver = SimPhotonCounter(
            world,
            dark_count_rate_cps=inst.options.get("dark_count_rate_cps", 25.0),
            dead_time_s=inst.options.get("dead_time_ns", 22.0) * 1e-9,
        )
    else:
        from drivers.counters.nidaq import NIDAQPhotonCounter

        driver = NIDAQPhotonCounter(
            inst.resource,
            input_terminal=inst.options.get("input_terminal", "PFI8"),
            gate_counter=inst.options.get("gate_counter", "Dev1/ctr1"),
        )
    return driver, driver.identity


_CONNECTORS = {
    "ipg_ylr": _ipg_ylr,
    "thorlabs_pm100": _thorlabs_pm100,
    "nidaq_counter": _nidaq_counter,
}
