"""S-curve: single-particle emission versus pump intensity, with its analysis, plot and model fit.

`procedure.py` measures, `analysis.py` and `report.py` derive S, thresholds and gains,
`plot.py` draws the PNG, `model_fit.py` fits a rate-equation preset (`avlab fit`,
`fit_command.py`). Registered as `avlab.procedures: scurve` in pyproject.toml.

`SCurve` is imported on first use, so loading the light `fit_command` module for
`avlab --help` does not pull in numpy and the bench.
"""

from typing import Any

__all__ = ["SCurve"]


def __getattr__(name: str) -> Any:
    if name == "SCurve":
        from .procedure import SCurve

        return SCurve
    raise AttributeError(name)
