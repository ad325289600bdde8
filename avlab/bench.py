"""The bench: every configured instrument by role, the clock, and the guaranteed shutdown.

Built from a checked `LabConfig`. Roles whose resource is `sim` get a simulated twin on one
shared simulated world; the rest connect to hardware through the same driver classes. With an
all-simulated bench the clock is virtual, so waits cost no wall time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from .config import InstrumentConfig, LabConfig
from .devices import (
    Attenuator,
    Cryostat,
    Detector,
    Modulator,
    PowerMeter,
    PumpLaser,
    RoleDevice,
    Scanner,
    Spectrometer,
    TimeTagger,
)
from .errors import BenchError, RunAborted
from .health import BenchHealth
from .roles import (
    ATTENUATOR,
    COUNTER,
    CRYOSTAT,
    LASER,
    MODULATOR,
    POWER_METER,
    SCANNER,
    SPECTROMETER,
    TIME_TAGGER,
)
from .simulation import build_world

log = logging.getLogger(__name__)


@dataclass
class ShutdownReport:
    """What shutdown did per role: 'emission off' or the error it met."""

    outcomes: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(not text.startswith("FAILED") for text in self.outcomes.values())


class Bench:
    """Instruments by role, the bench clock and the stop flag of the running procedure."""

    def __init__(self, config: LabConfig, *, keep_going: bool = False) -> None:
        """Connect every role. With `keep_going`, a role that fails to connect is recorded in
        `failures` and the others are still connected (for diagnostics); otherwise the first
        failure closes what was opened and raises BenchError."""
        self.config = config
        self.world = build_world(config) if config.uses_simulation else None
        if self.world is not None:
            self.clock = self.world.clock
        else:
            from sim_devices.clock import RealTimeClock

            self.clock = RealTimeClock()
        self.stop_event = threading.Event()
        #: The newest health check (avlab.health) and the bench time (s) it was taken at:
        #: a caller that needs a reading the check just took (a temperature trace after each
        #: point) uses it instead of asking the instrument again.
        self.last_health: tuple[float, BenchHealth] | None = None
        self.devices: dict[str, RoleDevice] = {}
        self.failures: dict[str, str] = {}
        #: The simulated twin behind each `sim` role, by role: where tests, demos and the
        #: fault controls reach the simulated instrument (the driver is the real one).
        self.twins: dict[str, Any] = {}
        for role, inst in config.instruments.items():
            try:
                self.devices[role] = self._connect(inst)
            except Exception as exc:
                problem = f"{role}: could not connect ({type(exc).__name__}: {exc})"
                if not keep_going:
                    self.close()
                    raise BenchError(problem) from exc
                log.info(problem)
                self.failures[role] = f"{type(exc).__name__}: {exc}"
            except BaseException:  # Ctrl-C while connecting: release what is already open
                self.close()
                raise

    # --- roles -------------------------------------------------------------------------------
    def __getitem__(self, role: str) -> RoleDevice:
        try:
            return self.devices[role]
        except KeyError:
            raise KeyError(f"no role {role!r} on this bench; configured: "
                           f"{', '.join(self.devices)}") from None

    def device(self, kind: str, role: str | None = None) -> Any:
        """The role of this kind named `role`, or the bench's only role of this kind."""
        return self._one(kind, role)

    def _one(self, kind: str, role: str | None) -> Any:
        if role:
            device = self[role]
            if device.kind != kind:
                raise KeyError(f"role {role!r} is a {device.kind}, not a {kind}")
            return device
        matches = [d for d in self.devices.values() if d.kind == kind]
        if len(matches) != 1:
            names = ", ".join(d.role for d in matches) or "none"
            raise KeyError(f"expected exactly one {kind} role on this bench, found {names}; "
                           "name the role")
        return matches[0]

    def laser(self, role: str | None = None) -> PumpLaser:
        return self._one(LASER, role)

    def power_meter(self, role: str | None = None) -> PowerMeter:
        return self._one(POWER_METER, role)

    def detector(self, role: str | None = None) -> Detector:
        return self._one(COUNTER, role)

    def cryostat(self, role: str | None = None) -> Cryostat:
        return self._one(CRYOSTAT, role)

    def time_tagger(self, role: str | None = None) -> TimeTagger:
        return self._one(TIME_TAGGER, role)

    def modulator(self, role: str | None = None) -> Modulator:
        return self._one(MODULATOR, role)

    def spectrometer(self, role: str | None = None) -> Spectrometer:
        return self._one(SPECTROMETER, role)

    def scanner(self, role: str | None = None) -> Scanner:
        return self._one(SCANNER, role)

    def attenuator(self, role: str | None = None) -> Attenuator:
        return self._one(ATTENUATOR, role)

    def has(self, kind: str) -> bool:
        """Whether the bench has a role of this kind (e.g. an optional attenuator)."""
        return any(d.kind == kind for d in self.devices.values())

    @property
    def lasers(self) -> list[PumpLaser]:
        return [d for d in self.devices.values() if isinstance(d, PumpLaser)]

    def identities(self) -> dict[str, dict[str, str]]:
        return {role: device.describe() for role, device in self.devices.items()}

    # --- time --------------------------------------------------------------------------------
    def now(self) -> float:
        """Bench time in s (virtual on the simulated bench)."""
        return self.clock.now()

    def wait(self, seconds: float) -> None:
        """Let time pass; raise RunAborted at once if a stop was requested."""
        if not self.clock.sleep(seconds, self.stop_event):
            raise RunAborted("stop requested")

    # --- health ------------------------------------------------------------------------------
    def check_health(self) -> BenchHealth:
        """Ask every role for its health (avlab.health); a role that cannot be reached raises
        its connection or timeout error, as any call to it would."""
        now = self.now()
        health = BenchHealth({role: device.health() for role, device in self.devices.items()})
        self.last_health = (now, health)
        return health

    def begin_health(self, *, defer_overload: bool = False) -> None:
        """A run starts: each role resets what its health is measured against; with
        `defer_overload` detectors report an overload through health() (the run suspends)
        instead of raising it from the count."""
        for device in self.devices.values():
            device.begin_run(defer_overload=defer_overload)

    def end_health(self) -> None:
        for device in self.devices.values():
            device.end_run()

    # --- safety ------------------------------------------------------------------------------
    def shutdown(self) -> ShutdownReport:
        """Emission off on every laser; never raises, reports per role."""
        outcomes: dict[str, str] = {}
        for laser in self.lasers:
            try:
                outcomes[laser.role] = laser.shutdown()
            except Exception as exc:  # keep going: the next laser must still be switched off
                log.critical("%s: could not switch emission off (%s: %s); THE LASER MAY STILL "
                             "BE EMITTING", laser.role, type(exc).__name__, exc)
                outcomes[laser.role] = (f"FAILED: {type(exc).__name__}: {exc} — THE LASER MAY "
                                        "STILL BE EMITTING: switch it off at the laser")
        # After every laser is off: modulation stopped, attenuators to extinction (best effort).
        for device in self.devices.values():
            if isinstance(device, (Attenuator, Modulator)):
                try:
                    outcomes[device.role] = device.shutdown()
                except Exception as exc:
                    log.warning("%s: shutdown step failed: %s", device.role, exc)
                    outcomes[device.role] = f"not done ({type(exc).__name__}: {exc})"
        return ShutdownReport(outcomes)

    def close(self) -> None:
        self.shutdown()
        for device in self.devices.values():
            device.close()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- construction ------------------------------------------------------------------------
    def _connect(self, inst: InstrumentConfig) -> RoleDevice:
        from .connect import connect_role

        connection = connect_role(inst, self.world, self.config.simulation.faults, self.wait)
        if connection.twin is not None:
            self.twins[inst.role] = connection.twin
        driver = connection.driver
        common = {"identity": connection.identity, "resource": inst.resource,
                  "driver_name": inst.driver, "reopen": connection.reopen}
        device = inst.driver_spec.device(inst, driver, self, common)
        if device.kind != inst.kind:
            device.close()  # never reaches the bench, so nothing else would release it
            raise BenchError(f"{inst.role}: driver {inst.driver!r} wrapped the role as a "
                             f"{device.kind}, but the config makes it a {inst.kind}")
        return device
