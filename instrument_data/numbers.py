"""Number checks shared by drivers, twins and the data types: they reject bad values (bools,
NaN, fractions where an integer is meant) instead of coercing them."""

from __future__ import annotations

import math
import numbers
from typing import Any


def is_real(value: Any) -> bool:
    """A real number (int, float, numpy scalar, ...) and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_real(value: Any) -> bool:
    """A real number, not a bool, and neither NaN nor infinite."""
    return is_real(value) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """An integral number (int, numpy integer, ...) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def finite_real(value: Any, name: str) -> float:
    """`value` as a float; ValueError "<name> must be a finite number" unless `is_finite_real`."""
    if not is_finite_real(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def integer(value: Any, name: str) -> int:
    """`value` as an int; ValueError "<name> must be an integer" unless `is_integer`."""
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)
