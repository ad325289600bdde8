"""Lab-setup configuration (TOML): roles, drivers, resources, safety limits, optics.

A config is checked completely when it is loaded — syntax, role kinds, unknown drivers or
keys, resource syntax, missing or impossible limits, fault names, each driver's own checks
(its spec, avlab/specs.py) — and every problem is reported with the file and the key, before
any instrument is touched. Roles are named freely; each gives its `kind` (old fixed role names
such as `pump_1064` or `detector` imply it). With no config avlab uses the built-in simulated bench
(`experiments/labs/simulated.toml`).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from . import resources as resource_syntax
from .roles import KINDS, LASER, LIMITS, legacy_kind
from .specs import ConfigProblem, DriverSpec, driver_spec, driver_specs

SIM_RESOURCE = "sim"
BUILTIN_CONFIG_NAME = "<built-in simulated bench>"


class ConfigError(ValueError):
    """A lab config that cannot be used. The message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem)


@dataclass(frozen=True)
class OpticsConfig:
    """The optics between the power-meter plane and the sample."""

    numerical_aperture: float
    transmission_to_sample: float
    spot_waist_um: float | None = None

    def waist_um(self, wavelength_nm: float) -> float:
        """1/e² radius of the pump focus: as configured, or w0 = λ/(2·NA·√(2 ln 2))."""
        if self.spot_waist_um is not None:
            return self.spot_waist_um
        from .analysis.optics import gaussian_waist_um

        return gaussian_waist_um(wavelength_nm, self.numerical_aperture)


@dataclass(frozen=True)
class InstrumentConfig:
    role: str
    driver: str
    resource: str
    limits: dict[str, float]
    options: dict[str, Any]
    #: What the role is for (avlab/roles.py KINDS).
    kind: str = ""
    #: Emission wavelength of a laser role, nm (None for other kinds).
    wavelength_nm: float | None = None

    @property
    def simulated(self) -> bool:
        return self.resource == SIM_RESOURCE

    @property
    def driver_spec(self) -> DriverSpec:
        spec = driver_spec(self.driver)
        if spec is None:
            raise KeyError(f"{self.role}: driver {self.driver!r} is no longer registered")
        return spec


@dataclass(frozen=True)
class SimulationConfig:
    """The simulated bench (used by every role whose resource is `sim`)."""

    sample_preset: str = "tm8_1064"
    attenuation_to_meter: float = 1e-4
    collection_efficiency: float = 0.15
    seed: int | None = None
    realtime: bool = False
    #: Faults to inject into simulated twins at given bench times: (role, fault, at_s).
    faults: tuple[tuple[str, str, float], ...] = ()
    #: Sample design overrides of `[simulation.sample]` / `avlab run --sample` (name, value):
    #: concentration, core_diameter_nm, shell_thickness_nm (docs/physics.md), temperature_K.
    sample: tuple[tuple[str, float], ...] = ()

    def sample_for_world(self) -> tuple[Any, float | None]:
        """(the simulated sample's preset — its name, or a Preset with the overrides applied —,
        its fixed temperature in K or None)."""
        overrides = dict(self.sample)
        temperature_K = overrides.pop("temperature_K", None)
        if not overrides:
            return self.sample_preset, temperature_K
        from sim_devices.physics import get_preset
        from sim_devices.physics.overrides import apply_overrides

        return apply_overrides(get_preset(self.sample_preset), overrides), temperature_K


@dataclass(frozen=True)
class LabConfig:
    source: str
    text: str
    name: str
    optics: OpticsConfig
    instruments: dict[str, InstrumentConfig]
    simulation: SimulationConfig = field(default_factory=SimulationConfig)

    @property
    def uses_simulation(self) -> bool:
        return any(i.simulated for i in self.instruments.values())


def builtin_config_text() -> str:
    return resources.files("experiments").joinpath("labs/simulated.toml").read_text("utf-8")


