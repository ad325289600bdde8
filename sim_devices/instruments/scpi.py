"""Just enough SCPI parsing for the simulated SCPI instruments.

SCPI lets a client spell every node in its short form (`SENS`) or its long form (`SENSE`); optional nodes (in brackets in manuals) may be left out. Simulators must
accept all of them, or an upstream driver that spells a node differently would fail against
the simulation while working against the instrument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Entries the error queue holds; one more error turns the last into -350 "Error queue overflow".
ERROR_QUEUE_LENGTH = 10


@dataclass(frozen=True)
class ParsedCommand:
    path: tuple[str, ...]  # short forms, upper case, optional nodes removed
    is_query: bool
    args: tuple[str, ...]


def short_form(long_form: str) -> str:
    """The SCPI short form of a mnemonic written in manual notation, e.g. 'SENSe' -> 'SENS'."""
    upper = "".join(c for c in long_form if c.isupper() or c.isdigit() or c == "*")
    return upper or long_form.upper()


class ScpiVocabulary:
    """Mnemonics in manual notation (`CORRection`) → their short forms, and optional nodes."""

    def __init__(self, mnemonics: list[str], optional: tuple[str, ...] = ()) -> None:
        self._forms: dict[str, str] = {}
        for mnemonic in mnemonics:
            short = short_form(mnemonic)
            full = mnemonic.upper()
            # SCPI accepts exactly the short or the long form (any letter case).
            self._forms[full] = short
            self._forms[short] = short
        self.optional = optional

    def parse(self, command: str) -> ParsedCommand | None:
        """Split a command into a normalized node path and arguments; None if a node is unknown."""
        head, _, rest = command.strip().partition(" ")
        is_query = head.endswith("?")
        head = head.rstrip("?")
        nodes = []
        for node in head.lstrip(":").split(":"):
            digits = node.rstrip("0123456789")
            suffix = node[len(digits):]
            short = self._forms.get(digits.upper())
            if short is None:
                return None
            # A numeric suffix of 1 is the default channel: SOUR1 == SOUR.
            nodes.append(short if suffix in ("", "1") else short + suffix)
        while nodes and nodes[0] in self.optional and len(nodes) > 1:
            nodes.pop(0)
        args = tuple(a.strip() for a in rest.split(",")) if rest.strip() else ()
        return ParsedCommand(tuple(nodes), is_query, args)


class ScpiErrorQueue:
    """Mixin: a SCPI twin's error queue and the common commands that serve it.

    `_error` queues an error: FIFO, `ERROR_QUEUE_LENGTH` entries, after which the last entry
    becomes -350 "Error queue overflow" (the Series 4000 SCPI manual's rule). `*CLS` empties the
    queue, `*OPC?` answers 1 (every command completes before its reply), `SYST:ERR[:NEXT]?`
    pops the oldest entry, `+0,"No error"` when empty. Subclasses call `_init_error_queue()`
    and ask `_common_command(key, query)` before their own commands.
    """

    def _init_error_queue(self) -> None:
        self.errors: list[tuple[int, str]] = []

    def _error(self, code: int, text: str) -> None:
        if len(self.errors) < ERROR_QUEUE_LENGTH:
            self.errors.append((code, text))
        else:
            self.errors[-1] = (-350, "Error queue overflow")

    def _common_command(self, key: str, query: bool) -> Callable[[], str | None] | None:
        """The handler of `key` (a normalized node path) if it is one of the common commands
        above in its right form (command or query), else None."""
        name = _COMMON_COMMANDS.get((key, query))
        return None if name is None else getattr(self, name)

    def _clear_status(self) -> None:
        self.errors.clear()

    def _operation_complete(self) -> str:
        return "1"

    def _next_error(self) -> str:
        code, text = self.errors.pop(0) if self.errors else (0, "No error")
        return f'{code:+d},"{text}"'


_COMMON_COMMANDS = {
    ("*CLS", False): "_clear_status",
    ("*OPC", True): "_operation_complete",
    ("SYST:ERR", True): "_next_error",
    ("SYST:ERR:NEXT", True): "_next_error",
}
