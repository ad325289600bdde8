"""A control channel to inject faults into served twins from outside the process.

Served like an instrument (one line in, one line out, LF-terminated), so a test script, a
shell (`nc 127.0.0.1 <port>`) or another program can break a simulated instrument while a
client is using it:

    LIST                      -> pump_1064=drop_connection,stop_answering,...;power_meter=...
    INJECT pump_1064 interlock_open   -> OK
    CLEAR pump_1064           -> OK
"""

from __future__ import annotations

from typing import Any

from .instruments.base import SimulatedMessageInstrument


class FaultControl(SimulatedMessageInstrument):
    """Injects and clears faults of named twins."""

    def __init__(self, twins: dict[str, Any]) -> None:
        super().__init__()
        self.twins = twins

    @classmethod
    def fault_names(cls) -> dict[str, str]:
        return {}  # the control channel itself never fails

    def _handle(self, command: str) -> str:
        words = command.split()
        if not words:
            return "ERR empty command; use LIST, INJECT <role> <fault> or CLEAR <role>"
        verb = words[0].upper()
        if verb == "LIST" and len(words) == 1:
            return ";".join(f"{role}={','.join(twin.fault_names())}"
                            for role, twin in self.twins.items())
        if verb in ("INJECT", "CLEAR") and len(words) >= 2:
            twin = self.twins.get(words[1])
            if twin is None:
                return f"ERR unknown role {words[1]!r}; roles: {', '.join(self.twins)}"
            if verb == "CLEAR" and len(words) == 2:
                twin.clear_faults()
                return "OK"
            if verb == "INJECT" and len(words) == 3:
                try:
                    twin.inject(words[2])
                except ValueError as exc:
                    return f"ERR {exc}"
                return "OK"
        return "ERR use LIST, INJECT <role> <fault> or CLEAR <role>"
