"""ANP rate-equation physics of the simulated sample (guide: docs/physics.md).

* presets (`PRESETS`, `load_preset`) — species, levels, processes, lines; TOML files;
* `compile_model` — the rate equations of a preset at a temperature, with analytic Jacobian;
* `steady_state_curve`, `emission_table` — steady state and exact slope S(I) vs intensity;
* `ParticleDynamics`, `rise_curve`, `rise_half_time_s`, `decay_curve` — populations in time.

Importing this package parses the shipped TOML presets only: scipy is imported lazily, where a
time integration or an eigenvalue problem needs it.
"""

from .dynamics import ParticleDynamics, decay_curve, rise_curve, rise_half_time_s
from .loader import PresetError, load_preset
from .model import RateModel, compile_model
from .preset import Preset
from .registry import DEFAULT_PRESET, PRESETS, get_preset
from .steady import SteadyStateCurve, SteadyStateError, steady_state_curve
from .table import EmissionTable, emission_table
from .tm3 import Tm3Preset

__all__ = [
    "DEFAULT_PRESET", "EmissionTable", "PRESETS", "ParticleDynamics", "Preset", "PresetError",
    "RateModel", "SteadyStateCurve", "SteadyStateError", "Tm3Preset", "compile_model",
    "decay_curve", "emission_table", "get_preset", "load_preset", "rise_curve",
    "rise_half_time_s", "steady_state_curve",
]
