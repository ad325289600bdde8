"""Avalanche thermometry: `procedure.py` builds a calibration from a temperature series and
reads a temperature with its uncertainty; `plot.py` draws the calibration curve. Registered as
`avlab.procedures: thermometry` in pyproject.toml."""

from typing import Any

__all__ = ["Thermometry"]


def __getattr__(name: str) -> Any:
    if name == "Thermometry":
        from .procedure import Thermometry

        return Thermometry
    raise AttributeError(name)
