"""Sample design: a preset with another concentration, core size or inert shell.

`apply_overrides(preset, {"concentration": 0.04, "shell_thickness_nm": 1.0})` returns a new
preset whose rates follow the laws the preset carries (docs/physics.md, "Concentration and
particle architecture"):

* a transfer or decay with a concentration law is re-evaluated at the new concentration;
* a cm³/s transfer coefficient follows by itself (k = K·N_acceptor);
* a rate in s⁻¹ **without** a law that depends on the changed species' concentration (a
  transfer whose acceptor is that species) is refused with a message naming the entry, because
  keeping its number would silently ignore the change;
* decays without a law are single-ion properties and stay;
* the surface quenching terms are recomputed for the new core diameter / shell thickness;
* the ion count follows core volume and concentration unless the preset pins it.

The same `name=value` strings serve `avlab model --set` and `avlab run --sample`
(`parse_assignment`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from .preset import Decay, Preset, Species, Transfer

#: Sample parameters `apply_overrides` understands (besides ``concentration.<Species>``).
SAMPLE_PARAMETERS: dict[str, str] = {
    "concentration": "dopant fraction of the RE sites of the main line's species (0.08 = 8 %)",
    "core_diameter_nm": "diameter of the doped core (nm)",
    "shell_thickness_nm": "inert shell thickness (nm)",
}
#: Short spellings accepted on the command line.
ALIASES: dict[str, str] = {"c": "concentration", "core": "core_diameter_nm",
                           "core_nm": "core_diameter_nm", "shell": "shell_thickness_nm",
                           "shell_nm": "shell_thickness_nm"}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)?")


class OverrideError(ValueError):
    """A sample override is malformed, unknown, or contradicts the preset's laws."""


def parse_assignment(text: str) -> tuple[str, float]:
    """``"concentration=0.04"`` → ("concentration", 0.04).

    The name is an identifier, optionally with one ``.suffix`` (``concentration.Yb``); the value
    a finite decimal number. Spaces around either side are ignored. Raises OverrideError.
    """
    if not isinstance(text, str) or "=" not in text:
        raise OverrideError(f"expected NAME=VALUE, got {text!r}")
    name, _, value_text = text.partition("=")
    name, value_text = name.strip(), value_text.strip()
    if not _NAME.fullmatch(name):
        raise OverrideError(f"{text!r}: {name!r} is not a parameter name")
    try:
        value = float(value_text)
    except ValueError:
        raise OverrideError(f"{text!r}: {value_text!r} is not a number") from None
    if not math.isfinite(value):
        raise OverrideError(f"{text!r}: the value must be finite")
    return name, value


def parse_assignments(texts: Iterable[str]) -> dict[str, float]:
    """Several ``NAME=VALUE`` strings → {name: value}; a name given twice is an error."""
    out: dict[str, float] = {}
    for text in texts:
        name, value = parse_assignment(text)
        if name in out:
            raise OverrideError(f"{name} is given twice")
        out[name] = value
    return out


def parse_series(text: str) -> tuple[str, np.ndarray]:
    """``"concentration=0.02:0.20:10"`` → (name, 10 values from 0.02 to 0.20, evenly spaced)."""
    if not isinstance(text, str) or "=" not in text:
        raise OverrideError(f"expected NAME=START:STOP:COUNT, got {text!r}")
    name, _, spec = text.partition("=")
    parts = spec.split(":")
    if len(parts) != 3:
        raise OverrideError(f"{text!r}: expected NAME=START:STOP:COUNT")
    _, start = parse_assignment(f"{name}={parts[0]}")
    _, stop = parse_assignment(f"{name}={parts[1]}")
    try:
        count = int(parts[2])
    except ValueError:
        raise OverrideError(f"{text!r}: COUNT {parts[2]!r} is not a whole number") from None
    if count < 2:
        raise OverrideError(f"{text!r}: COUNT must be at least 2")
    return name.strip(), np.linspace(start, stop, count)


#: Largest core diameter or shell thickness accepted (nm): far beyond any nanoparticle, and
#: small enough that the ion counts, which scale with the core volume, stay finite.
MAX_SIZE_NM = 10_000.0


def canonical_name(name: str) -> str:
    """The parameter a (possibly short) name stands for; ``concentration.X`` is kept."""
    return ALIASES.get(name, name)


