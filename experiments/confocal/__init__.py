"""Confocal imaging of single ANPs, and the best-resolution workflow.

`procedure.py` scans one field or a power series (`Confocal`, `avlab run confocal`),
`best.py` takes a coarse image, picks a particle, measures its S-curve and rise time and
images it at the intensity of maximal S (`ConfocalBest`, `avlab run confocal_best`),
`scan.py` the field and the line-by-line scan (the pump's intensity is avlab.pump.Pump),
`analysis.py` the spot analysis and the
comparison with λ/(2·NA·√S), `plot.py` the PNG. Classes are imported on first use so listing
procedures stays light.
"""

from typing import Any

__all__ = ["Confocal", "ConfocalBest"]


def __getattr__(name: str) -> Any:
    if name == "Confocal":
        from .procedure import Confocal

        return Confocal
    if name == "ConfocalBest":
        from .best import ConfocalBest

        return ConfocalBest
    raise AttributeError(name)
