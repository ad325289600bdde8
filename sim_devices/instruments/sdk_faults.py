"""Fault injection for SDK-level twins (counters, scanners, taggers, cameras, spectrometers).

Message-based twins get faults from `SimulatedMessageInstrument`; twins without a wire get the
same vocabulary here: `inject`, `clear_faults`, `schedule_fault` on the bench clock, and
`fault_names`. Each twin decides what a fault does when it is next called.
"""

from __future__ import annotations

from typing import ClassVar


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
        if fault not in self.FAULTS:
            raise ValueError(f"{type(self).__name__} has no fault {fault!r}; known: "
                             f"{', '.join(self.FAULTS)}")
        self.active_faults.add(fault)

    def clear_faults(self) -> None:
        self.active_faults.clear()

    def schedule_fault(self, fault: str, at_s: float, clock: object = None) -> None:
        """Inject `fault` once the bench clock reaches `at_s` (checked at every call)."""
        if fault not in self.FAULTS:
            raise ValueError(f"{type(self).__name__} has no fault {fault!r}; known: "
                             f"{', '.join(self.FAULTS)}")
        self._scheduled.append((at_s, fault))

    def _apply_due_faults(self, now_s: float) -> None:
        due = [entry for entry in self._scheduled if entry[0] <= now_s]
        for entry in due:
            self._scheduled.remove(entry)
            self.active_faults.add(entry[1])
