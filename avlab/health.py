"""Instrument health during a run: every role reports, the runner guards each point.

Modelled on bluesky's suspenders: before a point (or an array chunk) is written, the runner
asks the bench for the health of every role (`Bench.check_health`). Each role answers with a
`Health` from one or two instrument messages (a laser's fault and interlock registers and its
emission state, a cryostat's sensor and heater status with the sample temperature) or from
what its last reading already showed (a power meter's over range, a detector's overload).

- A trip that cannot clear by itself (an interlock, a heater short, a stopped cryocooler
  whose excursion outlasts the wait) ends the run: InstrumentFaultError names the role and
  the fault, the runner's shutdown switches the pumps off, and the point is not written.
- A condition that may clear (a temperature excursion, a flooded detector) suspends the run
  when the procedure allows it (`Procedure.suspendable`): pumps off, the bench clock polls the
  health every `SUSPEND_POLL_S`, and once every role is healthy again the pumps come back and
  the run goes on. The point measured during the condition is discarded. A condition still
  present after `Procedure.suspend_timeout_s` ends the run like a trip.

When the bench has a cryostat, every point also records the sample temperature of the health
reading (column `sample_temperature_K`), unless the procedure declares that column itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .data import Column, DataDescription
from .errors import InstrumentFaultError
from .roles import CRYOSTAT

if TYPE_CHECKING:
    from .bench import Bench
    from .procedure import Procedure

#: How often (bench time, s) a suspended run asks again whether the condition has cleared.
SUSPEND_POLL_S = 5.0
#: The column the runner adds to the point table when a cryostat is on the bench.
SAMPLE_TEMPERATURE = "sample_temperature_K"


@dataclass(frozen=True)
class Health:
    """What one role reports: ok, or the fault in words; whether it may clear by itself
    (`recoverable`: a temperature excursion, a flood) and the readings taken on the way
    (name -> value, units in the names, e.g. `sample_temperature_K`)."""

    role: str
    ok: bool = True
    fault: str = ""
    recoverable: bool = False
    readings: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def tripped(cls, role: str, fault: str, *, recoverable: bool = False,
                **readings: float) -> Health:
        return cls(role, False, fault, recoverable, readings)


@dataclass(frozen=True)
class BenchHealth:
    """The health of every role at one moment."""

    roles: Mapping[str, Health]

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.roles.values())

    @property
    def faults(self) -> list[Health]:
        return [h for h in self.roles.values() if not h.ok]

    @property
    def fatal(self) -> bool:
        """Some role has a fault that will not clear by waiting."""
        return any(not h.ok and not h.recoverable for h in self.roles.values())

    @property
    def message(self) -> str:
        return "; ".join(f"{h.role}: {h.fault}" for h in self.faults)

    def reading(self, name: str) -> float | None:
        for health in self.roles.values():
            if name in health.readings:
                return float(health.readings[name])
        return None


class RunGuard:
    """The runner's health hook: checks the bench before each point or chunk is written.

    `log(message, level)` publishes a status line to the run's listeners (suspended, resumed).
    """

    def __init__(self, bench: Bench, procedure: Procedure,
                 log: Callable[[str, int], None]) -> None:
        self.bench = bench
        self.suspendable = bool(getattr(procedure, "suspendable", False))
        self.timeout_s = float(getattr(procedure, "suspend_timeout_s", 0.0))
        self._log = log
        names = {c.name for c in procedure.columns}
        self.adds_temperature = (bool(procedure.columns) and bench.has(CRYOSTAT)
                                 and SAMPLE_TEMPERATURE not in names)
        self.suspended_s = 0.0  # bench time spent suspended in this run
        self.discarded = 0  # points measured during a condition and not recorded

    # --- set-up ---------------------------------------------------------------------------
    def describe(self, description: DataDescription) -> DataDescription:
        """The run's data description with the added sample-temperature column."""
        if not self.adds_temperature:
            return description
        return replace(description, columns=(*description.columns, self.column()))

    @staticmethod
    def column() -> Column:
        return Column(SAMPLE_TEMPERATURE, "K", "f8",
                      "sample-stage temperature read by the run's health check before the "
                      "point was written")

    def begin(self) -> None:
        """Reset each role's run-relative references (a cryostat's start temperature)."""
        self.bench.begin_health(defer_overload=self.suspendable)

    def end(self) -> None:
        self.bench.end_health()

    # --- the checks -----------------------------------------------------------------------
    def admit_point(self, row: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The row to write (with the sample temperature), or None when the point was
        measured during a condition the run was suspended for. Raises InstrumentFaultError."""
        health = self._admit()
        if health is None:
            return None
        if self.adds_temperature:
            temperature = health.reading(SAMPLE_TEMPERATURE)
            row = {**row, SAMPLE_TEMPERATURE: float("nan") if temperature is None
                   else temperature}
        return row

    def admit_rows(self, rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]] | None:
        """Rows measured earlier and stored together: one health check for the batch (None:
        the bench is in a condition the run was suspended for, the rows are dropped). A row
        keeps the sample temperature it carries (taken when it was measured); only rows
        without one get the temperature of now."""
        health = self._admit()
        if health is None:
            return None
        if not self.adds_temperature:
            return rows
        now = health.reading(SAMPLE_TEMPERATURE)
        fill = float("nan") if now is None else now
        return [row if SAMPLE_TEMPERATURE in row else {**row, SAMPLE_TEMPERATURE: fill}
                for row in rows]

    def admit_chunk(self) -> bool:
        """Whether an array chunk may be written (False: measured during a suspension)."""
        return self._admit() is not None

    def _admit(self) -> BenchHealth | None:
        health = self.bench.check_health()
        if health.ok:
            return health
        if health.fatal or not self.suspendable:
            raise InstrumentFaultError(health.message)
        self._suspend(health)
        self.discarded += 1
        return None

    def _suspend(self, health: BenchHealth) -> None:
        """Pumps off, wait (bench clock, abortable) until every role is healthy, pumps on."""
        bench = self.bench
        started = bench.now()
        self._log(f"suspended: {health.message}; pumps off, waiting up to "
                  f"{self.timeout_s:g} s for it to clear", logging.WARNING)
        lasers = [laser for laser in bench.lasers if laser.expects_emission]
        for laser in lasers:
            laser.emission_off()
        while True:
            bench.wait(SUSPEND_POLL_S)
            health = bench.check_health()
            if health.ok:
                break
            waited = bench.now() - started
            if health.fatal or waited >= self.timeout_s:
                self.suspended_s += waited
                raise InstrumentFaultError(f"{health.message} (did not clear within "
                                           f"{waited:.0f} s of suspension)")
        for laser in lasers:
            laser.emission_on()
        waited = bench.now() - started
        self.suspended_s += waited
        self._log(f"resumed after {waited:.0f} s; the point measured during the condition "
                  "was discarded", logging.WARNING)

    def explain(self) -> str:
        """After the procedure raised: a fault some role reports now (best effort), so a run
        ended by a symptom (a nonsense reading, a refused command) names its cause."""
        try:
            health = self.bench.check_health()
        except Exception:  # noqa: BLE001 - the original error stays the message
            return ""
        return "" if health.ok else health.message

