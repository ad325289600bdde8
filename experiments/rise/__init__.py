"""Rise times per pump power (critical slowing down), and the S-curve + rise-time run.

`procedure.py` measures (`Rise`, `avlab run rise`), `combined.py` runs an S-curve and then
the rise times (`ScurveRise`, `avlab run scurve_rise`),
`analysis.py` derives t½, t10–90, the decay lifetime and the t½ peak, `report.py` reads a run
back for it, `plot.py` draws the PNG. Registered under `avlab.procedures` in pyproject.toml.
Classes are imported on first use so listing procedures stays light.
"""

from typing import Any

__all__ = ["Rise", "ScurveRise"]


def __getattr__(name: str) -> Any:
    if name == "Rise":
        from .procedure import Rise

        return Rise
    if name == "ScurveRise":
        from .combined import ScurveRise

        return ScurveRise
    raise AttributeError(name)
