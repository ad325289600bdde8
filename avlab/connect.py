"""Open the driver for one configured role: real hardware, or its simulated twin.

The same driver class serves both; for `resource = "sim"` it gets an in-process adapter to the
twin on the shared simulated world instead of a VISA resource.
"""

from __future__ import annotations

from typing import Any

from .config import InstrumentConfig
from .simulation import build_twin


def _transport(inst: InstrumentConfig, world: Any) -> Any:
    """What a message-based driver is built on: the resource string, or for `sim` an
    in-process adapter to the role's twin."""
    if not inst.simulated:
        return inst.resource
    from sim_devices.transport import InProcessAdapter

    return InProcessAdapter(build_twin(inst, world))


def connect_driver(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    """Return (driver, identity string) for a role."""
    connect = _CONNECTORS[inst.driver]
    return connect(inst, world)


def _ipg_ylr(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    from drivers.lasers.ipg_ylr import IPGYLR

    max_power_W = inst.options.get("max_power_W")
    driver = IPGYLR(_transport(inst, world), max_power_W=max_power_W)
    # Whatever state the laser was left in, a new session starts dark.
    driver.disable_emission()
    return driver, driver.identity


def _thorlabs_pm100(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100

    driver = ThorlabsPM100(_transport(inst, world))
    driver.power_unit = "W"  # the front panel may have left it in dBm
    if "averaging_count" in inst.options:
        driver.averaging_count = inst.options["averaging_count"]
    return driver, driver.identity


def _nidaq_counter(inst: InstrumentConfig, world: Any) -> tuple[Any, str]:
    if inst.simulated:
        driver = build_twin(inst, world)  # SDK-level: the twin is the driver object
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
