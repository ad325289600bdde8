"""Open the driver for one configured role: real hardware, or its simulated twin.

The same driver class serves both; for `resource = "sim"` it gets an in-process adapter to the
twin on the shared simulated world instead of a VISA resource (the driver's spec says how, see
avlab/specs.py). A `Connection` remembers how it
was made, so the bench can open a fresh link to the same instrument (or the same twin) when
the first one broke — above all to switch a laser off after its link dropped mid-run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import InstrumentConfig
from .simulation import build_twin
from .specs import OpenContext


@dataclass
class Connection:
    """How one role was connected; `reopen()` makes a new driver over a new link."""

    inst: InstrumentConfig
    twin: Any  # the simulated twin for `sim` roles, else None
    driver: Any
    identity: str
    wait: Callable[[float], None] | None = None

    def reopen(self) -> Any:
        """A new driver on a new link to the same instrument (the old link is abandoned)."""
        self.driver = _open(self.inst, self.twin, self.wait)
        return self.driver


def connect_role(inst: InstrumentConfig, world: Any,
                 faults: tuple[tuple[str, str, float], ...] = (),
                 wait: Callable[[float], None] | None = None) -> Connection:
    """Connect a role; for `sim` roles its twin is built and placed in `world` first, with
    any faults the config schedules for it. `wait` is the bench's clock for drivers that
    sequence things in time (ramps, TEC settling), so a stop cuts those waits short."""
    twin = build_twin(inst, world, faults) if inst.simulated else None
    driver = _open(inst, twin, wait)
    try:
        _prepare(inst, driver)
    except BaseException:
        close_driver(driver)  # the role never reaches the bench, so nothing else would
        raise
    return Connection(inst, twin, driver, driver.identity, wait)


def close_driver(driver: Any) -> None:
    """Release a driver's link, whichever way it exposes it; never raises."""
    closer = getattr(driver, "close", None) or getattr(
        getattr(driver, "adapter", None), "close", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            closer()


def _open(inst: InstrumentConfig, twin: Any, wait: Callable[[float], None] | None = None) -> Any:
    return inst.driver_spec.open_driver(OpenContext(inst, twin, wait))


def _prepare(inst: InstrumentConfig, driver: Any) -> None:
    """Bring a freshly connected instrument into the state avlab assumes (its spec says how)."""
    prepare = inst.driver_spec.prepare
    if prepare is not None:
        prepare(inst, driver)
