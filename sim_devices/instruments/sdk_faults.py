"""Fault injection for SDK-level twins (counters, scanners, taggers, cameras, spectrometers).

Message-based twins get faults from `SimulatedMessageInstrument`; twins without a wire get the
same vocabulary here: `inject`, `clear_faults`, `schedule_fault` on the bench clock, and
`fault_names`. Each twin decides what a fault does when it is next called.
"""

from __future__ import annotations

from typing import ClassVar

from ..clock import Clock
from .base import check_fault_name


class SdkFaults:
    """Mixin: a twin's fault state. Subclasses set FAULTS and call `_init_faults()`."""

    FAULTS: ClassVar[dict[str, str]] = {}

    def _init_faults(self) -> None:
        self.active_faults: set[str] = set()
        self._scheduled: list[tuple[float, str]] = []

    @classmethod
    def fault_names(cls) -> dict[str, str]:
        return dict(cls.FAULTS)

    def inject(self, fault: str) -> None:
        """Show `fault` from the next call on (see `fault_names`)."""
        check_fault_name(self, fault)
        self.active_faults.add(fault)

    def clear_faults(self) -> None:
        self.active_faults.clear()

    def schedule_fault(self, fault: str, at_s: float, clock: object = None) -> None:
        """Inject `fault` once the bench clock reaches `at_s` (checked at every call)."""
        check_fault_name(self, fault)
        self._scheduled.append((at_s, fault))

    def schedule_clear(self, at_s: float) -> None:
        """Clear every fault once the bench clock reaches `at_s` (room light switched off
        again): how a test makes a condition that clears by itself."""
        self._scheduled.append((at_s, None))

    def _apply_due_faults(self, now_s: float) -> None:
        due = sorted((entry for entry in self._scheduled if entry[0] <= now_s),
                     key=lambda entry: entry[0])
        for entry in due:
            self._scheduled.remove(entry)
            if entry[1] is None:
                self.active_faults.clear()
            else:
                self.active_faults.add(entry[1])

    def _check_link(self, clock: Clock, dropped: Exception, hung: Exception | None = None,
                    hang_s: float | None = None) -> None:
        """The fault check before an SDK call: apply the faults due on `clock`, raise `dropped`
        under drop_connection; then, if `hung` is given, `_check_hang(clock, hung, hang_s)`."""
        self._apply_due_faults(clock.now())
        if "drop_connection" in self.active_faults:
            raise dropped
        if hung is not None:
            self._check_hang(clock, hung, hang_s)

    def _check_hang(self, clock: Clock, hung: Exception, hang_s: float | None = None) -> None:
        """Under stop_answering: let `hang_s` of bench time pass (the call blocks until its
        timeout), then raise `hung`."""
        if "stop_answering" in self.active_faults:
            if hang_s is not None:
                clock.sleep(hang_s)
            raise hung
