"""Emission spectra versus pump power: `procedure.py` measures and derives band slopes,
`plot.py` draws the PNG. Registered as `avlab.procedures: spectrum` in pyproject.toml."""

from typing import Any

__all__ = ["Spectrum"]


def __getattr__(name: str) -> Any:
    if name == "Spectrum":
        from .procedure import Spectrum

        return Spectrum
    raise AttributeError(name)
