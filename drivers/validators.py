"""Validators that reject bad values instead of clamping them: for pymeasure properties, and
the number checks drivers make before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence

from instrument_data.numbers import finite_real, integer, is_finite_real, is_integer, is_real

__all__ = ["finite_real", "integer", "is_finite_real", "is_integer", "is_real",
           "strict_choice_ignore_case", "strict_integer_range"]


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
