"""ANP rate-equation physics of the simulated sample."""

from .table import EmissionTable, emission_table
from .tm3 import PRESETS, SteadyStateCurve, Tm3Preset, steady_state_curve

__all__ = ["EmissionTable", "PRESETS", "SteadyStateCurve", "Tm3Preset", "emission_table",
           "steady_state_curve"]