def apply_overrides(preset: Preset, overrides: Mapping[str, float]) -> Preset:
    """A copy of `preset` with the sample parameters in `overrides` changed and every rate that
    depends on them recomputed by the preset's laws (see the module docstring).

    Names: ``concentration`` (the main line's species), ``concentration.<Species>``,
    ``core_diameter_nm``, ``shell_thickness_nm`` (short: ``c``, ``core``, ``shell``).
    Raises OverrideError naming the parameter or the preset entry that prevents the change.
    """
    if not overrides:
        return preset
    main_species = preset.line_named(preset.main_line).upper.species
    concentrations = {s.name: s.concentration for s in preset.species}
    core_nm, shell_nm = preset.particle_diameter_nm, preset.shell_thickness_nm
    labels = []
    for raw_name, value in overrides.items():
        name = canonical_name(raw_name)
        value = float(value)
        labels.append(f"{raw_name}={value:g}")
        if name == "concentration" or name.startswith("concentration."):
            species = main_species if name == "concentration" else name.split(".", 1)[1]
            if species not in concentrations:
                raise OverrideError(f"{raw_name}: preset {preset.name!r} has no species "
                                    f"{species!r} (species: {', '.join(concentrations)})")
            if not 0.0 < value <= 1.0:
                raise OverrideError(f"{raw_name} = {value:g}: a concentration is a fraction of "
                                    f"the RE sites in (0, 1] (8 % is 0.08)")
            concentrations[species] = value
        elif name == "core_diameter_nm":
            if not 0.0 < value <= MAX_SIZE_NM:
                raise OverrideError(f"{raw_name} = {value:g}: the core diameter must be in "
                                    f"(0, {MAX_SIZE_NM:g}] nm")
            core_nm = value
        elif name == "shell_thickness_nm":
            if not 0.0 <= value <= MAX_SIZE_NM:
                raise OverrideError(f"{raw_name} = {value:g}: the shell thickness must be in "
                                    f"[0, {MAX_SIZE_NM:g}] nm")
            shell_nm = value
        else:
            known = ", ".join([*SAMPLE_PARAMETERS, "concentration.<Species>"])
            raise OverrideError(f"unknown sample parameter {raw_name!r}; known: {known}")
    if sum(concentrations.values()) > 1.0 + 1e-12:
        raise OverrideError("the concentrations add up to more than 1 (fractions of the RE "
                            "sites)")
    changed = {name for name, c in concentrations.items()
               if c != preset.species_named(name).concentration}
    volume_ratio = (core_nm / preset.particle_diameter_nm) ** 3
    species = tuple(_species_at(s, concentrations[s.name], volume_ratio) for s in preset.species)
    transfers = tuple(_transfer_at(preset, t, concentrations, changed) for t in preset.transfers)
    decays = tuple(_decay_at(d, concentrations) for d in preset.decays if not d.surface)
    decays += tuple(d for d in (t.decay(core_nm, shell_nm) for t in preset.surface_terms)
                    if d is not None)
    return replace(preset, name=f"{preset.name} [{', '.join(labels)}]", species=species,
                   transfers=transfers, decays=decays, particle_diameter_nm=core_nm,
                   shell_thickness_nm=shell_nm)


def _species_at(species: Species, concentration: float, volume_ratio: float) -> Species:
    """The species at a new concentration in a core `volume_ratio` times larger: a given ion
    count scales with both unless it is pinned (`ions_fixed`)."""
    ions = species.ions_per_particle
    if ions is not None and not species.ions_fixed:
        ions = max(1, int(round(ions * concentration / species.concentration * volume_ratio)))
    return replace(species, concentration=concentration, ions_per_particle=ions)


def _transfer_at(preset: Preset, t: Transfer, concentrations: Mapping[str, float],
                 changed: set[str]) -> Transfer:
    if t.rate_per_s is None:  # K·N: the density follows the concentration by itself
        return t
    if t.law is not None:
        return replace(t, rate_per_s=t.law.rate_per_s(concentrations[t.law.species]))
    if t.acceptor_initial.species in changed:
        raise OverrideError(
            f"{preset.source_file or preset.name}: [[transfer]] {t.name!r} gives rate_per_s "
            f"without a concentration_law, so it cannot follow a new "
            f"{t.acceptor_initial.species} concentration; give the preset a law for it (or "
            f"concentration_law = \"fixed\" if the rate really does not change)")
    return t


def _decay_at(d: Decay, concentrations: Mapping[str, float]) -> Decay:
    if d.law is None:
        return d  # single-ion rate (radiative, multiphonon) or a stated constant
    return replace(d, rate_per_s=d.law.rate_per_s(concentrations[d.law.species]))

