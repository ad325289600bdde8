"""Validators that reject bad values instead of clamping them: for pymeasure properties, and
the number checks drivers make before anything is sent."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
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


def strict_integer_range(value: float, values: Sequence[int]) -> int:
    """Accept a whole number within [values[0], values[1]]; raise ValueError otherwise."""
    low, high = values
    if float(value) != int(value) or not low <= int(value) <= high:
        raise ValueError(f"{value!r} is not a whole number in [{low}, {high}]")
    return int(value)


def strict_choice_ignore_case(value: str, values: Sequence[str]) -> str:
    """Accept one of `values` in any letter case; return it in the spelling of `values`."""
    for choice in values:
        if str(value).upper() == choice.upper():
            return choice
    raise ValueError(f"{value!r} is not one of {', '.join(values)}")
