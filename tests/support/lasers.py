"""Test helpers about the laser roles of a bench."""

from __future__ import annotations

from typing import Any


def record_emission_starts(laser: Any) -> list[float]:
    """The laser setpoint (W) each time emission is switched on from now on: a procedure
    must set its power before it switches a pump on, never start at what was left set."""
    starts: list[float] = []
    switch_on = laser.emission_on

    def recording(*args: Any, **kwargs: Any) -> Any:
        starts.append(float(laser.last_readings["power_setpoint_W"]))
        return switch_on(*args, **kwargs)

    laser.emission_on = recording
    return starts
