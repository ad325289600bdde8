"""Driver specs: everything avlab needs to know about one driver, in one declaration.

A spec says which role kinds the driver can fill, its config options (types, defaults,
limits), how it opens from a resource and is prepared after connecting, its simulated twin
(how it is built on a SimWorld, whether it can be served on a TCP port, its real port, its
fault names) and how the bench wraps it (a RoleDevice of avlab/devices.py). The config
checker, the bench, the simulated bench, `avlab instruments`, `avlab config` and `avlab sim
serve` read only specs, so no code outside a driver's own files depends on which drivers
exist.

Where specs come from (see docs/instruments.md):
- every module of the `instruments` package that defines `SPEC` (the built-in drivers);
- entry points of installed distributions in the group `avlab.drivers`, each naming a
  DriverSpec object (`mydrivers.spec:SPEC`);
- `register_driver(spec)`, for code that builds specs at run time.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .resources import ResourceCheck

if TYPE_CHECKING:
    from .config import InstrumentConfig
    from .devices import RoleDevice

log = logging.getLogger(__name__)

#: Entry-point group through which installed distributions register driver specs.
ENTRY_POINT_GROUP = "avlab.drivers"
#: The package whose modules declare the built-in drivers.
BUILTIN_PACKAGE = "instruments"


class ConfigProblem(ValueError):
    """Raised by a spec's config check: `key` (relative to the role's table, e.g.
    'sensor_range_nm' or 'limits.max_power_W') and what is wrong with it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key, self.problem = key, problem


@dataclass(frozen=True)
class OpenContext:
    """What a spec's open hook gets: the role, its twin on the simulated bench (or None) and
    the bench's wait (for drivers that sequence things in time, so a stop cuts them short)."""

    inst: InstrumentConfig
    twin: Any = None
    wait: Callable[[float], None] | None = None

    @property
    def simulated(self) -> bool:
        return self.twin is not None

    @property
    def options(self) -> dict[str, Any]:
        return self.inst.options

    @property
    def link(self) -> Any:
        """What a message-based driver is built on: the resource string on hardware, an
        in-process adapter to the twin on the simulated bench."""
        if self.twin is None:
            return self.inst.resource
        from sim_devices.transport import InProcessAdapter

        return InProcessAdapter(self.twin)


def twin_is_driver(ctx: OpenContext) -> Any:
    """Simulated open of an SDK-level twin that offers the driver's API itself."""
    return ctx.twin


DriverArguments = Callable[[OpenContext], tuple[tuple[Any, ...], dict[str, Any]]]


def over_simulated_sdk(arguments: DriverArguments) -> Callable[[OpenContext], Any]:
    """Simulated open of an SDK-level driver: the *real* driver class over the simulated
    vendor SDK (sim_devices.sdk), wired as the driver's arguments say, so the code a lab runs
    is the code the simulated bench runs. `arguments(ctx)` gives the driver constructor's
    (args, kwargs), the same ones the spec's hardware `open` passes."""

    def open_simulated(ctx: OpenContext) -> Any:
        from sim_devices.sdk import open_simulated as open_over_sdk

        args, kwargs = arguments(ctx)
        return open_over_sdk(ctx.inst.driver, ctx.twin, *args, **kwargs)

    return open_simulated


@dataclass(frozen=True)
class TwinSpec:
    """The simulated twin of a driver."""

    #: Build the twin for a role and place it in the world: (inst, world) -> twin.
    build: Callable[[InstrumentConfig, Any], Any]
    #: The fault names the twin offers (checked when the config is loaded).
    fault_names: Callable[[], Mapping[str, str]]
    #: Whether it speaks a wire protocol, so `avlab sim serve` can put it on a TCP port.
    served: bool = True
    #: The real instrument's network port, used by `avlab sim serve` (None: a counted port).
    port: int | None = None
    #: How the driver is opened on the simulated bench. None: the spec's `open` over an
    #: in-process adapter (`OpenContext.link`); `twin_is_driver` hands out the twin itself;
    #: any other callable opens the real driver over a simulated SDK, for example.
    open: Callable[[OpenContext], Any] | None = None


@dataclass(frozen=True)
class DriverSpec:
    """One driver avlab can build, and for which role kinds."""

    name: str
    kinds: tuple[str, ...]
    description: str
    #: Open the real driver: from `ctx.inst.resource` on hardware, `ctx.link` either way.
    open: Callable[[OpenContext], Any]
    #: Wrap the connected driver for the bench: (inst, driver, bench, common) -> RoleDevice,
    #: `common` being the keyword arguments every RoleDevice takes.
    device: Callable[[InstrumentConfig, Any, Any, dict[str, Any]], RoleDevice]
    options: dict[str, Any] = field(default_factory=dict)  # name -> roles.OptionSpec
    #: Bring a freshly connected driver into the state avlab assumes (e.g. emission off).
    prepare: Callable[[InstrumentConfig, Any], None] | None = None
    twin: TwinSpec | None = None
    #: Resource syntax (avlab/resources.py); `sim` is always accepted when there is a twin.
    resource: ResourceCheck | None = None
    #: Checks across options, limits and the other roles, when the config is loaded:
    #: (inst, all roles) -> None, raising ConfigProblem.
    check: Callable[[InstrumentConfig, Mapping[str, InstrumentConfig]], None] | None = None

    def open_driver(self, ctx: OpenContext) -> Any:
        """The driver for a role: over its twin on the simulated bench, else the hardware."""
        if ctx.simulated and self.twin is not None and self.twin.open is not None:
            return self.twin.open(ctx)
        return self.open(ctx)


_registered: dict[str, DriverSpec] = {}
_cache: dict[str, DriverSpec] | None = None


def register_driver(spec: DriverSpec) -> None:
    """Register a spec built at run time (installed packages use the entry-point group)."""
    global _cache
    _registered[spec.name] = spec
    _cache = None


def reload_driver_specs() -> None:
    """Forget the discovered specs, so newly installed distributions are found."""
    global _cache
    _cache = None


def driver_specs() -> dict[str, DriverSpec]:
    """Every known driver spec by name: built-in, installed, registered."""
    global _cache
    if _cache is None:
        found: dict[str, DriverSpec] = {}
        for spec in (*_builtin_specs(), *_installed_specs(), *_registered.values()):
            known = found.get(spec.name)
            if known is not None and known is not spec:
                raise ValueError(f"two drivers are registered as {spec.name!r}: "
                                 f"{known.description!r} and {spec.description!r}")
            found[spec.name] = spec
        _cache = found
    return _cache


def driver_spec(name: str) -> DriverSpec | None:
    return driver_specs().get(name)


def _builtin_specs() -> list[DriverSpec]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    specs = []
    for module in pkgutil.iter_modules(package.__path__):
        spec = getattr(importlib.import_module(f"{BUILTIN_PACKAGE}.{module.name}"), "SPEC", None)
        if isinstance(spec, DriverSpec):
            specs.append(spec)
    return specs


def _installed_specs() -> list[DriverSpec]:
    specs = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = point.load()
        except Exception as exc:  # a broken plugin must not take the built-in drivers down
            log.warning("driver entry point %s (%s) failed to load: %s: %s", point.name,
                        point.value, type(exc).__name__, exc)
            continue
        if not isinstance(spec, DriverSpec):
            log.warning("driver entry point %s (%s) is not a DriverSpec", point.name,
                        point.value)
            continue
        specs.append(spec)
    return specs
