"""ANP rate-equation physics of the simulated sample (guide: docs/physics.md).

* presets (`PRESETS`, `load_preset`) — species, levels, processes, lines; TOML files;
* `compile_model` — the rate equations of a preset at a temperature, with analytic Jacobian;
* `steady_state_curve`, `emission_table` — steady state and exact slope S(I) vs intensity;
* `ParticleDynamics`, `rise_curve`, `rise_half_time_s`, `decay_curve` — populations in time;
* `line_spectrum`, `emission_spectrum` — emission lines from populations, widths vs temperature;
* `ParticleEnsemble`, `FilmResponse` — particle-to-particle spread and Gaussian-beam films.

Importing this package parses the shipped TOML presets only: scipy is imported lazily, where a
time integration or an eigenvalue problem needs it.
"""

from .dynamics import ParticleDynamics, decay_curve, rise_curve, rise_half_time_s
from .ensemble import FilmResponse, ParticleEnsemble, film_response
from .loader import PresetError, load_preset
from .model import RateModel, compile_model
from .preset import Preset
from .registry import DEFAULT_PRESET, PRESETS, get_preset
from .spectra import Spectrum, emission_spectrum, line_intensities, line_spectrum
from .steady import SteadyStateCurve, SteadyStateError, steady_state_curve
from .table import EmissionTable, emission_table
from .tm3 import Tm3Preset

__all__ = [
    "DEFAULT_PRESET", "EmissionTable", "FilmResponse", "PRESETS", "ParticleEnsemble",
    "Spectrum", "emission_spectrum", "film_response", "line_intensities", "line_spectrum", "ParticleDynamics", "Preset", "PresetError",
    "RateModel", "SteadyStateCurve", "SteadyStateError", "Tm3Preset", "compile_model",
    "decay_curve", "emission_table", "get_preset", "load_preset", "rise_curve",
    "rise_half_time_s", "steady_state_curve",
]
