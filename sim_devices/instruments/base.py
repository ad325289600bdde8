"""Common ground of the message-based simulated instruments, including fault injection."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import ClassVar

#: Faults every message-based twin can show: its link breaks, it hangs, or it babbles.
COMMON_FAULTS: dict[str, str] = {
    "drop_connection": "the link breaks: the current connection is closed",
    "stop_answering": "the instrument hangs: commands are ignored, queries time out",
    "answer_garbage": "replies are corrupted (wrong baud rate, noise on the line)",
}

GARBAGE_REPLY = "\x15#?\x7f~garbage"


def check_fault_name(twin: object, fault: str) -> None:
    """Raise ValueError unless `fault` is one of `twin.fault_names()` (every twin's rule)."""
    known = twin.fault_names()  # type: ignore[attr-defined]
    if fault not in known:
        raise ValueError(f"{type(twin).__name__} has no fault {fault!r}; known: "
                         f"{', '.join(known)}")


class SimulatedConnectionDropped(ConnectionResetError):
    """Raised by `handle` when a drop_connection fault fires: the transport must close."""


class SimulatedMessageInstrument(ABC):
    """A virtual instrument that answers command strings the way the real one does.

    `handle` takes one command without its termination and returns the reply without
    termination, or None when the real instrument sends nothing back. Framing (terminations,
    serial settings) belongs to the transport, not here.

    Faults can be injected (`inject`), from tests, from the config (scheduled on the bench
    clock) or over the served control channel, so drivers and procedures can be tested on
    every failure a lab meets.
    """

    #: Termination characters of the real instrument, for transports that frame messages.
    write_termination: str = "\n"
    read_termination: str = "\n"
    #: Faults specific to this instrument: name -> what happens.
    DEVICE_FAULTS: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands_seen = 0
        self.active_faults: set[str] = set()
        self._scheduled: list[tuple[float, str]] = []
        self._fault_clock = None

    # --- protocol ------------------------------------------------------------------------------
    def handle(self, command: str) -> str | None:
        """Answer one command (thread-safe: one command at a time, like a serial line)."""
        with self._lock:
            self._apply_due_faults()
            self.commands_seen += 1
            if "drop_connection" in self.active_faults:
                self.active_faults.discard("drop_connection")  # a new connection works again
                raise SimulatedConnectionDropped(f"{type(self).__name__}: connection dropped "
                                                 "(simulated fault)")
            if "stop_answering" in self.active_faults:
                return None
            reply = self._handle(command.strip())
            if reply is not None and "answer_garbage" in self.active_faults:
                return GARBAGE_REPLY
            return reply

    @abstractmethod
    def _handle(self, command: str) -> str | None:
        """Subclasses answer a stripped command here."""

    # --- faults ----------------------------------------------------------------------------------
    @classmethod
    def fault_names(cls) -> dict[str, str]:
        return {**COMMON_FAULTS, **cls.DEVICE_FAULTS}

    def inject(self, fault: str) -> None:
        """Make the instrument show `fault` from now on (see `fault_names`)."""
        check_fault_name(self, fault)
        if fault in self.DEVICE_FAULTS:
            self._inject_device_fault(fault)
        self.active_faults.add(fault)

    def clear_faults(self) -> None:
        """Back to normal (device fault states such as a laser's fault bits stay latched until
        the instrument's own reset command, as on the real one)."""
        self.active_faults.clear()
        self._clear_device_faults()

    def schedule_fault(self, fault: str, at_s: float, clock) -> None:
        """Inject `fault` once the bench clock reaches `at_s` (checked on every command)."""
        check_fault_name(self, fault)
        self._fault_clock = clock
        self._scheduled.append((at_s, fault))

    def _apply_due_faults(self) -> None:
        if not self._scheduled:
            return
        now = self._fault_clock.now()
        due = [f for t, f in self._scheduled if t <= now]
        self._scheduled = [(t, f) for t, f in self._scheduled if t > now]
        for fault in due:
            self.inject(fault)

    def _inject_device_fault(self, fault: str) -> None:
        """Subclasses put their state into the fault (e.g. raise a status bit)."""

    def _clear_device_faults(self) -> None:
        """Subclasses repair what their device faults broke (called by `clear_faults`); what
        the real instrument latches stays latched until its own reset command."""
