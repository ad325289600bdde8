"""Common ground of the message-based simulated instruments."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class SimulatedMessageInstrument(ABC):
    """A virtual instrument that answers command strings the way the real one does.

    `handle` takes one command without its termination and returns the reply without
    termination, or None when the real instrument sends nothing back. Framing (terminations,
    serial settings) belongs to the transport, not here.
    """

    #: Termination characters of the real instrument, for transports that frame messages.
    write_termination: str = "\n"
    read_termination: str = "\n"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands_seen = 0

    def handle(self, command: str) -> str | None:
        """Answer one command (thread-safe: one command at a time, like a serial line)."""
        with self._lock:
            self.commands_seen += 1
            return self._handle(command.strip())

    @abstractmethod
    def _handle(self, command: str) -> str | None:
        """Subclasses answer a stripped command here."""
