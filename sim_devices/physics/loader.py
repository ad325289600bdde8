"""Read a sample preset from a TOML file, checking it as strictly as a lab config.

A preset is physics a user may type by hand, so every mistake should stop the load with a message
naming the file and the entry (``[[transfer]] #2 'CR'``): an unknown level, a negative rate, a
radiative branching summing to more than 1, a quantity in units the schema does not use, a
missing field. The schema is documented in docs/physics.md; the shipped presets in
``presets/*.toml`` are worked examples.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .constants import NAYF4_PHONON_ENERGY_CM1, NAYF4_SITE_DENSITY_CM3, ROOM_TEMPERATURE_K
from .preset import (
    CONCENTRATION_LAW_KINDS,
    ConcentrationLaw,
    DEFAULT_LINE_FWHM_NM,
    DEFAULT_LINE_WIDTH_ENERGY_CM1,
    DEFAULT_LOW_T_NARROWING,
    Decay,
    DerivedLine,
    EmissionLine,
    Level,
    LevelRef,
    LevelSyntaxError,
    Preset,
    PumpTransition,
    Species,
    SurfaceQuenchingTerm,
    Transfer,
    parse_level,
    parse_level_arrow,
)

SCHEMA_VERSION = 1
#: No 4f–4f cross-section comes near this (cm²); a larger value is almost surely in wrong units.
MAX_PLAUSIBLE_CROSS_SECTION_CM2 = 1e-16
BRANCHING_TOLERANCE = 1e-9
#: An explicit ions_per_particle may differ this much (fraction) from the core-volume estimate;
#: more means the file was edited (concentration, core) without the count.
ION_COUNT_TOLERANCE = 0.10

_TOP_KEYS = {
    "schema_version", "name", "description", "pump_wavelength_nm", "main_line", "references",
    "site_density_cm3", "particle_diameter_nm", "temperature", "species", "absorption",
    "stimulated_emission", "radiative", "multiphonon", "quenching", "transfer", "line",
    "derived_line", "shell_thickness_nm", "surface_quenching",
}
#: Optional keys of an entry whose rate may follow the concentration (see _read_law).
_LAW_KEYS = {"reference_concentration", "concentration_law"}
_ENTRY_KEYS = {
    "species": ({"name", "concentration", "levels"},
                {"ions_per_particle", "ions_per_particle_fixed", "source"}),
    "absorption": ({"name", "from", "to", "cross_section_cm2"},
                   {"mismatch_cm1", "hot_band_cm1", "hot_band_ratio", "source"}),
    "stimulated_emission": ({"name", "from", "to", "cross_section_cm2"},
                            {"mismatch_cm1", "source"}),
    "radiative": ({"level", "rate_per_s", "branching"}, {"source"}),
    "multiphonon": ({"level", "to", "rate_per_s"}, {"gap_cm1", "source"} | _LAW_KEYS),
    "quenching": ({"level", "to", "rate_per_s"}, {"source"} | _LAW_KEYS),
    "surface_quenching": ({"level", "to", "unit_rate_per_s", "bare_factor", "depth_nm"},
                          {"source"}),
    "transfer": ({"name", "donor", "acceptor"},
                 {"rate_per_s", "coefficient_cm3_per_s", "mismatch_cm1", "kind", "source"}
                 | _LAW_KEYS),
    "line": ({"name", "transition", "wavelength_nm"},
             {"share", "source", "fwhm_nm", "fwhm_low_T_nm"}),
    "derived_line": ({"name", "kind", "from", "wavelength_nm"},
                     {"label", "cross_section_cm2", "photon_yield", "mismatch_cm1", "rate_per_s",
                      "gap_cm1", "fwhm_nm", "fwhm_low_T_nm", "source"}),
}
#: Fields each kind of [[derived_line]] needs; the other kind's fields are rejected.
_DERIVED_KIND_KEYS = {
    "pumped": ({"cross_section_cm2", "photon_yield"}, {"mismatch_cm1"}),
    "thermal": ({"rate_per_s", "gap_cm1"}, set()),
}
#: Unit hints for keys that look like a quantity in the wrong unit.
_UNIT_HINTS = {
    "cross_section": "cross-sections are given in cm² as 'cross_section_cm2'",
    "rate": "rates are given in s⁻¹ as 'rate_per_s' (or, for transfers, "
            "'coefficient_cm3_per_s' in cm³/s)",
    "coefficient": "transfer coefficients are given in cm³/s as 'coefficient_cm3_per_s'",
    "energy": "energies are given in cm⁻¹ as 'energy_cm1'",
    "gap": "gaps are given in cm⁻¹ as 'gap_cm1'",
    "mismatch": "mismatch energies are given in cm⁻¹ as 'mismatch_cm1'",
    "wavelength": "wavelengths are given in nm as 'wavelength_nm'",
    "pump_wavelength": "the pump wavelength is given in nm as 'pump_wavelength_nm'",
    "site_density": "the site density is given in cm⁻³ as 'site_density_cm3'",
    "phonon_energy": "the phonon energy is given in cm⁻¹ as 'phonon_energy_cm1'",
    "reference": "the reference temperature is given in K as 'reference_K'",
    "particle_diameter": "the particle diameter is given in nm as 'particle_diameter_nm'",
    "core_diameter": "the doped core's diameter is given in nm as 'particle_diameter_nm'",
    "shell": "the inert shell is given in nm as 'shell_thickness_nm'",
    "depth": "the quenching depth is given in nm as 'depth_nm'",
    "fwhm": "line widths are given in nm as 'fwhm_nm' (reference temperature) and "
            "'fwhm_low_T_nm' (T -> 0)",
    "line_width_energy": "the line-width energy is given in cm⁻¹ as 'line_width_energy_cm1'",
}
_TRANSFER_KINDS = {"", "cross-relaxation", "upconversion", "migration", "back-transfer",
                   "energy-transfer"}


class PresetError(ValueError):
    """A preset file is invalid; the message names the file and the offending entry."""


class _Reader:
    """Validation helpers that know the file name for error messages."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, message: str) -> PresetError:
        return PresetError(f"{self.origin}: {where}: {message}")

    def keys(self, table: Mapping[str, Any], where: str, required: set[str],
             optional: set[str]) -> None:
        for key in table:
            if key not in required and key not in optional:
                hint = _unit_hint(key)
                allowed = ", ".join(sorted(required | optional))
                raise self.fail(where, f"unknown field {key!r}"
                                + (f" ({hint})" if hint else f"; allowed: {allowed}"))
        missing = sorted(required - set(table))
        if missing:
            raise self.fail(where, f"missing field {missing[0]!r}")

    def number(self, table: Mapping[str, Any], key: str, where: str, *,
               default: float | None = None, minimum: float | None = 0.0, positive: bool = False,
               maximum: float | None = None) -> float:
        if key not in table:
            if default is None:
                raise self.fail(where, f"missing field {key!r}")
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"{key} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise self.fail(where, f"{key} must be finite, got {value!r}")
        if positive and value <= 0.0:
            raise self.fail(where, f"{key} must be positive, got {value:g}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"{key} must not be negative, got {value:g}")
        if maximum is not None and value > maximum:
            raise self.fail(where, f"{key} = {value:g} is above the allowed {maximum:g}")
        return value

    def string(self, table: Mapping[str, Any], key: str, where: str,
               default: str | None = None) -> str:
        if key not in table:
            if default is None:
                raise self.fail(where, f"missing field {key!r}")
            return default
        value = table[key]
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(where, f"{key} must be a non-empty string, got {value!r}")
        return value.strip()

    def entries(self, doc: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
        raw = doc.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            raise self.fail(f"[[{key}]]", "must be an array of tables ([[" + key + "]] blocks)")
        out = []
        for i, entry in enumerate(raw, start=1):
            label = entry.get("name") if isinstance(entry.get("name"), str) else None
            if label is None and isinstance(entry.get("level"), str):
                label = entry["level"]
            where = f"[[{key}]] #{i}" + (f" {label!r}" if label else "")
            required, optional = _ENTRY_KEYS[key]
            self.keys(entry, where, required, optional)
            out.append((where, entry))
        return out


def _unit_hint(key: str) -> str | None:
    for stem, hint in sorted(_UNIT_HINTS.items(), key=lambda kv: -len(kv[0])):
        if key.startswith(stem):
            return hint
    return None


class _Levels:
    """Resolves ``"Species:level"`` references against the declared species."""

    def __init__(self, reader: _Reader, species: tuple[Species, ...]) -> None:
        self.reader = reader
        self.species = {s.name: s for s in species}

    def ref(self, text: Any, where: str, field_name: str,
            same_species: str | None = None) -> LevelRef:
        """``"Tm:3H4"`` (a bare level only with `same_species`)."""
        try:
            return parse_level(self.species.values(), text, same_species)
        except LevelSyntaxError as exc:
            raise self.reader.fail(where, f"{field_name} {exc}") from None

    def arrow(self, text: Any, where: str, field_name: str) -> tuple[LevelRef, LevelRef]:
        """``"Tm:3H4 -> 3F4"`` (the final level may omit the species)."""
        try:
            return parse_level_arrow(self.species.values(), text)
        except LevelSyntaxError as exc:
            raise self.reader.fail(where, f"{field_name} {exc}") from None

    def energy(self, ref: LevelRef) -> float:
        return self.species[ref.species].energy_cm1(ref.level)


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset TOML file (schema: docs/physics.md). Raises PresetError."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise PresetError(f"{path}: no such preset file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML: {exc}") from None
    return preset_from_dict(doc, origin=str(path))


def preset_from_dict(doc: Mapping[str, Any], origin: str = "<preset>") -> Preset:
    """Build a validated Preset from an already parsed TOML document (see load_preset)."""
    r = _Reader(origin)
    for key in doc:
        if key not in _TOP_KEYS:
            hint = _unit_hint(key)
            raise r.fail("top level", f"unknown field {key!r}" + (f" ({hint})" if hint else ""))
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise r.fail("top level", f"schema_version must be {SCHEMA_VERSION}, got {version!r}")
    name = r.string(doc, "name", "top level")
    description = r.string(doc, "description", "top level")
    pump_nm = r.number(doc, "pump_wavelength_nm", "top level", positive=True)
    site_density = r.number(doc, "site_density_cm3", "top level", default=NAYF4_SITE_DENSITY_CM3,
                            positive=True)
    diameter = r.number(doc, "particle_diameter_nm", "top level", default=20.0, positive=True)
    shell = r.number(doc, "shell_thickness_nm", "top level", default=0.0)
    references = doc.get("references", [])
    if not isinstance(references, list) or not all(isinstance(x, str) for x in references):
        raise r.fail("top level", "references must be a list of strings")

    temperature = doc.get("temperature", {})
    if not isinstance(temperature, dict):
        raise r.fail("[temperature]", "must be a table")
    r.keys(temperature, "[temperature]", set(),
           {"reference_K", "phonon_energy_cm1", "line_width_energy_cm1"})
    reference_K = r.number(temperature, "reference_K", "[temperature]",
                           default=ROOM_TEMPERATURE_K, positive=True)
    phonon_cm1 = r.number(temperature, "phonon_energy_cm1", "[temperature]",
                          default=NAYF4_PHONON_ENERGY_CM1, positive=True)
    width_energy_cm1 = r.number(temperature, "line_width_energy_cm1", "[temperature]",
                                default=DEFAULT_LINE_WIDTH_ENERGY_CM1, positive=True)

    species = _read_species(r, doc)
    levels = _Levels(r, species)
    pump = _read_pump(r, doc, levels)
    decays = _read_decays(r, doc, levels)
    surface_terms = _read_surface_terms(r, doc, levels)
    decays += tuple(d for d in (t.decay(diameter, shell) for t in surface_terms) if d is not None)
    transfers = _read_transfers(r, doc, levels)
    lines = _read_lines(r, doc, levels, decays)
    derived = _read_derived_lines(r, doc, levels, {line.name for line in lines})

    main_line = r.string(doc, "main_line", "top level")
    if main_line not in {line.name for line in lines}:
        raise r.fail("top level", f"main_line {main_line!r} is not one of the [[line]] entries "
                                  f"({', '.join(line.name for line in lines) or 'none'})")
    if not pump:
        raise r.fail("top level", "a preset needs at least one [[absorption]]")
    return Preset(
        name=name, description=description, pump_wavelength_nm=pump_nm, species=species,
        pump_transitions=pump, decays=decays, transfers=transfers, lines=lines,
        main_line=main_line, site_density_cm3=site_density, reference_temperature_K=reference_K,
        phonon_energy_cm1=phonon_cm1, particle_diameter_nm=diameter,
        references=tuple(references), source_file=origin, derived_lines=derived,
        line_width_energy_cm1=width_energy_cm1, shell_thickness_nm=shell,
        surface_terms=surface_terms,
    )


def _read_species(r: _Reader, doc: Mapping[str, Any]) -> tuple[Species, ...]:
    out: list[Species] = []
    entries = r.entries(doc, "species")
    if not entries:
        raise r.fail("top level", "missing field 'species' (at least one [[species]] block)")
    for where, e in entries:
        name = r.string(e, "name", where)
        if ":" in name or "->" in name:
            raise r.fail(where, f"species name {name!r} must not contain ':' or '->'")
        if name in {s.name for s in out}:
            raise r.fail(where, f"species {name!r} is declared twice")
        conc = r.number(e, "concentration", where, positive=True, maximum=1.0)
        raw_levels = e["levels"]
        if not isinstance(raw_levels, list) or len(raw_levels) < 2:
            raise r.fail(where, "levels must be a list of at least two {name, energy_cm1} tables")
        levels: list[Level] = []
        for j, lv in enumerate(raw_levels, start=1):
            lwhere = f"{where} level #{j}"
            if not isinstance(lv, dict):
                raise r.fail(lwhere, "must be a table {name = ..., energy_cm1 = ...}")
            r.keys(lv, lwhere, {"name", "energy_cm1"}, set())
            lname = r.string(lv, "name", lwhere)
            if ":" in lname or "->" in lname:
                raise r.fail(lwhere, f"level name {lname!r} must not contain ':' or '->'")
            if lname in {x.name for x in levels}:
                raise r.fail(lwhere, f"level {lname!r} is declared twice")
            energy = r.number(lv, "energy_cm1", lwhere)
            if levels and energy <= levels[-1].energy_cm1:
                raise r.fail(lwhere, f"levels must be listed by increasing energy, ground first "
                                     f"({lname} at {energy:g} cm⁻¹ is not above "
                                     f"{levels[-1].name} at {levels[-1].energy_cm1:g} cm⁻¹)")
            levels.append(Level(lname, energy))
        ions = e.get("ions_per_particle")
        if ions is not None and (isinstance(ions, bool) or not isinstance(ions, int) or ions <= 0):
            raise r.fail(where, f"ions_per_particle must be a positive whole number, got {ions!r}")
        fixed = e.get("ions_per_particle_fixed", False)
        if not isinstance(fixed, bool):
            raise r.fail(where, f"ions_per_particle_fixed must be true or false, got {fixed!r}")
        if fixed and ions is None:
            raise r.fail(where, "ions_per_particle_fixed needs an ions_per_particle to pin")
        if ions is not None and not fixed:
            estimate = _core_ions(doc, conc)
            if not (1 - ION_COUNT_TOLERANCE) * estimate <= ions <= (1 + ION_COUNT_TOLERANCE) \
                    * estimate:
                raise r.fail(where, f"ions_per_particle = {ions} disagrees with the core volume "
                                    f"x site density x concentration ({estimate:.0f}); remove it "
                                    f"so the count follows core and concentration, or set "
                                    f"ions_per_particle_fixed = true if it is a counted number")
        out.append(Species(name, conc, tuple(levels), ions, e.get("source", ""), fixed))
    if sum(s.concentration for s in out) > 1.0 + 1e-12:
        raise r.fail("[[species]]", "concentrations add up to more than 1 (they are fractions of "
                                    "the rare-earth sites)")
    return tuple(out)


def _core_ions(doc: Mapping[str, Any], concentration: float) -> float:
    """Ion estimate of the doped core (the top-level numbers are validated elsewhere)."""
    diameter_nm = doc.get("particle_diameter_nm", 20.0)
    density = doc.get("site_density_cm3", NAYF4_SITE_DENSITY_CM3)
    if not all(isinstance(x, int | float) and x > 0 for x in (diameter_nm, density)):
        return float("nan")
    radius_cm = 0.5 * float(diameter_nm) * 1e-7
    return 4.0 / 3.0 * math.pi * radius_cm**3 * float(density) * concentration


def _unique(r: _Reader, where: str, name: str, seen: set[str], what: str) -> None:
    if name in seen:
        raise r.fail(where, f"{what} name {name!r} is used twice")
    seen.add(name)


def _read_pump(r: _Reader, doc: Mapping[str, Any], levels: _Levels) -> tuple[PumpTransition, ...]:
    out: list[PumpTransition] = []
    seen: set[str] = set()
    for key, stimulated in (("absorption", False), ("stimulated_emission", True)):
        for where, e in r.entries(doc, key):
            name = r.string(e, "name", where)
            _unique(r, where, name, seen, "pump transition")
            initial = levels.ref(e["from"], where, "from")
            final = levels.ref(e["to"], where, "to", same_species=initial.species)
            up = levels.energy(final) > levels.energy(initial)
            if stimulated and up:
                raise r.fail(where, f"stimulated emission must go down in energy ({initial} → "
                                    f"{final} goes up); use [[absorption]]")
            if not stimulated and not up:
                raise r.fail(where, f"absorption must go up in energy ({initial} → {final} does "
                                    f"not); use [[stimulated_emission]]")
            sigma = r.number(e, "cross_section_cm2", where,
                             maximum=MAX_PLAUSIBLE_CROSS_SECTION_CM2)
            hot_cm1 = r.number(e, "hot_band_cm1", where, default=0.0)
            hot_ratio = r.number(e, "hot_band_ratio", where, default=0.0)
            if (hot_cm1 > 0.0) != (hot_ratio > 0.0):
                raise r.fail(where, "a hot band needs both hot_band_cm1 and hot_band_ratio > 0")
            out.append(PumpTransition(
                name=name, initial=initial, final=final, cross_section_cm2=sigma,
                mismatch_cm1=r.number(e, "mismatch_cm1", where, default=0.0, minimum=None),
                stimulated=stimulated, hot_band_cm1=hot_cm1, hot_band_ratio=hot_ratio,
                source=e.get("source", ""),
            ))
    return tuple(out)


def _read_decays(r: _Reader, doc: Mapping[str, Any], levels: _Levels) -> tuple[Decay, ...]:
    out: list[Decay] = []
    radiative_levels: set[LevelRef] = set()
    for where, e in r.entries(doc, "radiative"):
        level = levels.ref(e["level"], where, "level")
        if level in radiative_levels:
            raise r.fail(where, f"{level} has two [[radiative]] entries; give one with a branching")
        radiative_levels.add(level)
        rate = r.number(e, "rate_per_s", where)
        branching = e["branching"]
        if not isinstance(branching, dict) or not branching:
            raise r.fail(where, "branching must be a table {lower level = fraction, ...}")
        total = 0.0
        for target_text in branching:
            target = levels.ref(target_text, where, "branching target", same_species=level.species)
            if levels.energy(target) >= levels.energy(level):
                raise r.fail(where, f"branching target {target} is not below {level}")
            value = r.number(branching, target_text, f"{where} branching")
            total += value
            out.append(Decay(level, target, rate * value, "radiative", source=e.get("source", "")))
        if total > 1.0 + BRANCHING_TOLERANCE:
            raise r.fail(where, f"branching ratios add up to {total:.6g} > 1")
        ground = LevelRef(level.species, levels.species[level.species].levels[0].name)
        if total < 1.0 - BRANCHING_TOLERANCE:  # the remainder goes to the ground level
            out.append(Decay(level, ground, rate * (1.0 - total), "radiative",
                             source="remainder of the branching (to the ground level)"))
    for kind in ("multiphonon", "quenching"):
        for where, e in r.entries(doc, kind):
            level = levels.ref(e["level"], where, "level")
            target = levels.ref(e["to"], where, "to", same_species=level.species)
            gap = levels.energy(level) - levels.energy(target)
            if gap <= 0:
                raise r.fail(where, f"{kind} target {target} is not below {level}")
            rate, law = _read_law(r, e, where, levels.species[level.species],
                                  r.number(e, "rate_per_s", where))
            gap_cm1 = r.number(e, "gap_cm1", where, default=gap, positive=True) if kind == \
                "multiphonon" else 0.0
            out.append(Decay(level, target, rate, kind, gap_cm1, e.get("source", ""), law=law))
    return tuple(out)


def _read_surface_terms(r: _Reader, doc: Mapping[str, Any],
                        levels: _Levels) -> tuple[SurfaceQuenchingTerm, ...]:
    out: list[SurfaceQuenchingTerm] = []
    for where, e in r.entries(doc, "surface_quenching"):
        level = levels.ref(e["level"], where, "level")
        target = levels.ref(e["to"], where, "to", same_species=level.species)
        if levels.energy(target) >= levels.energy(level):
            raise r.fail(where, f"surface quenching target {target} is not below {level}")
        out.append(SurfaceQuenchingTerm(
            level, target, unit_rate_per_s=r.number(e, "unit_rate_per_s", where),
            bare_factor=r.number(e, "bare_factor", where),
            depth_nm=r.number(e, "depth_nm", where, positive=True),
            source=e.get("source", "")))
    return tuple(out)


def _read_law(r: _Reader, e: Mapping[str, Any], where: str, species: Species,
              rate_per_s: float) -> tuple[float, ConcentrationLaw | None]:
    """(rate at the species' concentration in s⁻¹, its concentration law or None).

    Without `concentration_law` the rate is taken as given; if the entry names the
    `reference_concentration` it was measured at and that differs from the preset's, the load
    fails: a rate that silently ignores the concentration is a trap. With a law the rate is
    given at `reference_concentration` and scaled to the preset's concentration;
    ``concentration_law = "fixed"`` states on purpose that it does not scale.
    """
    c = species.concentration
    raw = e.get("concentration_law")
    c_ref = (r.number(e, "reference_concentration", where, positive=True, maximum=1.0)
             if "reference_concentration" in e else None)
    if raw is None:
        if c_ref is not None and not math.isclose(c_ref, c, rel_tol=1e-9):
            raise r.fail(where, f"rate_per_s is given at reference_concentration {c_ref:g}, but "
                                f"{species.name} has concentration {c:g} and no "
                                f"concentration_law says how the rate scales; add one (e.g. "
                                f"concentration_law = {{ kind = \"power\", exponent = 2 }}) or "
                                f"concentration_law = \"fixed\" to keep the rate on purpose")
        return rate_per_s, None
    if raw == "fixed":
        raw = {"kind": "fixed"}
    if not isinstance(raw, dict):
        raise r.fail(where, f"concentration_law must be \"fixed\" or a table like "
                            f"{{ kind = \"power\", exponent = 2 }}, got {raw!r}")
    lwhere = f"{where} concentration_law"
    kind = r.string(raw, "kind", lwhere)
    if kind not in CONCENTRATION_LAW_KINDS:
        raise r.fail(lwhere, f"kind {kind!r} is not one of {', '.join(CONCENTRATION_LAW_KINDS)}")
    params = {"power": {"exponent"}, "saturating": {"saturation_concentration"},
              "fixed": set()}[kind]
    r.keys(raw, lwhere, {"kind"} | params, set())
    if c_ref is None:
        if kind != "fixed":
            raise r.fail(where, f"a {kind!r} concentration_law needs the "
                                f"reference_concentration at which rate_per_s is given")
        c_ref = c
    law = ConcentrationLaw(
        kind=kind, reference_concentration=c_ref, reference_rate_per_s=rate_per_s,
        species=species.name,
        exponent=r.number(raw, "exponent", lwhere, default=0.0, minimum=None),
        saturation_concentration=r.number(raw, "saturation_concentration", lwhere,
                                          default=0.0, maximum=1.0),
    )
    if kind == "saturating" and law.saturation_concentration <= 0.0:
        raise r.fail(lwhere, "saturation_concentration must be positive")
    return law.rate_per_s(c), law


def _read_transfers(r: _Reader, doc: Mapping[str, Any], levels: _Levels) -> tuple[Transfer, ...]:
    out: list[Transfer] = []
    seen: set[str] = set()
    for where, e in r.entries(doc, "transfer"):
        name = r.string(e, "name", where)
        _unique(r, where, name, seen, "transfer")
        d_i, d_f = levels.arrow(e["donor"], where, "donor")
        a_i, a_f = levels.arrow(e["acceptor"], where, "acceptor")
        if levels.energy(d_f) > levels.energy(d_i):
            raise r.fail(where, f"the donor must give energy away ({d_i} -> {d_f} goes up)")
        if levels.energy(a_f) < levels.energy(a_i):
            raise r.fail(where, f"the acceptor must take energy ({a_i} -> {a_f} goes down)")
        if d_i == d_f and a_i == a_f:
            raise r.fail(where, "neither donor nor acceptor changes level")
        has_rate, has_coeff = "rate_per_s" in e, "coefficient_cm3_per_s" in e
        if has_rate == has_coeff:
            raise r.fail(where, "give exactly one of rate_per_s (s⁻¹, per-ion fraction units) "
                                "and coefficient_cm3_per_s (cm³/s, times the acceptor density)"
                         + (" — both are given, in inconsistent units" if has_rate else ""))
        kind = e.get("kind", "")
        if kind not in _TRANSFER_KINDS:
            raise r.fail(where, f"kind {kind!r} is not one of "
                                f"{', '.join(sorted(k for k in _TRANSFER_KINDS if k))}")
        rate, law = None, None
        if has_rate:
            rate, law = _read_law(r, e, where, levels.species[a_i.species],
                                  r.number(e, "rate_per_s", where))
        elif _LAW_KEYS & set(e):
            raise r.fail(where, "coefficient_cm3_per_s already follows the concentration (k = "
                                "K·N_acceptor, linear in c); reference_concentration and "
                                "concentration_law belong to rate_per_s")
        out.append(Transfer(
            name=name, donor_initial=d_i, donor_final=d_f, acceptor_initial=a_i, acceptor_final=a_f,
            rate_per_s=rate, law=law,
            coefficient_cm3_per_s=(r.number(e, "coefficient_cm3_per_s", where)
                                   if has_coeff else None),
            mismatch_cm1=r.number(e, "mismatch_cm1", where, default=0.0, minimum=None),
            kind=kind, source=e.get("source", ""),
        ))
    return tuple(out)


def _read_lines(r: _Reader, doc: Mapping[str, Any], levels: _Levels,
                decays: tuple[Decay, ...]) -> tuple[EmissionLine, ...]:
    out: list[EmissionLine] = []
    seen: set[str] = set()
    entries = r.entries(doc, "line")
    if not entries:
        raise r.fail("top level", "missing field 'line' (at least one [[line]] block)")
    for where, e in entries:
        name = r.string(e, "name", where)
        _unique(r, where, name, seen, "line")
        upper, lower = levels.arrow(e["transition"], where, "transition")
        if levels.energy(lower) >= levels.energy(upper):
            raise r.fail(where, f"an emission line goes down in energy "
                                f"({upper} -> {lower} does not)")
        radiative = [d for d in decays if d.kind == "radiative" and d.initial == upper]
        total = sum(d.rate_per_s for d in radiative)
        if total <= 0.0:
            raise r.fail(where, f"{upper} has no [[radiative]] decay to emit from")
        into_lower = sum(d.rate_per_s for d in radiative if d.final == lower) / total
        share = r.number(e, "share", where, default=into_lower, maximum=1.0)
        if share > into_lower + BRANCHING_TOLERANCE:
            raise r.fail(where, f"share {share:g} exceeds the radiative branching "
                                f"{upper} -> {lower} ({into_lower:.6g})")
        fwhm, fwhm_low = _read_widths(r, e, where)
        out.append(EmissionLine(name, upper, lower,
                                r.number(e, "wavelength_nm", where, positive=True), share,
                                e.get("source", ""), fwhm, fwhm_low))
    return tuple(out)


def _read_widths(r: _Reader, e: Mapping[str, Any], where: str) -> tuple[float, float]:
    """(FWHM at the reference temperature, FWHM at T → 0) in nm; lines narrow when cooled."""
    fwhm = r.number(e, "fwhm_nm", where, default=DEFAULT_LINE_FWHM_NM, positive=True)
    low = r.number(e, "fwhm_low_T_nm", where, default=fwhm * DEFAULT_LOW_T_NARROWING,
                   positive=True)
    if low > fwhm:
        raise r.fail(where, f"fwhm_low_T_nm {low:g} exceeds fwhm_nm {fwhm:g} (lines narrow "
                            f"when cooled)")
    return fwhm, low


def _read_derived_lines(r: _Reader, doc: Mapping[str, Any], levels: _Levels,
                        line_names: set[str]) -> tuple[DerivedLine, ...]:
    out: list[DerivedLine] = []
    seen = set(line_names)
    for where, e in r.entries(doc, "derived_line"):
        name = r.string(e, "name", where)
        _unique(r, where, name, seen, "line")
        kind = r.string(e, "kind", where)
        if kind not in _DERIVED_KIND_KEYS:
            raise r.fail(where, f"kind {kind!r} is not one of {', '.join(_DERIVED_KIND_KEYS)}")
        required, optional = _DERIVED_KIND_KEYS[kind]
        for other, (other_required, other_optional) in _DERIVED_KIND_KEYS.items():
            for key in (other_required | other_optional) - required - optional:
                if other != kind and key in e:
                    raise r.fail(where, f"{key!r} belongs to kind {other!r}, not {kind!r}")
        for key in sorted(required):
            if key not in e:
                raise r.fail(where, f"missing field {key!r} (needed by kind {kind!r})")
        base = levels.ref(e["from"], where, "from")
        if kind == "pumped" and base == LevelRef(base.species,
                                                 levels.species[base.species].levels[0].name):
            raise r.fail(where, f"a pumped line starts from an excited level, not the ground "
                                f"level {base} (that would be an ordinary line)")
        fwhm, fwhm_low = _read_widths(r, e, where)
        label = e.get("label", "")
        if not isinstance(label, str):
            raise r.fail(where, f"label must be a string, got {label!r}")
        out.append(DerivedLine(
            name=name, kind=kind, base=base,
            wavelength_nm=r.number(e, "wavelength_nm", where, positive=True), label=label,
            cross_section_cm2=r.number(e, "cross_section_cm2", where, default=0.0,
                                       maximum=MAX_PLAUSIBLE_CROSS_SECTION_CM2),
            photon_yield=r.number(e, "photon_yield", where, default=0.0, maximum=1.0),
            mismatch_cm1=r.number(e, "mismatch_cm1", where, default=0.0, minimum=None),
            rate_per_s=r.number(e, "rate_per_s", where, default=0.0),
            gap_cm1=r.number(e, "gap_cm1", where, default=0.0),
            fwhm_nm=fwhm, fwhm_low_T_nm=fwhm_low, source=e.get("source", ""),
        ))
    return tuple(out)
