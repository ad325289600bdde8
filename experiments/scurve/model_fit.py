"""Fit the free parameters of a rate-equation preset to a measured S-curve (and rise times).

The S-curve analysis (:mod:`experiments.scurve.analysis`) describes a measurement by model-free
numbers (S_max, thresholds, gains). This module goes one step further and asks which *physics*
explains the data: it takes a preset of the physics engine (``sim_devices.physics``), frees a
few of its quantities (β, the cross-relaxation rate, a surface-quenching factor, …), and adjusts
them by weighted least squares until the model's steady-state emission matches the measured
rates, with 1σ uncertainties and correlations. The result includes the fitted preset, which the
simulated bench can run directly.

Model of the measurement
------------------------
``rate_cps(I) = signal_scale · e(intensity_scale · I) + background_cps``

* ``e`` — the steady-state emission of the chosen line (photons/s per ion of its species) of the
  edited preset at the true intensity, from Newton continuation (``steady.continuation``).
* ``signal_scale`` — detected counts per emitted photon × ions in the particle (counts/s per
  photon/s per ion); always free (log). ``signal_scale / ions`` is the collection efficiency.
* ``intensity_scale`` — optional: true intensity / reported intensity. Reported intensities can
  be off by a constant factor (waist calibration, peak-vs-mean, docs/physics.md §6 factor 2).
* ``background_cps`` — optional constant offset (e.g. an error of the subtracted dark rate).

Rise times t½(I) (docs/physics.md §3; measured as (I, t½, σ) triples) join the fit through
``sim_devices.physics.rise_half_time_s``. The steady state is unchanged if every rate constant
(decays, transfers) and the intensity scale are multiplied by one factor; t½ is not (it scales
inversely). So rise times measure the absolute time scale that an S-curve with a free intensity
scale only sees through the rates held fixed, and they shrink the uncertainties of rates that
are correlated with ``intensity_scale`` (tests: the quenching factor's 1σ halves).

Why rate space and not log space
--------------------------------
Residuals are ``(model − rate)/sigma`` in counts/s. The dark-subtracted rate of an S-curve is
near zero (and often negative) below threshold, where log space is undefined and a cut on
signal-to-noise biases the fit; the counting sigma is Gaussian enough at the ~10³ counts per
point an S-curve collects. Log space would weight the noise-dominated low-power points wrongly.
(The instrument's sigma comes from the measured counts rather than the model; at ≥ 10³ counts
per point the resulting bias is < 0.1 %.)

Why the Jacobian is (mostly) analytic
-------------------------------------
One residual evaluation is one continuation over the sorted distinct intensities (≈ 10 ms for
~100 points, docs/physics.md §8 and "Numerics"). The derivative of every steady state
with respect to a parameter θ follows from implicit differentiation, J·dz/dθ = −∂f/∂θ, where
∂f/∂θ is obtained by differencing the *compiled coefficients* (c, M, H) of the rate equations
(cheap: no solve) — so a Jacobian costs one continuation plus a few small linear solves instead
of one continuation per parameter, and is accurate to ~1e-8. Rise times are differenced
numerically (forward steps of 1e-4 in the fit coordinate; LSODA noise ~1e-9 makes smaller steps
unreliable).

Uncertainties
-------------
Covariance = (JᵀJ)⁻¹ in the fit coordinates (ln θ for log parameters, θ otherwise), with J the
Jacobian of the sigma-normalised residuals at the optimum. If χ²/dof > 1 it is multiplied by
χ²/dof (the sigmas were evidently too small or the model imperfect); if χ²/dof ≤ 1 it is used
as is (we do not shrink errors on good luck). ``ModelFit.covariance_scaled`` says which.
For log parameters the 1σ in value units is value·σ(ln θ) (first order). Parameters that end
on a bound are listed in ``ModelFit.at_bound``; their uncertainties are not meaningful.

Parameter vocabulary (``FitParameter.path``). Values are those of the preset at its reference
temperature: the model applies the temperature scaling, so a fit at 77 K returns the rates with
which the fitted preset reproduces the data at 77 K.

* ``beta`` (–): β = σ_ESA/σ_GSA; every GSA cross-section is scaled, ESA kept.
* ``sigma_esa`` (cm²): the largest ESA cross-section; every ESA is scaled, GSA kept (so β
  changes with it unless ``beta`` is also free — then σ_GSA = σ_ESA/β).
* ``cross_relaxation`` (1/s): rate k of the preset's only cross-relaxation transfer (a cm³/s
  coefficient K is reported and set as k = K·N_acceptor).
* ``quenching`` (–, linear, ≥ 0): surface-quenching factor f in the manner of Lee et al. (2021):
  adds a quenching decay f·W_ref to the reservoir (lowest excited level → ground) and
  2f·W_ref to the emitting level (→ the level below it), W_ref = the reservoir's own decay rate.
  For Tm that is f₁ = f, f₂ = 2f on 162.6 s⁻¹ (Lee's quenched samples have f₂/f₁ = 2.0 and 1.94).
* ``signal_scale`` (counts/s per photon/s per ion; always free, log).
* ``intensity_scale`` (–, optional, log, default bounds 0.3–3): true / reported intensity.
* ``background`` (counts/s, optional, linear): constant offset. The S-curve procedure subtracts
  *one* dark reference from every point, so its error is common to all points (but counted in
  each point's sigma as if independent); free ``background`` when the sub-threshold signal is
  comparable with that error (it usually is: it is what β is learnt from).
* ``absorption:NAME`` (cm²): the pump transition NAME (GSA, ESA or stimulated emission).
* ``transfer:NAME`` (1/s or cm³/s, whichever the preset uses for it).
* ``decay:KIND:Species:level`` or ``decay:KIND:Species:level->final`` (1/s): the total KIND
  (radiative | multiphonon | quenching) decay rate of that level (optionally only to `final`),
  scaled proportionally; a quenching decay with an explicit final level is created if missing.

Combinations that the data cannot separate are refused: steady state and rise times depend on
the pump only through σ·I, so ``intensity_scale`` together with parameters that set *every* pump
cross-section (e.g. ``beta`` + ``sigma_esa``) is exactly degenerate; two parameters that edit the
same quantity conflict.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sim_devices.physics.dynamics import IntegrationError, rise_half_time_s
from sim_devices.physics.ensemble import SurfaceQuenching
from sim_devices.physics.model import RateModel
from sim_devices.physics.preset import Decay, LevelRef, LevelSyntaxError, Preset
from sim_devices.physics.steady import SteadyStateError, continuation, steady_state_curve
from sim_devices.physics.table import refine_s_peak

__all__ = [
    "FitParameter",
    "ModelFit",
    "ModelFitError",
    "PARAMETER_VOCABULARY",
    "edit_preset",
    "fit_scurve",
    "scurve_data_from_run",
]

FloatArray = NDArray[np.float64]

#: Fewest data points (S-curve) any fit accepts; more if many parameters are free.
MIN_POINTS = 8
#: Relative step (in the fit coordinate) for differencing compiled coefficients (central).
COEFFICIENT_STEP = 1e-4
#: Forward step (fit coordinate) for derivatives of rise times and derived quantities.
NUMERIC_STEP = 1e-4
#: Quenching of the emitting level per unit of the quenching factor, relative to the reservoir
#: term (Lee et al.: f₂/f₁ = 0.5/0.25 = 2.0 and 6.3/3.25 = 1.94 for the two quenched samples).
QUENCHING_EMITTER_RATIO = 2.0
#: Default bounds of a log parameter without explicit bounds: initial × / ÷ this.
DEFAULT_LOG_RANGE = 1e3
#: Default bounds of the intensity-calibration factor (covers the factor-2 ambiguity, §6).
DEFAULT_INTENSITY_SCALE_BOUNDS = (0.3, 3.0)
#: Default bounds of the quenching factor (Lee's most quenched sample: f₁ = 3.25).
DEFAULT_QUENCHING_BOUNDS = (0.0, 50.0)
#: Residual given to a trial point where the model has no steady state (rejects the step).
_FAILED_RESIDUAL = 1e6
#: Points of the fitted curve returned for plotting.
CURVE_POINTS = 400

_SOURCE_TAG = "experiments.scurve.model_fit"

#: name -> (unit, meaning) of the built-in parameter names (see the module docstring).
PARAMETER_VOCABULARY: dict[str, tuple[str, str]] = {
    "beta": ("", "sigma_ESA/sigma_GSA (GSA scaled, ESA kept)"),
    "sigma_esa": ("cm^2", "ESA cross-section (every ESA scaled, GSA kept)"),
    "cross_relaxation": ("1/s", "cross-relaxation rate k"),
    "quenching": ("", f"surface-quenching factor f (reservoir +f*W_ref, emitter "
                      f"+{QUENCHING_EMITTER_RATIO:g}f*W_ref)"),
    "signal_scale": ("counts/s per photon/s/ion", "collection efficiency x ions"),
    "intensity_scale": ("", "true / reported intensity"),
    "background": ("counts/s", "constant count-rate offset"),
}
_NUISANCE = ("signal_scale", "intensity_scale", "background")
_DECAY_KINDS = ("radiative", "multiphonon", "quenching")


class ModelFitError(ValueError):
    """The data or the parameter choice cannot support a model fit; the message says why."""


# ============================================================================ parameters


@dataclass(frozen=True)
class FitParameter:
    """One free quantity of the fit.

    Args:
        name: label of the parameter in results; also its path when `path` is None.
        path: what it edits — a vocabulary name (``"beta"``, ``"cross_relaxation"``,
            ``"quenching"``, ``"sigma_esa"``, ``"signal_scale"``, ``"intensity_scale"``,
            ``"background"``) or a generic path (``"absorption:GSA"``, ``"transfer:CR"``,
            ``"decay:radiative:Tm:3F4"``, ``"decay:quenching:Tm:3F4->3H6"``); see the module
            docstring for units.
        initial: start value in the parameter's unit (default: the preset's value; the signal
            scale and background default to a linear least-squares estimate).
        bounds: (lo, hi) in the parameter's unit (default: initial ÷/× 1000 for log parameters,
            0–50 for quenching, 0.3–3 for intensity_scale, unbounded for background).
        log: fit ln(value) (default True, except quenching and background, which may be 0 or
            negative). Log keeps positive quantities positive and makes steps relative.
        prior: optional Gaussian prior (centre, sigma) in the parameter's unit, added as an
            extra residual; for log parameters it acts on ln(value) with width sigma/centre
            (e.g. ``FitParameter("intensity_scale", prior=(1.0, 0.2))``: ±20 %).
    """

    name: str
    path: str | None = None
    initial: float | None = None
    bounds: tuple[float, float] | None = None
    log: bool | None = None
    prior: tuple[float, float] | None = None


Setter = Callable[[Preset, float], Preset]


@dataclass(frozen=True)
class _Resolved:
    """A FitParameter bound to one preset: how to read and write it."""

    name: str
    path: str
    unit: str
    log: bool
    lo: float
    hi: float
    initial: float
    prior: tuple[float, float] | None
    get: Callable[[Preset], float] | None  # None for nuisance parameters
    set: Setter | None
    targets: frozenset[tuple[str, ...]]
    phase: int  # edits are applied in increasing phase (beta last: it is relative to ESA)

    def to_fit(self, value: float) -> float:
        return math.log(value) if self.log else value

    def from_fit(self, u: float) -> float:
        return math.exp(u) if self.log else u

    @property
    def physical(self) -> bool:
        return self.path not in _NUISANCE


def _decays_matching(preset: Preset, kind: str, initial: LevelRef,
                     final: LevelRef | None) -> list[int]:
    return [i for i, d in enumerate(preset.decays)
            if d.kind == kind and d.initial == initial and (final is None or d.final == final)]


def _set_decay_total(kind: str, initial: LevelRef, final: LevelRef | None,
                     label: str) -> Setter:
    """Setter: the total rate of the matching decays becomes the value (proportional scaling;
    even split if they are all zero; a missing quenching decay with explicit final is added)."""

    def setter(preset: Preset, value: float) -> Preset:
        idx = _decays_matching(preset, kind, initial, final)
        decays = list(preset.decays)
        if not idx:
            if kind == "quenching" and final is not None:
                decays.append(Decay(initial, final, float(value), "quenching",
                                    source=f"{_SOURCE_TAG}: {label}"))
                return dataclasses.replace(preset, decays=tuple(decays))
            raise ModelFitError(f"{label}: no {kind} decay from {initial}")  # pragma: no cover
        total = sum(decays[i].rate_per_s for i in idx)
        for i in idx:
            share = decays[i].rate_per_s / total if total > 0 else 1.0 / len(idx)
            decays[i] = dataclasses.replace(decays[i], rate_per_s=float(value) * share)
        return dataclasses.replace(preset, decays=tuple(decays))

    return setter


def _transfer_index(preset: Preset, name: str, what: str) -> int:
    for i, tr in enumerate(preset.transfers):
        if tr.name == name:
            return i
    names = ", ".join(repr(t.name) for t in preset.transfers) or "none"
    raise ModelFitError(f"{what}: preset {preset.name!r} has no transfer {name!r} "
                        f"(transfers: {names})")


def _resolve(p: FitParameter, preset: Preset) -> _Resolved:
    """Bind a FitParameter to the preset: unit, getter/setter, defaults, targets (for conflicts)."""
    path = (p.path if p.path is not None else p.name).strip()
    what = f"parameter {p.name!r}"
    get: Callable[[Preset], float] | None = None
    set_: Setter | None = None
    targets: set[tuple[str, ...]] = set()
    phase = 0
    log_default = True
    default_bounds: tuple[float, float] | None = None

    if path == "beta":
        unit = ""
        gsa = [t.name for t in preset.pump_transitions if preset.is_gsa(t)]
        esa = [t.name for t in preset.pump_transitions if preset.is_esa(t)]
        if not gsa or not esa or not any(t.cross_section_cm2 > 0 for t in preset.pump_transitions
                                          if t.name in gsa):
            raise ModelFitError(f"{what}: beta needs a ground-state and an excited-state "
                                f"absorption with σ > 0 in preset {preset.name!r}")

        def get(pr: Preset) -> float:
            return pr.beta

        def set_(pr: Preset, value: float) -> Preset:
            g = max(t.cross_section_cm2 for t in pr.pump_transitions if pr.is_gsa(t))
            e = max(t.cross_section_cm2 for t in pr.pump_transitions if pr.is_esa(t))
            return pr.with_scaled_cross_sections((e / value) / g, pr.is_gsa)

        targets = {("pump", n) for n in gsa}
        phase = 1
    elif path == "sigma_esa":
        unit = "cm^2"
        esa = [t.name for t in preset.pump_transitions if preset.is_esa(t)]
        if not esa or max(t.cross_section_cm2 for t in preset.pump_transitions
                          if t.name in esa) <= 0:
            raise ModelFitError(f"{what}: preset {preset.name!r} has no excited-state absorption")

        def get(pr: Preset) -> float:
            return max(t.cross_section_cm2 for t in pr.pump_transitions if pr.is_esa(t))

        def set_(pr: Preset, value: float) -> Preset:
            return pr.with_scaled_cross_sections(value / get(pr), pr.is_esa)

        targets = {("pump", n) for n in esa}
    elif path == "cross_relaxation":
        unit = "1/s"
        cr = [i for i, t in enumerate(preset.transfers) if t.kind == "cross-relaxation"]
        if len(cr) != 1:
            names = ", ".join(repr(preset.transfers[i].name) for i in cr) or "none"
            raise ModelFitError(f"{what}: 'cross_relaxation' needs exactly one transfer of kind "
                                f"cross-relaxation in preset {preset.name!r} (found: {names}); "
                                "use path 'transfer:NAME'")
        index = cr[0]

        def get(pr: Preset) -> float:
            return pr.transfer_rate_per_s(pr.transfers[index])

        def set_(pr: Preset, value: float) -> Preset:
            tr = pr.transfers[index]
            if tr.rate_per_s is not None:
                new = dataclasses.replace(tr, rate_per_s=float(value))
            else:
                new = dataclasses.replace(tr, coefficient_cm3_per_s=float(value)
                                          / pr.density_cm3(tr.acceptor_initial.species))
            transfers = pr.transfers[:index] + (new,) + pr.transfers[index + 1:]
            return dataclasses.replace(pr, transfers=transfers)

        targets = {("transfer", preset.transfers[index].name)}
    elif path == "quenching":
        unit = ""
        log_default = False
        default_bounds = DEFAULT_QUENCHING_BOUNDS
        try:  # the channels and W_ref of the ensembles' Lee-form surface quenching
            surface = SurfaceQuenching.of(preset)
        except ValueError as exc:
            raise ModelFitError(f"{what}: {exc}") from None
        w_ref = surface.unit_rate_per_s
        # The fit sets the channels' *total* quenching (f, 2f on W_ref), so that get and set are
        # inverse; SurfaceQuenching.apply adds to it (the same for presets without quenching).
        terms = [(*preset.level_arrow(channel), ratio)
                 for channel, ratio in zip(surface.channels, (1.0, QUENCHING_EMITTER_RATIO))]
        reservoir, ground, _ = terms[0]
        setters = [(_set_decay_total("quenching", a, b, what), ratio) for a, b, ratio in terms]

        def get(pr: Preset) -> float:
            idx = _decays_matching(pr, "quenching", reservoir, ground)
            return sum(pr.decays[i].rate_per_s for i in idx) / w_ref

        def set_(pr: Preset, value: float) -> Preset:
            for setter, ratio in setters:
                pr = setter(pr, ratio * value * w_ref)
            return pr

        targets = {("decay", "quenching", str(a), str(b)) for a, b, _ in terms}
    elif path in ("signal_scale", "intensity_scale", "background"):
        unit = PARAMETER_VOCABULARY[path][0]
        log_default = path != "background"
        if path == "intensity_scale":
            default_bounds = DEFAULT_INTENSITY_SCALE_BOUNDS
        targets = {("nuisance", path)}
    elif path.startswith("absorption:"):
        name = path.split(":", 1)[1].strip()
        matches = [t for t in preset.pump_transitions if t.name == name]
        if not matches:
            names = ", ".join(repr(t.name) for t in preset.pump_transitions)
            raise ModelFitError(f"{what}: preset {preset.name!r} has no pump transition "
                                f"{name!r} (transitions: {names})")
        unit = "cm^2"

        def get(pr: Preset) -> float:
            return next(t.cross_section_cm2 for t in pr.pump_transitions if t.name == name)

        def set_(pr: Preset, value: float) -> Preset:
            pumps = tuple(dataclasses.replace(t, cross_section_cm2=float(value))
                          if t.name == name else t for t in pr.pump_transitions)
            return dataclasses.replace(pr, pump_transitions=pumps)

        targets = {("pump", name)}
    elif path.startswith("transfer:"):
        name = path.split(":", 1)[1].strip()
        index = _transfer_index(preset, name, what)
        field_name = ("rate_per_s" if preset.transfers[index].rate_per_s is not None
                      else "coefficient_cm3_per_s")
        unit = "1/s" if field_name == "rate_per_s" else "cm^3/s"

        def get(pr: Preset) -> float:
            return float(getattr(pr.transfers[index], field_name))

        def set_(pr: Preset, value: float) -> Preset:
            new = dataclasses.replace(pr.transfers[index], **{field_name: float(value)})
            return dataclasses.replace(pr, transfers=pr.transfers[:index] + (new,)
                                       + pr.transfers[index + 1:])

        targets = {("transfer", name)}
    elif path.startswith("decay:"):
        parts = path.split(":", 2)
        if len(parts) != 3 or parts[1] not in _DECAY_KINDS:
            raise ModelFitError(f"{what}: decay path {path!r} must be 'decay:KIND:Species:level' "
                                f"or 'decay:KIND:Species:level->final', KIND one of "
                                f"{', '.join(_DECAY_KINDS)}")
        kind, rest = parts[1], parts[2]
        final: LevelRef | None = None
        try:
            if "->" in rest:
                initial, final = preset.level_arrow(rest)
            else:
                initial = preset.level(rest)
        except LevelSyntaxError as exc:
            raise ModelFitError(f"{what}: {exc}") from None
        if not _decays_matching(preset, kind, initial, final) and not (
                kind == "quenching" and final is not None):
            raise ModelFitError(f"{what}: preset {preset.name!r} has no {kind} decay from "
                                f"{initial}{'' if final is None else f' to {final}'}")
        unit = "1/s"
        log_default = kind != "quenching"

        def get(pr: Preset) -> float:
            return float(sum(pr.decays[i].rate_per_s
                             for i in _decays_matching(pr, kind, initial, final)))

        set_ = _set_decay_total(kind, initial, final, what)
        targets = {("decay", kind, str(initial), "*" if final is None else str(final))}
    else:
        known = ", ".join(PARAMETER_VOCABULARY)
        raise ModelFitError(f"unknown fit parameter {path!r} (parameter {p.name!r}); known names: "
                            f"{known}; generic paths: 'absorption:NAME', 'transfer:NAME', "
                            "'decay:KIND:Species:level[->final]'")

    log = log_default if p.log is None else bool(p.log)
    start = p.initial
    if start is None:
        if get is not None:
            start = float(get(preset))
        elif path == "intensity_scale":
            start = 1.0
        else:
            start = math.nan  # signal scale / background: estimated from the data later
    if math.isfinite(start) and log and start <= 0:
        if p.initial is not None:
            raise ModelFitError(f"{what}: a log parameter needs a positive initial value, "
                                f"got {start!r}")
        raise ModelFitError(f"{what}: the preset's value is {start!r}; a log parameter needs "
                            "a positive initial value (pass initial=, or log=False)")
    if p.bounds is not None:
        lo, hi = (float(b) for b in p.bounds)
    elif default_bounds is not None:
        lo, hi = default_bounds
    elif log and math.isfinite(start):
        lo, hi = start / DEFAULT_LOG_RANGE, start * DEFAULT_LOG_RANGE
    elif log:
        lo, hi = 0.0, math.inf  # signal scale: set after the data estimate
    else:
        lo, hi = -math.inf, math.inf
    if not lo < hi:
        raise ModelFitError(f"{what}: bounds must satisfy lo < hi, got ({lo!r}, {hi!r})")
    if log and lo < 0:
        raise ModelFitError(f"{what}: a log parameter needs bounds ≥ 0, got ({lo!r}, {hi!r})")
    if math.isfinite(start) and not lo <= start <= hi:
        raise ModelFitError(f"{what}: initial value {start!r} is outside the bounds "
                            f"({lo!r}, {hi!r})")
    if p.prior is not None:
        centre, width = (float(v) for v in p.prior)
        if not (width > 0 and math.isfinite(width)) or (log and not centre > 0):
            raise ModelFitError(f"{what}: prior must be (centre, sigma) with sigma > 0"
                                f"{' and centre > 0 (log parameter)' if log else ''}, "
                                f"got {p.prior!r}")
    return _Resolved(p.name, path, unit, log, lo, hi, start, p.prior, get, set_,
                     frozenset(targets), phase)


def _check_combination(params: Sequence[_Resolved], preset: Preset) -> None:
    """Refuse duplicate names, conflicting edits and the exact σ·I degeneracy."""
    seen: dict[str, str] = {}
    for p in params:
        if p.name in seen:
            raise ModelFitError(f"parameter name {p.name!r} is used twice")
        seen[p.name] = p.path
    for i, a in enumerate(params):
        for b in params[i + 1:]:
            for ta in a.targets:
                for tb in b.targets:
                    same = ta == tb or (ta[0] == tb[0] == "decay" and ta[1:3] == tb[1:3]
                                        and "*" in (ta[3], tb[3]))
                    if same:
                        raise ModelFitError(f"parameters {a.name!r} and {b.name!r} both edit "
                                            f"{' '.join(ta[:3])}; free only one of them")
    if any(p.path == "intensity_scale" for p in params):
        pumps = {t.name for t in preset.pump_transitions}
        written = {t[1] for p in params for t in p.targets if t[0] == "pump"}
        if pumps and pumps <= written:
            names = ", ".join(p.name for p in params if any(t[0] == "pump" for t in p.targets))
            raise ModelFitError(
                f"intensity_scale cannot be free together with {names}: the model depends on the "
                "pump only through σ·I, so a common factor on every cross-section and on the "
                "intensity is exactly degenerate; fix one of them (or give intensity_scale a "
                "prior and fix a cross-section)")


def edit_preset(preset: Preset, values: Mapping[str, float]) -> Preset:
    """A copy of `preset` with vocabulary or generic-path quantities set (``{"beta": 4500,
    "quenching": 0.25}``), exactly as the fit edits it — e.g. to build a "what if" sample for
    the simulated bench, or the truth of a test. Units as in the module docstring; nuisance
    names (signal_scale, …) are not preset quantities and are refused."""
    params = [_resolve(FitParameter(name, log=False), preset) for name in values]
    for p, v in zip(params, values.values()):
        if not p.physical:
            raise ModelFitError(f"{p.name!r} is a property of the measurement, not of the preset")
        if not (math.isfinite(v) and v >= 0) or (p.path == "beta" and v == 0):
            raise ModelFitError(f"{p.name!r}: value must be finite and >= 0 (> 0 for beta), "
                                f"got {v!r}")
    _check_combination(params, preset)
    out = preset
    for phase in (0, 1):
        for p, v in zip(params, values.values()):
            if p.phase == phase:
                out = p.set(out, float(v))
    return out


# ============================================================================ result


@dataclass(frozen=True, eq=False)  # eq=False: array fields
class ModelFit:
    """Result of :func:`fit_scurve`.

    Parameter values are in their units (``units``); uncertainties are 1σ. `covariance` and
    `correlation` are in the fit coordinates (ln value for log parameters; the correlation is the
    same in value coordinates to first order). Intensities are the *reported* (measured) ones;
    the fitted preset lives on the true scale (``intensity_scale`` × reported).
    """

    names: tuple[str, ...]
    paths: tuple[str, ...]
    units: tuple[str, ...]
    log: tuple[bool, ...]
    values: FloatArray
    sigmas: FloatArray
    initial: FloatArray
    covariance: FloatArray = field(repr=False)
    correlation: FloatArray = field(repr=False)
    chi2: float
    dof: int
    covariance_scaled: bool
    at_bound: tuple[str, ...]
    fitted_preset: Preset = field(repr=False)
    temperature_K: float
    line: str
    #: The data (sorted by nothing: input order) and the model at the data points (counts/s).
    intensity_kW_cm2: FloatArray = field(repr=False)
    rate_cps: FloatArray = field(repr=False)
    rate_sigma_cps: FloatArray = field(repr=False)
    fitted_rate_cps: FloatArray = field(repr=False)
    #: The fitted curve on a dense log grid over the measured range (reported intensities).
    curve_intensity_kW_cm2: FloatArray = field(repr=False)
    curve_rate_cps: FloatArray = field(repr=False)
    #: Rise-time data (empty without) and the model's t½ there (s).
    rise_intensity_kW_cm2: FloatArray = field(repr=False)
    rise_half_time_s: FloatArray = field(repr=False)
    rise_sigma_s: FloatArray = field(repr=False)
    fitted_rise_half_time_s: FloatArray = field(repr=False)
    #: name -> (value, 1σ, unit) of quantities derived from the fitted preset.
    derived: dict[str, tuple[float, float, str]]
    n_evaluations: int
    elapsed_s: float
    message: str

    # --- access ------------------------------------------------------------------------------
    @property
    def reduced_chi2(self) -> float:
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no fitted parameter {name!r}; fitted: {', '.join(self.names)}") from None

    def value(self, name: str) -> float:
        """Best value of a parameter (its unit)."""
        return float(self.values[self._index(name)])

    def sigma(self, name: str) -> float:
        """1σ uncertainty of a parameter (its unit)."""
        return float(self.sigmas[self._index(name)])

    @property
    def parameters(self) -> dict[str, tuple[float, float, str]]:
        """name -> (value, 1σ, unit)."""
        return {n: (float(v), float(s), u)
                for n, v, s, u in zip(self.names, self.values, self.sigmas, self.units)}

    @property
    def normalised_residuals(self) -> FloatArray:
        """(model − rate)/sigma at every S-curve point (input order)."""
        return (self.fitted_rate_cps - self.rate_cps) / self.rate_sigma_cps

    def as_records(self) -> dict[str, tuple[float, str]]:
        """Scalar results as ``name -> (value, unit)`` for storage (unit "" = dimensionless)."""
        records: dict[str, tuple[float, str]] = {}
        for n, v, s, u in zip(self.names, self.values, self.sigmas, self.units):
            records[f"fit_{n}"] = (float(v), u)
            records[f"fit_{n}_sigma"] = (float(s), u)
        for n, (v, s, u) in self.derived.items():
            records[f"fit_{n}"] = (v, u)
            # 0 would read as "known exactly"; it means "not moved by the fit": not determined.
            records[f"fit_{n}_sigma"] = (s if s != 0.0 else math.nan, u)
        records["fit_chi2"] = (self.chi2, "")
        records["fit_dof"] = (float(self.dof), "")
        records["fit_reduced_chi2"] = (self.reduced_chi2, "")
        return records

    def s_peak_reported_kW_cm2(self) -> float:
        """Intensity of the fitted S peak on the reported (measured) scale, kW/cm²."""
        value = self.derived.get("threshold_s_peak_reported_kW_cm2",
                                 self.derived.get("threshold_s_peak_kW_cm2"))
        return float(value[0]) if value is not None else math.nan

    def failures(self) -> list[str]:
        """Why this fit cannot be trusted (empty if it can): a parameter pinned at a bound, a
        direction the data do not constrain (singular covariance), a 1σ larger than the value
        itself, an S peak outside the measured intensities (the S-curve does not reach or
        cover the threshold, so S_max and the threshold are extrapolations), or an unphysical
        result (a collection efficiency above 1). A run stopped early (`avlab recover`) gives
        such fits; their numbers must not be reported as results."""
        reasons = []
        if self.at_bound:
            reasons.append(f"parameter(s) at a bound of their range: {', '.join(self.at_bound)}")
        for n, v, sd, is_log in zip(self.names, self.values, self.sigmas, self.log):
            if not math.isfinite(sd):
                reasons.append(f"{n} is not constrained by the data (singular covariance)")
            elif is_log and sd > MAX_RELATIVE_SIGMA * abs(v):
                reasons.append(f"{n} = {_fmt(v)} ± {_fmt(sd)}: uncertainty larger than the value")
        for n in _CHECKED_DERIVED:
            if n not in self.derived:
                continue
            v, sd, _ = self.derived[n]
            if not math.isfinite(sd) or sd > MAX_RELATIVE_SIGMA * abs(v):
                reasons.append(f"{n} = {_fmt(v)} ± {_fmt(sd)}: uncertainty unbounded or larger "
                               "than the value")
        efficiency = self.derived.get("collection_efficiency")
        if efficiency is not None and not 0.0 < efficiency[0] <= 1.0:
            reasons.append(f"collection_efficiency = {_fmt(efficiency[0])} is unphysical (a "
                           "fraction of the emitted photons must be in (0, 1])")
        peak = self.s_peak_reported_kW_cm2()
        low, high = float(np.min(self.intensity_kW_cm2)), float(np.max(self.intensity_kW_cm2))
        if not low < peak < high:
            reasons.append(f"the S peak ({_fmt(peak)} kW/cm²) is not covered by the measured "
                           f"intensities {_fmt(low)} … {_fmt(high)} kW/cm²")
        return reasons

    def summary_lines(self) -> list[str]:
        """Human-readable results for the CLI."""
        lines = [f"model fit of preset {self.fitted_preset.name!r} ({self.line}, "
                 f"{self.temperature_K:g} K): {len(self.rate_cps)} S-curve points"
                 + (f" + {len(self.rise_half_time_s)} rise times" if len(self.rise_half_time_s)
                    else "")]
        for n, v, s, u in zip(self.names, self.values, self.sigmas, self.units):
            rel = f" ({100 * s / abs(v):.1f} %)" if v != 0 and math.isfinite(s) else ""
            flag = "  [at a bound: uncertainty not meaningful]" if n in self.at_bound else ""
            unit = f" {u}" if u else ""
            lines.append(f"  {n} = {_fmt(v)} ± {_fmt(s)}{unit}{rel}{flag}")
        scale = (f"uncertainties scaled by sqrt(chi2/dof) = {math.sqrt(self.reduced_chi2):.2f}"
                 if self.covariance_scaled else "uncertainties from the sigmas as given "
                 "(chi2/dof <= 1, not scaled)")
        lines.append(f"chi2/dof = {self.chi2:.1f}/{self.dof} = {self.reduced_chi2:.2f}; {scale}")
        strong = [(self.names[i], self.names[j], self.correlation[i, j])
                  for i in range(len(self.names)) for j in range(i + 1, len(self.names))
                  if abs(self.correlation[i, j]) >= 0.9]
        for a, b, r in strong:
            lines.append(f"  strong correlation {a} / {b}: {r:+.3f}")
        for n, (v, s, u) in self.derived.items():
            unit = f" {u}" if u else ""
            if s == 0.0:  # depends on no free parameter: fixed by the preset, not measured
                lines.append(f"  {n} = {_fmt(v)}{unit}  [derived from the preset's fixed "
                             "parameters: no free parameter moves it, no uncertainty]")
            else:
                lines.append(f"  {n} = {_fmt(v)} ± {_fmt(s)}{unit}  [fitted preset]")
        lines.append(f"{self.n_evaluations} model evaluations in {self.elapsed_s:.2f} s; "
                     f"{self.message}")
        return lines


#: A fitted quantity whose 1σ exceeds its own magnitude is not determined by the data.
MAX_RELATIVE_SIGMA = 1.0
#: Derived quantities whose relative 1σ is checked by `ModelFit.failures` (the background and
#: the scale-free ones are not: a background near 0 has a large relative error by nature).
_CHECKED_DERIVED = ("s_max", "threshold_s_peak_kW_cm2", "threshold_s_peak_reported_kW_cm2",
                    "collection_efficiency")


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-2):
        return f"{value:.3e}"
    return f"{value:.4g}"


# ============================================================================ the fit problem


@dataclass
class _Evaluation:
    residuals: FloatArray
    jacobian: FloatArray | None
    model_rate: FloatArray
    model_rise: FloatArray


class _Problem:
    """Residuals and Jacobian of one fit, with the last evaluation cached (fun + jac share it)."""

    def __init__(self, preset: Preset, params: list[_Resolved], temperature_K: float, line: str,
                 intensity: FloatArray, rate: FloatArray, sigma: FloatArray,
                 rise: tuple[FloatArray, FloatArray, FloatArray] | None) -> None:
        self.base = preset
        self.params = params
        self.T = temperature_K
        self.line = line
        self.intensity, self.rate, self.sigma = intensity, rate, sigma
        self.unique_I, self.inverse = np.unique(intensity, return_inverse=True)
        self.rise = rise
        self.physical = [i for i, p in enumerate(params) if p.physical]
        self.i_scale = self._find("signal_scale")
        self.i_kappa = self._find("intensity_scale")
        self.i_bg = self._find("background")
        self.priors = [(i, p) for i, p in enumerate(params) if p.prior is not None]
        self.n_evaluations = 0
        self._cache: tuple[bytes, bool, _Evaluation] | None = None

    def _find(self, path: str) -> int | None:
        return next((i for i, p in enumerate(self.params) if p.path == path), None)

    # --- parameters -> model -------------------------------------------------------------------
    def values(self, u: FloatArray) -> list[float]:
        return [p.from_fit(float(x)) for p, x in zip(self.params, u)]

    def preset_at(self, u: FloatArray) -> Preset:
        values = self.values(u)
        preset = self.base
        for phase in (0, 1):
            for i in self.physical:
                p = self.params[i]
                if p.phase == phase:
                    preset = p.set(preset, values[i])
        return preset

    def nuisance(self, u: FloatArray) -> tuple[float, float, float]:
        v = self.values(u)
        scale = v[self.i_scale] if self.i_scale is not None else 1.0
        kappa = v[self.i_kappa] if self.i_kappa is not None else 1.0
        bg = v[self.i_bg] if self.i_bg is not None else 0.0
        return scale, kappa, bg

    def steady(self, preset: Preset, intensities_true: FloatArray) -> tuple[RateModel, FloatArray,
                                                                             FloatArray, FloatArray]:
        """(model, Z, DZ, line row) on a strictly increasing true-intensity grid."""
        model = RateModel(preset, self.T)
        Z, DZ = continuation(model, intensities_true)
        row = model.line_matrix[model.line_names.index(self.line)]
        return model, Z, DZ, row

    def rise_times(self, model: RateModel, kappa: float) -> FloatArray:
        assert self.rise is not None
        return np.array([rise_half_time_s(model, kappa * float(i), line=self.line)
                         for i in self.rise[0]])

    # --- residuals -----------------------------------------------------------------------------
    def evaluate(self, u: FloatArray, jacobian: bool) -> _Evaluation:
        key = np.asarray(u, dtype=float).tobytes()
        if self._cache is not None and self._cache[0] == key and (self._cache[1] or not jacobian):
            return self._cache[2]
        self.n_evaluations += 1
        u = np.asarray(u, dtype=float)
        n_par = len(self.params)
        scale, kappa, bg = self.nuisance(u)
        preset = self.preset_at(u)
        n_rise = 0 if self.rise is None else len(self.rise[0])
        n_rows = len(self.rate) + n_rise + len(self.priors)
        try:
            model, Z, DZ, row = self.steady(preset, kappa * self.unique_I)
            e_unique = Z @ row
            model_rate = scale * e_unique[self.inverse] + bg
            rise_model = self.rise_times(model, kappa) if n_rise else np.zeros(0)
        except (SteadyStateError, IntegrationError, np.linalg.LinAlgError, FloatingPointError):
            failed = _Evaluation(np.full(n_rows, _FAILED_RESIDUAL),
                                 np.zeros((n_rows, n_par)) if jacobian else None,
                                 np.full(len(self.rate), np.nan), np.full(n_rise, np.nan))
            self._cache = (key, jacobian, failed)
            return failed
        res = [(model_rate - self.rate) / self.sigma]
        if n_rise:
            res.append((rise_model - self.rise[1]) / self.rise[2])
        for i, p in self.priors:
            res.append(np.array([_prior_residual(p, float(u[i]))]))
        residuals = np.concatenate(res)
        jac = None
        if jacobian:
            jac = np.zeros((n_rows, n_par))
            flux = kappa * self.unique_I * model.flux_per_kW_cm2
            d_rate = self.steady_derivatives(u, model, Z, flux, row)  # (N_unique, n_physical)
            for col, i in enumerate(self.physical):
                jac[:len(self.rate), i] = scale * d_rate[self.inverse, col]
            if self.i_scale is not None:
                factor = scale if self.params[self.i_scale].log else 1.0
                jac[:len(self.rate), self.i_scale] = factor * e_unique[self.inverse]
            if self.i_kappa is not None:
                factor = kappa if self.params[self.i_kappa].log else 1.0
                d_e = (DZ @ row) * flux / kappa  # de/dκ
                jac[:len(self.rate), self.i_kappa] = scale * factor * d_e[self.inverse]
            if self.i_bg is not None:
                jac[:len(self.rate), self.i_bg] = 1.0
            jac[:len(self.rate)] /= self.sigma[:, None]
            if n_rise:
                start = len(self.rate)
                for i in self.physical + ([self.i_kappa] if self.i_kappa is not None else []):
                    shifted = u.copy()
                    shifted[i] += NUMERIC_STEP
                    _, k2, _ = self.nuisance(shifted)
                    t2 = self.rise_times(RateModel(self.preset_at(shifted), self.T), k2)
                    jac[start:start + n_rise, i] = (t2 - rise_model) / NUMERIC_STEP / self.rise[2]
            for r, (i, p) in enumerate(self.priors):
                jac[len(self.rate) + n_rise + r, i] = _prior_derivative(p)
        evaluation = _Evaluation(residuals, jac, model_rate, rise_model)
        self._cache = (key, jacobian, evaluation)
        return evaluation

    def steady_derivatives(self, u: FloatArray, model: RateModel, Z: FloatArray,
                           flux: FloatArray, row: FloatArray) -> FloatArray:
        """d(emission per ion)/du for every physical parameter at every distinct intensity.

        Implicit differentiation of f(z; θ) = 0: dz/dθ = −J⁻¹·∂f/∂θ, with ∂f/∂θ from central
        differences of the compiled coefficients (they are polynomial in every rate and
        cross-section, so the difference is accurate to ~1e-8 and costs no steady-state solve).
        """
        if not self.physical:
            return np.zeros((len(flux), 0))
        J = (model.M0[None] + flux[:, None, None] * model.M1[None]
             + np.einsum("ijk,nk->nij", model.G, Z))
        columns = []
        for i in self.physical:
            h = COEFFICIENT_STEP
            up, down = u.copy(), u.copy()
            up[i] += h
            down[i] -= h
            m_up, m_down = RateModel(self.preset_at(up), self.T), RateModel(self.preset_at(down),
                                                                            self.T)

            def diff(name: str) -> FloatArray:
                return (getattr(m_up, name) - getattr(m_down, name)) / (2 * h)

            dc0, dc1, dM0, dM1, dH = (diff(n) for n in ("c0", "c1", "M0", "M1", "H"))
            dfdtheta = (dc0[None] + flux[:, None] * dc1[None] + Z @ dM0.T
                        + flux[:, None] * (Z @ dM1.T) + np.einsum("ijk,nj,nk->ni", dH, Z, Z))
            dz = -np.linalg.solve(J, dfdtheta[..., None])[..., 0]
            columns.append(dz @ row)
        return np.stack(columns, axis=1)


def _prior_residual(p: _Resolved, u: float) -> float:
    centre, width = p.prior  # type: ignore[misc]
    if p.log:
        return (u - math.log(centre)) / (width / centre)
    return (u - centre) / width


def _prior_derivative(p: _Resolved) -> float:
    centre, width = p.prior  # type: ignore[misc]
    return 1.0 / (width / centre) if p.log else 1.0 / width


# ============================================================================ derived quantities


def _s_peak(preset: Preset, temperature_K: float, line: str) -> tuple[float, float, float]:
    """(S_max, I at the S peak, loop threshold), intensities in kW/cm² (true scale).

    Coarse continuation (120 points, 4 % apart, over ±1 decade around the loop threshold; wider
    if the peak is at an edge), then a dense continuation across the two cells around the
    coarse maximum and a parabola through the top three exact slopes (``refine_s_peak``, as
    ``EmissionTable.s_max_refined``) without building a 1,500-point table (≈ 20 ms).
    """
    model = RateModel(preset, temperature_K)
    loop = model.loop_threshold_kW_cm2()
    centre = loop if math.isfinite(loop) and loop > 0 else 10.0
    for decades in (1.0, 2.5):  # a wider search if the peak is not within a decade
        grid = np.geomspace(centre / 10**decades, centre * 10**decades, int(120 * decades))
        coarse = steady_state_curve(model, grid, line=line)
        if 0 < np.argmax(np.fmax(coarse.slope, -np.inf)) < len(grid) - 1:
            break
    peak, i_peak = refine_s_peak(model, grid, coarse.slope, coarse.populations, line=line,
                                 points=81)
    return peak, i_peak, float(loop)


def _derived(problem: _Problem, u: FloatArray, cov: FloatArray) -> dict[str, tuple[float, float, str]]:
    """Quantities of the fitted preset with 1σ by first-order propagation of the covariance."""
    scale, _, _ = problem.nuisance(u)
    preset = problem.preset_at(u)

    def quantities(uu: FloatArray) -> FloatArray:
        _, kap, _ = problem.nuisance(uu)
        pr = problem.preset_at(uu)
        s_max, i_peak, loop = _s_peak(pr, problem.T, problem.line)
        return np.array([s_max, i_peak, loop, i_peak / kap, loop / kap, pr.beta])

    base = quantities(u)
    moving = problem.physical + ([problem.i_kappa] if problem.i_kappa is not None else [])
    grad = np.zeros((len(base), len(u)))
    step = 10 * NUMERIC_STEP  # the S-peak refinement is accurate to ~1e-7
    for i in moving:
        shifted = u.copy()
        shifted[i] += step
        grad[:, i] = (quantities(shifted) - base) / step
    finite = np.isfinite(cov)
    var = np.einsum("qi,ij,qj->q", grad, np.where(finite, cov, 0.0), grad)
    unconstrained = np.any(~finite & (np.abs(grad[:, :, None] * grad[:, None, :]) > 0), axis=(1, 2))
    sig = np.where(unconstrained, np.inf, np.sqrt(np.maximum(var, 0.0)))
    out: dict[str, tuple[float, float, str]] = {
        "s_max": (float(base[0]), float(sig[0]), ""),
        "threshold_s_peak_kW_cm2": (float(base[1]), float(sig[1]), "kW/cm^2"),
        "threshold_loop_kW_cm2": (float(base[2]), float(sig[2]), "kW/cm^2"),
    }
    if problem.i_kappa is not None:
        out["threshold_s_peak_reported_kW_cm2"] = (float(base[3]), float(sig[3]), "kW/cm^2")
        out["threshold_loop_reported_kW_cm2"] = (float(base[4]), float(sig[4]), "kW/cm^2")
    edits_pump = any(t[0] == "pump" for p in problem.params for t in p.targets)
    if edits_pump and not any(p.path == "beta" for p in problem.params):
        out["beta"] = (float(base[5]), float(sig[5]), "")
    ions = preset.ions_of(preset.line_named(problem.line).upper.species)
    if problem.i_scale is not None and ions > 0:
        i = problem.i_scale
        rel = math.sqrt(cov[i, i]) if problem.params[i].log else math.sqrt(cov[i, i]) / scale
        out["collection_efficiency"] = (scale / ions, scale / ions * rel, "")
    return out


# ============================================================================ entry points


def _as_1d(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ModelFitError(f"{name} must be a 1-d array, got shape {arr.shape}")
    return arr


def _validate_data(intensity_kW_cm2: ArrayLike, rate_cps: ArrayLike,
                   rate_sigma_cps: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    intensity = _as_1d(intensity_kW_cm2, "intensity_kW_cm2")
    rate = _as_1d(rate_cps, "rate_cps")
    sigma = _as_1d(rate_sigma_cps, "rate_sigma_cps")
    if not len(intensity) == len(rate) == len(sigma):
        raise ModelFitError(f"intensity_kW_cm2, rate_cps and rate_sigma_cps need equal lengths, "
                            f"got {len(intensity)}, {len(rate)}, {len(sigma)}")
    bad = np.flatnonzero(~(np.isfinite(intensity) & (intensity > 0)))
    if bad.size:
        raise ModelFitError(f"intensity_kW_cm2 must be finite and > 0 (kW/cm²); point {bad[0]} is "
                            f"{intensity[bad[0]]!r}")
    bad = np.flatnonzero(~np.isfinite(rate))
    if bad.size:
        raise ModelFitError(f"rate_cps must be finite; point {bad[0]} is {rate[bad[0]]!r}")
    bad = np.flatnonzero(~(np.isfinite(sigma) & (sigma > 0)))
    if bad.size:
        raise ModelFitError(f"rate_sigma_cps must be finite and > 0 (counts/s) at every point: the "
                            f"fit weights each point by 1/sigma²; point {bad[0]} has "
                            f"{sigma[bad[0]]!r}")
    return intensity, rate, sigma


def _validate_rise(rise_times: object) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    if rise_times is None:
        return None
    arr = np.asarray(rise_times, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 3 and arr.shape[0] != 3:
        arr = arr.T
    if arr.ndim != 2 or arr.shape[0] != 3 or arr.shape[1] < 1:
        raise ModelFitError("rise_times must be (intensity_kW_cm2, t_half_s, sigma_s) arrays "
                            f"(or N triples), got shape {np.shape(rise_times)}")
    i, t, s = arr
    if not (np.all(np.isfinite(i)) and np.all(i > 0)):
        raise ModelFitError("rise_times: intensities must be finite and > 0 (kW/cm²)")
    if not (np.all(np.isfinite(t)) and np.all(t > 0)):
        raise ModelFitError("rise_times: t½ values must be finite and > 0 (s)")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ModelFitError("rise_times: every t½ needs a finite 1σ > 0 (s)")
    return i.copy(), t.copy(), s.copy()


def fit_scurve(
    preset: Preset | str,
    intensity_kW_cm2: ArrayLike,
    rate_cps: ArrayLike,
    rate_sigma_cps: ArrayLike,
    free: Sequence[FitParameter | str],
    *,
    temperature_K: float | None = None,
    rise_times: ArrayLike | None = None,
    line: str | None = None,
    max_evaluations: int = 200,
) -> ModelFit:
    """Fit free parameters of `preset` to a measured S-curve (and optionally rise times).

    Args:
        preset: the starting model (a Preset, or a shipped preset's name); its non-free
            quantities are held fixed.
        intensity_kW_cm2: reported peak pump intensity of each point (kW/cm², > 0, any order;
            up- and down-sweep repeats are fine).
        rate_cps: dark-subtracted signal (counts/s; may be ≤ 0 below threshold).
        rate_sigma_cps: its 1σ (counts/s, > 0).
        free: parameters to fit — FitParameter objects or plain names (``"beta"``); see the
            module docstring. ``signal_scale`` is added if absent (it is always unknown).
        temperature_K: sample temperature (default: the preset's reference temperature).
        rise_times: optional measured t½ (docs/physics.md §3): (intensities kW/cm², t½ s, 1σ s) as
            three arrays or N triples, on the same reported-intensity scale as the S-curve.
        line: emission line the detector sees (default: the preset's main line).
        max_evaluations: cap on residual evaluations of the optimiser.

    Returns:
        ModelFit with values, 1σ, correlations, χ², the fitted preset and derived quantities.

    Raises:
        ModelFitError: bad data (lengths, non-positive intensity or sigma, too few points),
            unknown parameter or transition names, bad bounds/priors, conflicting or exactly
            degenerate parameter sets.
    """
    from scipy.optimize import least_squares  # lazy: scipy is heavy

    started = time.perf_counter()
    if isinstance(preset, str):
        from sim_devices.physics import get_preset

        try:
            preset = get_preset(preset)
        except KeyError as exc:
            raise ModelFitError(str(exc)) from None
    intensity, rate, sigma = _validate_data(intensity_kW_cm2, rate_cps, rate_sigma_cps)
    rise = _validate_rise(rise_times)
    if line is None:
        line = preset.main_line
    else:
        try:
            line = preset.line_named(line).name
        except KeyError as exc:
            raise ModelFitError(str(exc)) from None
    T = float(preset.reference_temperature_K if temperature_K is None else temperature_K)

    requested = [FitParameter(p) if isinstance(p, str) else p for p in free]
    if not requested:
        raise ModelFitError("free is empty: name at least one preset parameter to fit")
    for p in requested:
        if not isinstance(p, FitParameter):
            raise ModelFitError(f"free must hold FitParameter objects or names, got {p!r}")
    if not any((p.path or p.name) == "signal_scale" for p in requested):
        requested.append(FitParameter("signal_scale"))
    params = [_resolve(p, preset) for p in requested]
    _check_combination(params, preset)
    if not any(p.physical for p in params):
        raise ModelFitError("no preset parameter is free (only nuisance parameters): nothing to "
                            "learn about the physics")
    n_free = len(params)
    n_needed = max(MIN_POINTS, n_free + 2)
    if len(np.unique(intensity)) < n_needed:
        raise ModelFitError(f"too few points: {len(np.unique(intensity))} distinct intensities for "
                            f"{n_free} free parameters (need >= {n_needed})")

    params = _initial_linear(params, preset, T, line, intensity, rate, sigma)
    problem = _Problem(preset, params, T, line, intensity, rate, sigma, rise)
    lo = np.array([p.to_fit(p.lo) if not (p.log and p.lo == 0) else -np.inf for p in params])
    hi = np.array([p.to_fit(p.hi) if math.isfinite(p.hi) else np.inf for p in params])
    x0 = np.array([p.to_fit(p.initial) for p in params])
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    x0 = np.clip(x0, lo + 1e-9 * span, hi - 1e-9 * span)

    def solve(pr: _Problem, start: FloatArray) -> object:
        return least_squares(
            lambda x: pr.evaluate(x, False).residuals,
            start,
            jac=lambda x: pr.evaluate(x, True).jacobian,
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            max_nfev=max_evaluations,
        )

    n_evaluations = 0
    if rise is not None:
        # Rise times cost ~4 ms each (LSODA) and their Jacobian is differenced, so converge on
        # the S-curve alone first (~10 ms per evaluation) and let the joint fit only polish.
        scurve_only = _Problem(preset, params, T, line, intensity, rate, sigma, None)
        x0 = np.clip(np.asarray(solve(scurve_only, x0).x, dtype=float), lo, hi)
        n_evaluations += scurve_only.n_evaluations
    result = solve(problem, x0)
    u = np.asarray(result.x, dtype=float)
    final = problem.evaluate(u, True)
    if not np.all(np.isfinite(final.model_rate)):
        raise ModelFitError("the model has no steady state at the optimum (parameters far out of "
                            "range?); narrow the bounds or start closer")
    J = final.jacobian
    assert J is not None
    chi2 = float(final.residuals @ final.residuals)
    n_rows = len(final.residuals)
    dof = n_rows - n_free
    cov = _covariance(J)
    reduced = chi2 / dof if dof > 0 else math.nan
    scaled = bool(dof > 0 and reduced > 1.0)
    if scaled:
        cov = cov * reduced
    sd_u = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd_u, sd_u)
    values = np.array(problem.values(u))
    sigmas = np.array([v * s if p.log else s for p, v, s in zip(params, values, sd_u)])
    span_tol = 1e-6
    at_bound = tuple(p.name for p, x, a, b in zip(params, u, lo, hi)
                     if (np.isfinite(a) and x - a <= span_tol * max(1.0, abs(a)))
                     or (np.isfinite(b) and b - x <= span_tol * max(1.0, abs(b))))

    best = problem.preset_at(u)
    fitted = dataclasses.replace(
        best, name=f"{preset.name}_fit",
        description=f"{preset.description} — fitted by avlab ({', '.join(p.name for p in params if p.physical)})")
    scale, kappa, bg = problem.nuisance(u)
    curve_I = np.geomspace(float(intensity.min()), float(intensity.max()), CURVE_POINTS)
    _, Zc, _, row = problem.steady(best, kappa * curve_I)
    curve_rate = scale * (Zc @ row) + bg
    derived = _derived(problem, u, cov)
    empty = np.zeros(0)
    return ModelFit(
        names=tuple(p.name for p in params),
        paths=tuple(p.path for p in params),
        units=tuple(p.unit for p in params),
        log=tuple(p.log for p in params),
        values=values,
        sigmas=sigmas,
        initial=np.array([p.initial for p in params]),
        covariance=cov,
        correlation=corr,
        chi2=chi2,
        dof=dof,
        covariance_scaled=scaled,
        at_bound=at_bound,
        fitted_preset=fitted,
        temperature_K=T,
        line=line,
        intensity_kW_cm2=intensity,
        rate_cps=rate,
        rate_sigma_cps=sigma,
        fitted_rate_cps=final.model_rate,
        curve_intensity_kW_cm2=curve_I,
        curve_rate_cps=curve_rate,
        rise_intensity_kW_cm2=rise[0] if rise is not None else empty,
        rise_half_time_s=rise[1] if rise is not None else empty,
        rise_sigma_s=rise[2] if rise is not None else empty,
        fitted_rise_half_time_s=final.model_rise,
        derived=derived,
        n_evaluations=n_evaluations + problem.n_evaluations,
        elapsed_s=time.perf_counter() - started,
        message=str(result.message),
    )


def _covariance(J: FloatArray) -> FloatArray:
    """(JᵀJ)⁻¹ by SVD; directions the data do not constrain get infinite variance."""
    _, s, vt = np.linalg.svd(J, full_matrices=False)
    tiny = s.max() * max(J.shape) * np.finfo(float).eps if s.size else 0.0
    with np.errstate(divide="ignore"):
        inv = np.where(s > tiny, 1.0 / s**2, np.inf)
    finite = np.isfinite(inv)
    cov = (vt[finite].T * inv[finite]) @ vt[finite]
    if not finite.all():  # unconstrained directions: infinite variance along them
        for v in vt[~finite]:
            cov = cov + np.where(np.outer(v, v) != 0, np.inf, 0.0)
    return cov


def _initial_linear(params: list[_Resolved], preset: Preset, T: float, line: str,
                    intensity: FloatArray, rate: FloatArray, sigma: FloatArray) -> list[_Resolved]:
    """Start values of signal_scale (and background) without one: linear least squares of the
    data against the starting model's emission (the scale is unknown by orders of magnitude)."""
    i_scale = next(i for i, p in enumerate(params) if p.path == "signal_scale")
    i_bg = next((i for i, p in enumerate(params) if p.path == "background"), None)
    need_scale = not math.isfinite(params[i_scale].initial)
    need_bg = i_bg is not None and not math.isfinite(params[i_bg].initial)
    if not (need_scale or need_bg):
        return params
    problem = _Problem(preset, params, T, line, intensity, rate, sigma, None)
    u0 = np.array([p.to_fit(p.initial) if math.isfinite(p.initial) else 0.0 for p in params])
    if need_scale:
        u0[i_scale] = 0.0 if params[i_scale].log else 1.0
    _, kappa, _ = problem.nuisance(u0)
    try:
        _, Z, _, row = problem.steady(problem.preset_at(u0), kappa * problem.unique_I)
    except SteadyStateError as exc:  # pragma: no cover - presets in range always solve
        raise ModelFitError(f"the starting model has no steady state: {exc}") from None
    e = (Z @ row)[problem.inverse]
    w = 1.0 / sigma**2
    bg_fixed = 0.0 if i_bg is None or need_bg else params[i_bg].initial
    if need_bg and need_scale:
        design = np.stack([e, np.ones_like(e)], axis=1) * np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(design, rate * np.sqrt(w), rcond=None)
        scale_est, bg_est = float(coef[0]), float(coef[1])
    elif need_bg:  # the scale is given: only the background is estimated
        scale_est = params[i_scale].initial
        bg_est = float(np.sum(w * (rate - scale_est * e)) / np.sum(w))
    else:
        scale_est = float(np.sum(w * e * (rate - bg_fixed)) / np.sum(w * e * e))
        bg_est = bg_fixed
    if not scale_est > 0:
        scale_est = float(np.max(rate) / max(np.max(e), 1e-300))
    if not scale_est > 0:
        raise ModelFitError("the data show no positive signal: cannot estimate the signal scale")
    out = list(params)
    if need_scale:
        p = params[i_scale]
        lo, hi = (p.lo, p.hi) if p.lo > 0 and math.isfinite(p.hi) else (
            scale_est / DEFAULT_LOG_RANGE**2, scale_est * DEFAULT_LOG_RANGE**2)
        out[i_scale] = dataclasses.replace(p, initial=float(np.clip(scale_est, lo, hi)), lo=lo, hi=hi)
    if need_bg:
        out[i_bg] = dataclasses.replace(params[i_bg], initial=bg_est)
    return out


def scurve_data_from_run(run: object) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(intensity_kW_cm2, signal_cps, signal_sigma_cps) of a stored S-curve run
    (:class:`avlab.storage.RunData` from ``read_run``), ready for :func:`fit_scurve`.

    Both sweep directions are returned (a monostable sample gives the same rate on both);
    points without an intensity (meter at its noise floor) are left out."""
    columns = getattr(run, "columns", None)
    if not isinstance(columns, dict):
        raise ModelFitError("expected a RunData (avlab.storage.read_run) with S-curve columns")
    needed = ("intensity_kW_cm2", "signal_cps", "signal_sigma_cps")
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ModelFitError(f"run has no column(s) {', '.join(missing)}: not an S-curve run "
                            f"(columns: {', '.join(columns)})")
    from .report import with_intensity

    keep = with_intensity(columns)
    return tuple(np.asarray(columns[c], dtype=float)[keep]  # type: ignore[return-value]
                 for c in needed)
