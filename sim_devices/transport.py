"""In-process transport: a pymeasure Adapter that talks to a simulated instrument directly.

The driver above it is the very class a lab uses on hardware; only the adapter differs. No
terminations are involved: pymeasure hands over the bare command, the simulator returns the
bare reply (~10 µs per query instead of ~40 µs over loopback TCP).
"""

from __future__ import annotations

from collections import deque

from pymeasure.adapters import Adapter

from .instruments.base import SimulatedMessageInstrument


class NoReplyError(TimeoutError):
    """A read found nothing to read: the real instrument would have timed out."""


class InProcessAdapter(Adapter):
    """Route a pymeasure Instrument's messages to `SimulatedMessageInstrument.handle`."""

    def __init__(self, device: SimulatedMessageInstrument, **kwargs) -> None:
        super().__init__(**kwargs)
        self.device = device
        self._replies: deque[str] = deque()
        self.closed = False

    def _write(self, command: str, **kwargs) -> None:
        if self.closed:
            raise ConnectionError(f"connection to {type(self.device).__name__} is closed")
        try:
            reply = self.device.handle(command)
        except ConnectionResetError:
            self.closed = True  # like a socket the peer closed: this link stays dead
            raise
        if reply is not None:
            self._replies.append(reply)

    def _read(self, **kwargs) -> str:
        if self.closed:
            raise ConnectionError(f"connection to {type(self.device).__name__} is closed")
        if not self._replies:
            raise NoReplyError(
                f"{type(self.device).__name__} sent no reply (the command expects none, or the "
                "instrument did not understand it)"
            )
        return self._replies.popleft()

    def flush_read_buffer(self) -> None:
        self._replies.clear()

    def close(self) -> None:
        self._replies.clear()

    def __repr__(self) -> str:
        return f"<InProcessAdapter to {type(self.device).__name__}>"