def load_config(path: str | Path | None = None) -> LabConfig:
    """Load and check a lab config; None gives the built-in simulated bench."""
    if path is None:
        return parse_config(builtin_config_text(), BUILTIN_CONFIG_NAME)
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(str(path), "", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                                         f"on line {line}); a lab config must be saved as "
                                         "UTF-8") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<string>") -> LabConfig:
    """Parse and check config text; raises ConfigError naming `source` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    checker = _Checker(source)
    _reject_unknown(checker, data, "", {"lab", "optics", "instruments", "simulation"})
    lab = checker.table(data, "lab", required=False)
    _reject_unknown(checker, lab, "lab", {"name"})
    name = checker.string(lab, "lab", "name", default="unnamed lab")
    optics = _parse_optics(checker, checker.table(data, "optics"))
    instruments_table = checker.table(data, "instruments")
    if not instruments_table:
        raise ConfigError(source, "instruments", "no instrument roles are configured")
    instruments = {
        role: _parse_instrument(checker, role, table)
        for role, table in instruments_table.items()
    }
    simulation = _parse_simulation(checker, checker.table(data, "simulation", required=False))
    _check_across_roles(checker, instruments, simulation)
    return LabConfig(source, text, name, optics, instruments, simulation)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dotted_key(prefix: str, key: str) -> str:
    """`prefix.key` as TOML writes it: a key that is not a bare key (empty, with spaces, dots
    or other characters) is quoted, so an error always shows which key it means
    (`instruments."my pump".driver`, `""`)."""
    if not _BARE_KEY.fullmatch(key):
        key = json.dumps(key, ensure_ascii=False)
    return f"{prefix}.{key}" if prefix else key


class _Checker:
    """Typed access to TOML tables with errors that name the source and the full key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.source, key, problem)

    def table(self, data: dict, key: str, *, required: bool = True) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, got {type(value).__name__}")
        return value

    def number(self, data: dict, prefix: str, key: str, *, default: float | None = None,
               required: bool = False, positive: bool = False,
               maximum: float | None = None) -> float | None:
        full = dotted_key(prefix, key)
        if key not in data:
            if required:
                raise self.fail(full, "missing value")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(full, f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise self.fail(full, f"must be finite, got {value}")
        if positive and value <= 0:
            raise self.fail(full, f"must be > 0, got {value:g}")
        if maximum is not None and value > maximum:
            raise self.fail(full, f"must be <= {maximum:g}, got {value:g}")
        return value

    def string(self, data: dict, prefix: str, key: str, *, default: str | None = None) -> str:
        full = dotted_key(prefix, key)
        if key not in data:
            if default is None:
                raise self.fail(full, "missing value")
            return default
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(full, f"must be a non-empty string, got {value!r}")
        return value.strip()


def _reject_unknown(checker: _Checker, data: dict, prefix: str, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            full = dotted_key(prefix, key)
            raise checker.fail(full, f"unknown key (allowed here: {', '.join(sorted(allowed))})")


def _parse_optics(checker: _Checker, table: dict) -> OpticsConfig:
    _reject_unknown(checker, table, "optics",
                    {"numerical_aperture", "transmission_to_sample", "spot_waist_um"})
    na = checker.number(table, "optics", "numerical_aperture", required=True, positive=True,
                        maximum=1.7)
    transmission = checker.number(table, "optics", "transmission_to_sample", required=True,
                                  positive=True, maximum=1.0)
    waist = checker.number(table, "optics", "spot_waist_um", positive=True, maximum=1000.0)
    return OpticsConfig(na, transmission, waist)


def _parse_instrument(checker: _Checker, role: str, table: Any) -> InstrumentConfig:
    prefix = dotted_key("instruments", role)
    if not isinstance(table, dict):
        raise checker.fail(prefix, "must be a table")
    drivers = driver_specs()
    driver_name = checker.string(table, prefix, "driver")
    driver = drivers.get(driver_name)
    if driver is None:
        raise checker.fail(f"{prefix}.driver", f"unknown driver {driver_name!r}; known "
                                               f"drivers: {', '.join(sorted(drivers))}")
    kind, wavelength_nm = _role_kind(checker, role, table, driver)
    resource = checker.string(table, prefix, "resource")
    _check_resource(checker, f"{prefix}.resource", resource, driver)
    role_keys = {"driver", "resource", "kind", "limits"} | ({"wavelength_nm"} if kind == LASER
                                                            else set())
    _reject_unknown(checker, table, prefix, role_keys | set(driver.options))
    limits = _parse_limits(checker, prefix, kind, checker.table(table, "limits", required=False))
    options = _parse_options(checker, prefix, table, driver)
    if kind == "cryostat" and limits.setdefault(
            "temperature_limit_K", limits["max_setpoint_K"]) < limits["max_setpoint_K"]:
        raise checker.fail(f"{prefix}.limits.temperature_limit_K",
                           f"impossible limit {limits['temperature_limit_K']:g} K: below "
                           f"max_setpoint_K {limits['max_setpoint_K']:g} K, the controller "
                           "would cut the heaters at setpoints avlab allows")
    return InstrumentConfig(role, driver_name, resource, limits, options, kind, wavelength_nm)


def _role_kind(checker: _Checker, role: str, table: dict,
               driver: DriverSpec) -> tuple[str, float | None]:
    """The role's kind (the `kind` key, else implied by an old fixed role name) and, for a
    laser, its wavelength (`wavelength_nm`, else from an old name such as pump_1064)."""
    prefix = dotted_key("instruments", role)
    legacy = legacy_kind(role)
    if "kind" in table:
        kind = checker.string(table, prefix, "kind")
        if kind not in KINDS:
            raise checker.fail(f"{prefix}.kind", f"unknown kind {kind!r}; kinds: "
                                                 f"{', '.join(KINDS)}")
    elif legacy is not None:
        kind = legacy[0]
    else:
        suggestion = driver.kinds[0]
        raise checker.fail(f"{prefix}.kind",
                           f"missing: add kind = \"{suggestion}\" to [{prefix}] (roles are named "
                           f"freely; kinds: {', '.join(KINDS)})")
    if kind not in driver.kinds:
        raise checker.fail(f"{prefix}.driver", f"driver {driver.name!r} drives a "
                                               f"{' or '.join(driver.kinds)}, but role {role!r} "
                                               f"is a {kind}")
    if kind != LASER:
        return kind, None
    implied = legacy[1] if legacy is not None and legacy[0] == LASER else None
    wavelength = checker.number(table, prefix, "wavelength_nm", default=implied, positive=True,
                                maximum=100_000.0)
    if wavelength is None:
        raise checker.fail(f"{prefix}.wavelength_nm",
                           f"missing: a laser role needs its emission wavelength, e.g. "
                           f"wavelength_nm = 1064 in [{prefix}]")
    return kind, wavelength


def _check_resource(checker: _Checker, key: str, resource: str, driver: DriverSpec) -> None:
    if resource == SIM_RESOURCE:
        if driver.twin is None:
            raise checker.fail(key, f"driver {driver.name!r} has no simulated twin; give the "
                                    "instrument's resource")
        return
    problem = driver.resource(resource) if driver.resource is not None else None
    if problem is not None:
        raise checker.fail(key, f"{resource!r} is not a resource of driver {driver.name!r}: "
                                f"{problem}, or \"sim\" for its simulated twin")


def _parse_limits(checker: _Checker, prefix: str, kind: str,
                  limits_table: dict) -> dict[str, float]:
    limit_specs = LIMITS[kind]
    _reject_unknown(checker, limits_table, f"{prefix}.limits", set(limit_specs))
    limits: dict[str, float] = {}
    for name, lspec in limit_specs.items():
        key = f"{prefix}.limits.{name}"
        if name not in limits_table:
            if lspec.required:
                raise checker.fail(key, f"missing safety limit ({lspec.description}, "
                                        f"in {lspec.unit})")
            continue
        value = checker.number(limits_table, f"{prefix}.limits", name)
        if value <= lspec.minimum_exclusive:
            raise checker.fail(key, f"impossible limit {value:g} {lspec.unit}: must be > "
                                    f"{lspec.minimum_exclusive:g}")
        limits[name] = value
    return limits


def _parse_options(checker: _Checker, prefix: str, table: dict,
                   driver: DriverSpec) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, ospec in driver.options.items():
        if name not in table:
            if ospec.required:
                raise checker.fail(f"{prefix}.{name}", f"missing value ({ospec.description})")
            if ospec.default is not None:
                options[name] = ospec.default
            continue
        value = table[name]
        key = f"{prefix}.{name}"
        if ospec.pair_only or (ospec.pair_ok and isinstance(value, list)):
            if not isinstance(value, list) or len(value) != 2:
                shape = "a [low, high] pair" if ospec.pair_only else "a number or an [x, y] pair"
                raise checker.fail(key, f"must be {shape}, got {value!r}")
            pair = {"x": value[0], "y": value[1]}
            value = [checker.number(pair, key, axis, positive=ospec.positive)
                     for axis in ("x", "y")]
        elif ospec.type is float:
            value = checker.number(table, prefix, name, positive=ospec.positive)
        elif ospec.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise checker.fail(key, f"must be a whole number, got {value!r}")
            if ospec.positive and value <= 0:
                raise checker.fail(key, f"must be > 0, got {value}")
        elif not isinstance(value, ospec.type):
            raise checker.fail(key, f"must be a {ospec.type.__name__}, got {value!r}")
        options[name] = value
    return options


def _check_across_roles(checker: _Checker, instruments: dict[str, InstrumentConfig],
                        simulation: SimulationConfig) -> None:
    """What needs the whole config: roles named by other roles, each driver's own checks,
    scheduled faults, and served simulated instruments mixed with in-process ones."""
    for role, inst in instruments.items():
        driver = inst.driver_spec
        for name, ospec in driver.options.items():
            target = inst.options.get(name) if ospec.role_of_kind else None
            if target is not None and (target not in instruments
                                       or instruments[target].kind != ospec.role_of_kind):
                raise checker.fail(f"instruments.{role}.{name}",
                                   f"{target!r} is not a {ospec.role_of_kind} role of this "
                                   "config")
        if driver.check is not None:
            try:
                driver.check(inst, instruments)
            except ConfigProblem as exc:
                raise checker.fail(f"instruments.{role}.{exc.key}", exc.problem) from None
    for i, (role, fault, _at) in enumerate(simulation.faults):
        if role not in instruments or not instruments[role].simulated:
            raise checker.fail(f"simulation.faults[{i}].role",
                               f"{role!r} is not a simulated role of this config")
        twin = instruments[role].driver_spec.twin
        known = list(twin.fault_names()) if twin is not None else []
        if fault not in known:
            raise checker.fail(f"simulation.faults[{i}].fault",
                               f"{role} ({instruments[role].driver}) has no fault {fault!r}; "
                               f"known: {', '.join(known)}")
    in_process = [r for r, i in instruments.items() if i.simulated]
    served = [r for r, i in instruments.items() if resource_syntax.is_loopback(i.resource)]
    if in_process and served:
        raise checker.fail(
            f"instruments.{served[0]}.resource",
            f"{', '.join(served)} point(s) at this computer (a bench served by `avlab sim "
            f"serve`?) while {', '.join(in_process)} use(s) resource = \"sim\", an in-process "
            "simulated bench: they would sit on two different simulated worlds (the meter "
            "would not see the served laser). Use resource = \"sim\" for every role (one "
            "in-process bench), or point every role at the served ports (SDK-level "
            "instruments such as NI-DAQ counters are not served: a run that needs them uses "
            "resource = \"sim\" throughout).")


def _parse_simulation(checker: _Checker, table: dict) -> SimulationConfig:
    allowed = {"sample_preset", "attenuation_to_meter", "collection_efficiency", "seed",
               "realtime", "faults", "sample"}
    _reject_unknown(checker, table, "simulation", allowed)
    default = SimulationConfig()
    preset = checker.string(table, "simulation", "sample_preset", default=default.sample_preset)
    from sim_devices.physics import PRESETS  # light: no scipy at import

    if preset not in PRESETS:
        raise checker.fail("simulation.sample_preset",
                           f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    seed = table.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise checker.fail("simulation.seed", f"must be a whole number, got {seed!r}")
    realtime = table.get("realtime", False)
    if not isinstance(realtime, bool):
        raise checker.fail("simulation.realtime", f"must be true or false, got {realtime!r}")
    return SimulationConfig(
        sample_preset=preset,
        attenuation_to_meter=checker.number(table, "simulation", "attenuation_to_meter",
                                            default=default.attenuation_to_meter, positive=True,
                                            maximum=1.0),
        collection_efficiency=checker.number(table, "simulation", "collection_efficiency",
                                             default=default.collection_efficiency,
                                             positive=True, maximum=1.0),
        seed=seed,
        realtime=realtime,
        faults=_parse_faults(checker, table.get("faults", [])),
        sample=_parse_sample(checker, preset, checker.table(table, "sample", required=False)),
    )


def _parse_sample(checker: _Checker, preset: str, table: dict) -> tuple[tuple[str, float], ...]:
    """`[simulation.sample]`: numbers by name, checked by applying them to the preset."""
    values = {key: checker.number(table, "simulation.sample", key) for key in table}
    return _checked_sample(preset, values, lambda problem: checker.fail("simulation.sample",
                                                                        problem))


def _checked_sample(preset: str, values: dict[str, Any], fail: Any) -> tuple[tuple[str, float],
                                                                              ...]:
    from sim_devices.physics import get_preset
    from sim_devices.physics.overrides import OverrideError, apply_overrides, canonical_name

    values = {("temperature_K" if k in ("temperature", "T") else canonical_name(k)): float(v)
              for k, v in values.items()}
    temperature_K = values.get("temperature_K")
    if temperature_K is not None and not 0.0 < temperature_K <= 1000.0:
        raise fail(f"temperature_K = {temperature_K:g} must be in (0, 1000] K")
    try:
        apply_overrides(get_preset(preset),
                        {k: v for k, v in values.items() if k != "temperature_K"})
    except OverrideError as exc:
        raise fail(str(exc)) from None
    return tuple(values.items())


def with_sample_overrides(config: LabConfig, assignments: list[str]) -> LabConfig:
    """`config` with `NAME=VALUE` sample overrides (`avlab run --sample`) added to its
    `[simulation.sample]`; raises ConfigError naming the bad assignment."""
    if not assignments:
        return config
    from sim_devices.physics.overrides import OverrideError, parse_assignments

    def fail(problem: str) -> ConfigError:
        return ConfigError("--sample", " ".join(assignments), problem)

    try:
        values = parse_assignments(assignments)
    except OverrideError as exc:
        raise fail(str(exc)) from None
    merged = {**dict(config.simulation.sample), **values}
    sample = _checked_sample(config.simulation.sample_preset, merged, fail)
    return replace(config, simulation=replace(config.simulation, sample=sample))


def _parse_faults(checker: _Checker, entries: Any) -> tuple[tuple[str, str, float], ...]:
    """`[[simulation.faults]]` tables: role, fault, at_s (bench time in s)."""
    if not isinstance(entries, list):
        raise checker.fail("simulation.faults", "must be an array of tables "
                                                "([[simulation.faults]])")
    faults = []
    for i, entry in enumerate(entries):
        prefix = f"simulation.faults[{i}]"
        if not isinstance(entry, dict):
            raise checker.fail(prefix, "must be a table with role, fault and at_s")
        _reject_unknown(checker, entry, prefix, {"role", "fault", "at_s"})
        role = checker.string(entry, prefix, "role")
        fault = checker.string(entry, prefix, "fault")
        at_s = checker.number(entry, prefix, "at_s", required=True)
        if at_s < 0:
            raise checker.fail(f"{prefix}.at_s", f"must be >= 0 s, got {at_s:g}")
        faults.append((role, fault, at_s))
    return tuple(faults)
