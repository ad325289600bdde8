"""Pieces several instrument declarations share (not a driver: no SPEC here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from avlab.roles import DEAD_TIME_DOC, DEFAULT_DEAD_TIME_NS, OptionSpec
from avlab.specs import ConfigProblem

DEAD_TIME_OPTION = OptionSpec(float, DEAD_TIME_DOC, positive=True, default=DEFAULT_DEAD_TIME_NS)


def check_rated_power(inst: Any, roles: Mapping[str, Any]) -> None:
    """A laser's power limit cannot exceed its rated power (option max_power_W)."""
    rated = inst.options.get("max_power_W")
    limit = inst.limits.get("max_power_W")
    if rated is not None and limit is not None and limit > rated:
        raise ConfigProblem("limits.max_power_W",
                            f"impossible limit {limit:g} W: the laser's rated power is "
                            f"{rated:g} W")
