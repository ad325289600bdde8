"""Series: any procedure repeated over a setting (temperature, an inner parameter, a beam
position), every inner run stored as a full run of its own in the series file.

`procedure.py` runs and analyses the series, `plot.py` draws its PNG. Registered as
`avlab.procedures: series` in pyproject.toml. `Series` is imported on first use.
"""

from typing import Any

__all__ = ["Series"]


def __getattr__(name: str) -> Any:
    if name == "Series":
        from .procedure import Series

        return Series
    raise AttributeError(name)
