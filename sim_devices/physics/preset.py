"""The data of a sample preset: species, levels and the processes that connect them.

A preset is plain, immutable (and hashable) data, so a compiled model or a tabulated S-curve can
be cached per (preset, temperature). It is normally read from a TOML file (:mod:`.loader`, schema
in docs/physics.md); the numbers are given at the reference temperature and the temperature
dependence is applied when the model is compiled (:mod:`.model`, :mod:`.temperature`).

Conventions (also in docs/physics.md):

* populations are **fractions** of the ions of one species (they sum to 1 per species);
* pump transitions (absorption and stimulated emission) have a cross-section in cm² at the pump
  wavelength; their rate per ion is σ·Φ with Φ the photon flux in cm⁻² s⁻¹;
* decays are rates in s⁻¹ per ion; radiative decay has a branching over lower levels;
* an energy transfer (donor i→f, acceptor j→g) runs at dx_donor,i/dt = −k·x_donor,i·x_acceptor,j,
  with k in s⁻¹ (`rate_per_s`, the Lee-script convention) or k = K·N_acceptor-species
  (`coefficient_cm3_per_s` = K, N = site density × concentration); the acceptor's fractions change
  by the same number of events, i.e. at k·N_donor/N_acceptor per acceptor-species ion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace

import numpy as np

from .constants import (
    NAYF4_PHONON_ENERGY_CM1,
    NAYF4_SITE_DENSITY_CM3,
    ROOM_TEMPERATURE_K,
    photon_flux_per_cm2_s,
)


@dataclass(frozen=True)
class LevelRef:
    """A level of one species, written ``"Tm:3H4"`` in preset files."""

    species: str
    level: str

    def __str__(self) -> str:
        return f"{self.species}:{self.level}"


@dataclass(frozen=True)
class Level:
    """An energy level (or a group of levels in fast thermal equilibrium); energy in cm⁻¹."""

    name: str
    energy_cm1: float


@dataclass(frozen=True)
class Species:
    """One dopant ion. The first level is the ground level (the one eliminated by conservation)."""

    name: str
    concentration: float  # fraction of the rare-earth sites
    levels: tuple[Level, ...]
    #: Ions per particle at this concentration and core size (None: from the core volume).
    #: A given count scales with concentration and core volume under `apply_overrides` unless
    #: `ions_fixed` (a counted number, pinned on purpose).
    ions_per_particle: int | None = None
    source: str = ""
    ions_fixed: bool = False

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels)

    def energy_cm1(self, level: str) -> float:
        return self.levels[self.level_names.index(level)].energy_cm1


class LevelSyntaxError(ValueError):
    """A level reference (``"Tm:3H4"``) or arrow (``"Tm:3H4 -> 3F4"``) does not parse or names
    no declared level. The message is a phrase each caller prefixes with its context."""


def parse_level(species: Iterable[Species], text: object,
                same_species: str | None = None, *, shown: str | None = None) -> LevelRef:
    """``"Species:level"`` → LevelRef; a bare ``"level"`` is allowed when `same_species` is given
    (which the species must then equal). `shown` is how the text is quoted in messages."""
    if not isinstance(text, str) or not text.strip():
        raise LevelSyntaxError(f"must be a level like 'Tm:3H4', got {text!r}")
    text = text.strip()
    shown = shown or repr(text)
    if ":" in text:
        species_name, level = (part.strip() for part in text.split(":", 1))
    elif same_species is not None:
        species_name, level = same_species, text
    else:
        raise LevelSyntaxError(f"{shown} must name the species, as in 'Tm:3H4'")
    declared = {s.name: s for s in species}
    if species_name not in declared:
        raise LevelSyntaxError(f"{shown}: unknown species {species_name!r} "
                               f"(declared: {', '.join(declared)})")
    if same_species is not None and species_name != same_species:
        raise LevelSyntaxError(f"{shown}: an ion cannot change species "
                               f"({species_name} vs {same_species})")
    names = declared[species_name].level_names
    if level not in names:
        raise LevelSyntaxError(f"{shown}: unknown level {level!r} of {species_name} "
                               f"(levels: {', '.join(names)})")
    return LevelRef(species_name, level)


def parse_level_arrow(species: Iterable[Species], text: object) -> tuple[LevelRef, LevelRef]:
    """``"Tm:3H4 -> 3F4"`` → (initial, final) of one species; the final level may repeat the
    species (``"Tm:3H4 -> Tm:3F4"``) but not change it."""
    if not isinstance(text, str) or "->" not in text:
        raise LevelSyntaxError(f"must read like 'Tm:3H4 -> 3F4', got {text!r}")
    species = tuple(species)
    left, right = text.split("->", 1)
    shown = repr(text.strip())
    initial = parse_level(species, left, shown=shown)
    return initial, parse_level(species, right, same_species=initial.species, shown=shown)


@dataclass(frozen=True)
class PumpTransition:
    """Absorption (GSA/ESA) or stimulated emission driven by the pump, rate σ·Φ per ion.

    `final` is the level the ion ends in after fast (sub-µs) relaxation, e.g. Tm ³H₆→³H₅ is
    entered as final ³F₄. `mismatch_cm1` > 0 means phonons are emitted (phonon-assisted tail or
    sideband), < 0 that they are absorbed; 0 makes the cross-section temperature independent.
    A hot band (absorption from a Stark level `hot_band_cm1` above `initial`, `hot_band_ratio`
    times stronger per ion) multiplies σ by (1 + r·e^(−E/kT))/(1 + r·e^(−E/kT₀)).
    """

    name: str
    initial: LevelRef
    final: LevelRef
    cross_section_cm2: float
    mismatch_cm1: float = 0.0
    stimulated: bool = False
    hot_band_cm1: float = 0.0  # > 0: also absorbs from a thermally populated level this far up
    hot_band_ratio: float = 0.0  # hot-band cross-section / ground cross-section (per ion)
    source: str = ""


#: Kinds of concentration law (docs/physics.md, "Concentration and particle architecture").
CONCENTRATION_LAW_KINDS = ("power", "saturating", "fixed")


@dataclass(frozen=True)
class ConcentrationLaw:
    """How a rate in s⁻¹ scales with a dopant concentration c (fraction of the RE sites).

    The preset gives the rate at `reference_concentration`; at another concentration it is
    rate_ref · g(c)/g(c_ref) with

    * ``"power"``: g = c^`exponent` (e.g. cross-relaxation, a pair process between neighbours,
      ∝ c² in the Lee Tm model);
    * ``"saturating"``: g = c³/(c² + a²), a = `saturation_concentration` (the Lee-model ETU law:
      ∝ c³ while ions are dilute, ∝ c once energy migration makes the partner density the limit);
    * ``"fixed"``: g = 1, an explicit statement that the rate does not depend on c.

    `species` is the species whose concentration sets c (a transfer's acceptor species, or a
    decay's own species). A cm³/s transfer coefficient needs no law: K·N is linear in c already.
    """

    kind: str
    reference_concentration: float
    reference_rate_per_s: float
    species: str
    exponent: float = 0.0  # power
    saturation_concentration: float = 0.0  # saturating: a, as a fraction (4.3 % -> 0.043)

    def shape(self, concentration: float) -> float:
        """g(c), dimensionless up to the law's units."""
        c = float(concentration)
        if self.kind == "power":
            return c ** self.exponent
        if self.kind == "saturating":
            a = self.saturation_concentration
            return c**3 / (c**2 + a**2)
        return 1.0

    def rate_per_s(self, concentration: float) -> float:
        """The rate (s⁻¹) at concentration c (fraction): rate_ref · g(c)/g(c_ref)."""
        if self.kind == "fixed" or concentration == self.reference_concentration:
            return self.reference_rate_per_s  # exactly the given number at its own reference
        return self.reference_rate_per_s * self.shape(concentration) / self.shape(
            self.reference_concentration)

    def describe(self) -> str:
        if self.kind == "power":
            return f"∝ c^{self.exponent:g}"
        if self.kind == "saturating":
            return f"∝ c³/(c² + {100 * self.saturation_concentration:g} %²)"
        return "independent of c"


@dataclass(frozen=True)
class Decay:
    """Spontaneous decay initial → final at `rate_per_s` (at the reference temperature).

    kind: ``"radiative"`` (temperature independent; feeds emission lines), ``"multiphonon"``
    (scaled by the energy-gap law across `gap_cm1`) or ``"quenching"`` (surface / impurity
    losses, temperature independent).

    `law` (None: the rate is a single-ion property) scales the rate with concentration;
    `surface` marks a quenching decay computed from the particle architecture (a
    `SurfaceQuenchingTerm`), which `apply_overrides` recomputes when core or shell change.
    """

    initial: LevelRef
    final: LevelRef
    rate_per_s: float
    kind: str
    gap_cm1: float = 0.0
    source: str = ""
    law: ConcentrationLaw | None = None
    surface: bool = False


@dataclass(frozen=True)
class SurfaceQuenchingTerm:
    """A surface quenching channel whose rate follows the particle architecture.

    Dead-layer law (our choice; docs/physics.md): ions closer than `depth_nm` to the particle's
    outer surface are quenched, the others are not. With core radius R and inert shell t, the
    quenched fraction of the core's ions is φ = 1 − ((R − max(0, δ − t))/R)³ (1 when δ − t ≥ R,
    0 when the shell is at least δ thick). The channel then runs at
    rate = `unit_rate_per_s` · `bare_factor` · φ, i.e. the Lee model's f = bare_factor·φ on the
    unit rate W_ref (f₁ on ³F₄ → ³H₆, f₂ on ³H₄ → ³F₄ for Tm).
    """

    initial: LevelRef
    final: LevelRef
    unit_rate_per_s: float
    bare_factor: float
    depth_nm: float
    source: str = ""

    def quenched_fraction(self, core_diameter_nm: float, shell_thickness_nm: float) -> float:
        """φ: fraction of the core's ions within `depth_nm` of the outer surface."""
        return quenched_fraction(core_diameter_nm, shell_thickness_nm, self.depth_nm)

    def factor(self, core_diameter_nm: float, shell_thickness_nm: float) -> float:
        """The Lee-model f of this channel (dimensionless) for the architecture."""
        return self.bare_factor * self.quenched_fraction(core_diameter_nm, shell_thickness_nm)

    def decay(self, core_diameter_nm: float, shell_thickness_nm: float) -> Decay | None:
        """The quenching decay for the architecture, or None when it vanishes (thick shell)."""
        rate = self.unit_rate_per_s * self.factor(core_diameter_nm, shell_thickness_nm)
        if rate <= 0.0:
            return None
        return Decay(self.initial, self.final, rate, "quenching",
                     source=f"surface term f = {self.factor(core_diameter_nm, shell_thickness_nm):.4g}"
                            f" (core {core_diameter_nm:g} nm, shell {shell_thickness_nm:g} nm)",
                     surface=True)


def quenched_fraction(core_diameter_nm: float, shell_thickness_nm: float,
                      depth_nm: float) -> float:
    """Fraction of a spherical core's (uniformly doped) ions lying within `depth_nm` of the outer
    surface of a core of `core_diameter_nm` under an inert shell of `shell_thickness_nm`."""
    radius = 0.5 * core_diameter_nm
    reach = depth_nm - shell_thickness_nm  # how deep into the core the quenching reaches
    if reach <= 0.0:
        return 0.0
    if reach >= radius:
        return 1.0
    return 1.0 - ((radius - reach) / radius) ** 3


@dataclass(frozen=True)
class Transfer:
    """Energy transfer donor (i→f) + acceptor (j→g): cross-relaxation, ETU, migration, back-ET.

    Exactly one of `rate_per_s` (per-ion fraction units, the Lee-script convention) and
    `coefficient_cm3_per_s` is set; see the module docstring for the conversion.
    """

    name: str
    donor_initial: LevelRef
    donor_final: LevelRef
    acceptor_initial: LevelRef
    acceptor_final: LevelRef
    rate_per_s: float | None = None
    coefficient_cm3_per_s: float | None = None
    mismatch_cm1: float = 0.0
    kind: str = ""
    source: str = ""
    #: How `rate_per_s` follows the acceptor species' concentration (None: it may not change).
    law: ConcentrationLaw | None = None


#: Line FWHM (nm) at the reference temperature when a preset gives none (docs/physics.md §4: 10–20 nm
#: at 295 K); the low-temperature limit defaults to a fifth of it ("a few nm below ~50 K").
DEFAULT_LINE_FWHM_NM = 15.0
DEFAULT_LOW_T_NARROWING = 0.2
#: Energy (cm⁻¹) in the line-width law of :mod:`.spectra` (Stark-level scale; our choice).
DEFAULT_LINE_WIDTH_ENERGY_CM1 = 150.0


@dataclass(frozen=True)
class EmissionLine:
    """An emission line: photons/s per ion = share × (radiative rate of `upper`) × x_upper.

    `fwhm_nm` is the Gaussian FWHM at the preset's reference temperature and `fwhm_low_T_nm` its
    T → 0 limit; :func:`.spectra.line_fwhm_nm` interpolates between them (docs/physics.md §4).
    """

    name: str
    upper: LevelRef
    lower: LevelRef
    wavelength_nm: float
    share: float  # fraction of the upper level's total radiative decay emitted in this line
    source: str = ""
    fwhm_nm: float = DEFAULT_LINE_FWHM_NM
    fwhm_low_T_nm: float = DEFAULT_LINE_FWHM_NM * DEFAULT_LOW_T_NARROWING


@dataclass(frozen=True)
class DerivedLine:
    """A line from a level the rate equations do not carry, derived from a modelled level `base`.

    Used only by the spectrum (:mod:`.spectra`), not by the rate equations, so it must be weak:

    * ``kind = "pumped"``: one more pump photon absorbed from `base` (σ = `cross_section_cm2`,
      scaled with temperature by `mismatch_cm1` like an absorption) reaches an unmodelled level
      that emits `photon_yield` photons on this line per absorption. Photons/s per ion =
      photon_yield·σ·Φ·x_base: a "higher-order" line with slope S_base + 1 (docs/physics.md §3,
      Tm ¹G₄ 475 nm). Perturbative: valid while σ·Φ is far below the decay rate of `base`.
    * ``kind = "thermal"``: a level `gap_cm1` above `base` in Boltzmann equilibrium with it
      (e.g. Nd ⁴F₅/₂ above ⁴F₃/₂). Photons/s per ion = rate_per_s·exp(−gap/kT)·x_base, with
      `rate_per_s` = (g_hot/g_base) × radiative rate of the hot level into the line.
    """

    name: str
    kind: str  # "pumped" | "thermal"
    base: LevelRef
    wavelength_nm: float
    label: str = ""  # the transition in words, e.g. "1G4 -> 3H6" (its levels are not modelled)
    cross_section_cm2: float = 0.0  # pumped
    photon_yield: float = 0.0  # pumped
    mismatch_cm1: float = 0.0  # pumped
    rate_per_s: float = 0.0  # thermal
    gap_cm1: float = 0.0  # thermal
    fwhm_nm: float = DEFAULT_LINE_FWHM_NM
    fwhm_low_T_nm: float = DEFAULT_LINE_FWHM_NM * DEFAULT_LOW_T_NARROWING
    source: str = ""


@dataclass(frozen=True)
class Preset:
    """A sample: dopant species, pump, processes and emission lines (rates at
    `reference_temperature_K`)."""

    name: str
    description: str
    pump_wavelength_nm: float
    species: tuple[Species, ...]
    pump_transitions: tuple[PumpTransition, ...]
    decays: tuple[Decay, ...]
    transfers: tuple[Transfer, ...]
    lines: tuple[EmissionLine, ...]
    main_line: str
    site_density_cm3: float = NAYF4_SITE_DENSITY_CM3
    reference_temperature_K: float = ROOM_TEMPERATURE_K
    phonon_energy_cm1: float = NAYF4_PHONON_ENERGY_CM1
    particle_diameter_nm: float = 20.0
    references: tuple[str, ...] = ()
    source_file: str = field(default="", compare=False)
    #: Lines derived from modelled populations for the spectrum only (see DerivedLine).
    derived_lines: tuple[DerivedLine, ...] = ()
    #: Energy (cm⁻¹) of the line-width temperature law (see .spectra.line_fwhm_nm).
    line_width_energy_cm1: float = DEFAULT_LINE_WIDTH_ENERGY_CM1
    #: Inert shell around the doped core (nm); the core diameter is `particle_diameter_nm`.
    shell_thickness_nm: float = 0.0
    #: Surface quenching channels that follow the architecture; their decays are in `decays`.
    surface_terms: tuple[SurfaceQuenchingTerm, ...] = ()

    # --- hashing: a preset keys every cache (compiled model, tables, films, spectra) -------
    def __hash__(self) -> int:
        """The dataclass hash (over the compared fields), computed once per object: hashing the
        nested tuples costs ~7 µs and every cache lookup hashes the preset."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self) if f.compare))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict[str, object]:
        # string hashes differ between processes: never carry the cached one along
        state = dict(self.__dict__)
        state.pop("_hash", None)
        return state

    # --- lookups -------------------------------------------------------------------------
    def species_named(self, name: str) -> Species:
        for species in self.species:
            if species.name == name:
                return species
        raise KeyError(f"preset {self.name!r} has no species {name!r}")

    def line_named(self, name: str) -> EmissionLine:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(f"preset {self.name!r} has no emission line {name!r}; "
                       f"lines: {', '.join(line.name for line in self.lines)}")

    @property
    def line_names(self) -> tuple[str, ...]:
        return tuple(line.name for line in self.lines)

    @property
    def level_labels(self) -> tuple[str, ...]:
        """All levels as ``"species:level"``, in the order of the full population vector."""
        return tuple(f"{s.name}:{lv.name}" for s in self.species for lv in s.levels)

    def density_cm3(self, species: str) -> float:
        """Number density of a species' ions (cm⁻³): site density × concentration."""
        return self.site_density_cm3 * self.species_named(species).concentration

    def is_ground(self, ref: LevelRef) -> bool:
        return self.species_named(ref.species).levels[0].name == ref.level

    def level(self, text: str) -> LevelRef:
        """``"Tm:3H4"`` → LevelRef (raises LevelSyntaxError, a ValueError)."""
        return parse_level(self.species, text)

    def level_arrow(self, text: str) -> tuple[LevelRef, LevelRef]:
        """``"Tm:3H4 -> 3F4"`` → (initial, final) (raises LevelSyntaxError, a ValueError)."""
        return parse_level_arrow(self.species, text)

    def energy_cm1(self, ref: LevelRef) -> float:
        return self.species_named(ref.species).energy_cm1(ref.level)

    def is_gsa(self, t: PumpTransition) -> bool:
        """Ground-state absorption: a (non-stimulated) pump transition from a ground level."""
        return not t.stimulated and self.is_ground(t.initial)

    def is_esa(self, t: PumpTransition) -> bool:
        """Excited-state absorption: a (non-stimulated) pump transition from an excited level."""
        return not t.stimulated and not self.is_ground(t.initial)

    def transfer_rate_per_s(self, transfer: Transfer) -> float:
        """k (s⁻¹) of a transfer at the reference temperature: `rate_per_s`, or K·N_acceptor."""
        if transfer.rate_per_s is not None:
            return transfer.rate_per_s
        return transfer.coefficient_cm3_per_s * self.density_cm3(transfer.acceptor_initial.species)

    def radiative_rate_per_s(self, ref: LevelRef) -> float:
        """Total radiative decay rate of a level (s⁻¹)."""
        return sum(d.rate_per_s for d in self.decays if d.kind == "radiative" and d.initial == ref)

    # --- what the simulated bench shows --------------------------------------------------
    @property
    def ions_per_particle(self) -> int:
        """Ions of the main line's species in one particle (explicit, else from the core volume)."""
        return self.ions_of(self.line_named(self.main_line).upper.species)

    def ions_of(self, species: str) -> int:
        """Ions of `species` in one particle: the preset's pinned `ions_per_particle`, else the
        doped core's volume (diameter `particle_diameter_nm`) × site density × concentration, so
        the count follows the core size and the concentration."""
        sp = self.species_named(species)
        if sp.ions_per_particle is not None:
            return sp.ions_per_particle
        radius_cm = 0.5 * self.particle_diameter_nm * 1e-7
        volume_cm3 = 4.0 / 3.0 * math.pi * radius_cm**3
        return int(round(volume_cm3 * self.site_density_cm3 * sp.concentration))

    @property
    def beta(self) -> float:
        """β = σ_ESA/σ_GSA: the largest ESA over the largest GSA cross-section (docs/physics.md §3)."""
        gsa = [t.cross_section_cm2 for t in self.pump_transitions if self.is_gsa(t)]
        esa = [t.cross_section_cm2 for t in self.pump_transitions if self.is_esa(t)]
        if not gsa or not esa or max(gsa) == 0.0:
            return float("inf") if esa else float("nan")
        return max(esa) / max(gsa)

    # --- edited copies -------------------------------------------------------------------
    def with_scaled_cross_sections(self, factor: float,
                                   select: Callable[[PumpTransition], bool]) -> Preset:
        """A copy with the cross-section of every pump transition `select` accepts × `factor`."""
        pumps = tuple(replace(t, cross_section_cm2=t.cross_section_cm2 * factor)
                      if select(t) else t for t in self.pump_transitions)
        return replace(self, pump_transitions=pumps)

    def photon_flux_per_cm2_s(self, intensity_kW_cm2: np.ndarray | float) -> np.ndarray | float:
        """Pump photon flux Φ = I·λ/(hc) in photons cm⁻² s⁻¹ (intensity in kW/cm²)."""
        return photon_flux_per_cm2_s(intensity_kW_cm2, self.pump_wavelength_nm)

    def loop_threshold_kW_cm2(self, temperature_K: float | None = None) -> float:
        """Threshold convention 3 (docs/physics.md §1): linear stability of the nearly empty state.

        The pump intensity at which the dark state, with GSA switched off and ETU negligible,
        stops being stable; for the Tm 3-level model this is the Joubert-type formula
        σE·Φ_th = W1·(W2 + s31)/(s31 − (1−b)·W2r). NaN if no positive-feedback loop exists.
        """
        from .model import compile_model

        return compile_model(self, temperature_K).loop_threshold_kW_cm2()
