"""What the bench needs of any CW pump-laser driver, stated once.

The bench (`avlab.devices.PumpLaser`) drives a pump laser through these few members only, so
a fiber laser that takes a power setpoint (IPG YLR) and a diode on a current controller
(Thorlabs CLD/ITC, which maps power to current through the diode's calibration) can fill the
same role. A driver satisfies `CWLaser` structurally: it does not inherit from it, so drivers
stay plain pymeasure instruments that a lab can use in a script without avlab.

`isinstance(driver, CWLaser)` works and never talks to the instrument: Python 3.11's runtime
protocols test members with `hasattr`, which would *evaluate* properties such as
`emission_ready` — queries sent to a laser just to check a type. The check here looks the
members up statically instead (as Python ≥ 3.12 does).
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable


class _StaticMemberCheck(type(Protocol)):  # type: ignore[misc]
    """isinstance() that finds protocol members without evaluating them (no instrument I/O)."""

    def __instancecheck__(cls, instance: object) -> bool:
        return not missing_members(instance, cls)


@runtime_checkable
class CWLaser(Protocol, metaclass=_StaticMemberCheck):
    """A continuous-wave pump laser as the bench drives it.

    Units are in the names: the bench's safety limits are in W, and nothing in between
    converts them.
    """

    #: Highest power the driver will accept as a setpoint, in W. The bench's configured limit
    #: must not exceed it; drivers reject (never clamp) anything above.
    max_power_W: float

    @property
    def power_setpoint_W(self) -> float:
        """Output-power setpoint in W.

        Setting it outside [0, max_power_W] raises ValueError before anything is sent; a
        setpoint the laser does not take raises an InstrumentError. The bench sets power, not
        current, so every laser can be swept in the same physical unit.
        """

    @power_setpoint_W.setter
    def power_setpoint_W(self, power_W: float) -> None: ...

    def enable_emission(self) -> None:
        """Switch emission on after the driver's own safety checks (interlock, key, faults,
        temperature control), raising LaserInterlockError / LaserFaultError instead of sending
        when one fails. The bench then waits for `emission_ready`."""

    def disable_emission(self) -> None:
        """Switch emission off at once. Always allowed and never refused by the driver's
        checks: this is what shutdown and abort call."""

    @property
    def emission_enabled(self) -> bool:
        """Emission is switched on (it may still be starting up). The bench reports it and
        uses it to decide what shutdown must undo."""

    @property
    def emission_ready(self) -> bool:
        """Emission is on *and* settled at the setpoint, so a measurement may start. Lasers
        need time after switch-on (start-up phase, current ramp); measuring before this is
        True records the transient instead of the set power."""

    @property
    def identity(self) -> str:
        """Model, serial number and firmware, written into every data file so a run can be
        traced to the instrument that produced it."""


def protocol_members(protocol: type) -> tuple[str, ...]:
    """Public members a protocol declares: annotated attributes, methods and properties."""
    names = list(getattr(protocol, "__annotations__", {}))
    names += [name for name in vars(protocol) if not name.startswith("_") and name not in names]
    return tuple(names)


def missing_members(obj: object, protocol: type) -> list[str]:
    """Members of `protocol` that `obj` lacks, found without evaluating any of them.

    Useful for an error message that says what a driver is missing; an empty list means
    `isinstance(obj, protocol)` is True.
    """
    missing = []
    for name in protocol_members(protocol):
        try:
            inspect.getattr_static(obj, name)
        except AttributeError:
            missing.append(name)
    return missing
