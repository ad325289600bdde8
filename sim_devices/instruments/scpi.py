"""Just enough SCPI parsing for the simulated SCPI instruments.

SCPI lets a client spell every node in its short form (`SENS`) or its long form (`SENSE`); optional nodes (in brackets in manuals) may be left out. Simulators must
accept all of them, or an upstream driver that spells a node differently would fail against
the simulation while working against the instrument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Entries the error queue holds; one more error turns the last into -350 "Error queue overflow".
ERROR_QUEUE_LENGTH = 10

#: The IEEE 488.2 common commands every compliant instrument accepts (docs/protocols.md §0).
COMMON_MNEMONICS = ("*CLS", "*ESE", "*ESR", "*IDN", "*OPC", "*RST", "*SRE", "*STB", "*TST", "*WAI")

# Standard event status register (*ESR?) bits, IEEE 488.2.
ESR_OPERATION_COMPLETE = 1
ESR_QUERY_ERROR = 4
ESR_DEVICE_ERROR = 8
ESR_EXECUTION_ERROR = 16
ESR_COMMAND_ERROR = 32

# Status byte (*STB?) bits, IEEE 488.2 plus the SCPI error/event queue bit.
STB_ERROR_AVAILABLE = 4
STB_EVENT_SUMMARY = 32
STB_MASTER_SUMMARY = 64


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
        # The common commands are mandatory for every IEEE 488.2 instrument: always known.
        for mnemonic in (*COMMON_MNEMONICS, *mnemonics):
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


def esr_bit_for_error(code: int) -> int:
    """The standard-event bit a SCPI error number sets (SCPI-99 vol. 2, §21.8): -1xx command,
    -2xx execution, -3xx and positive device-specific, -4xx query error; 0 for anything else."""
    if -199 <= code <= -100:
        return ESR_COMMAND_ERROR
    if -299 <= code <= -200:
        return ESR_EXECUTION_ERROR
    if -399 <= code <= -300 or code > 0:
        return ESR_DEVICE_ERROR
    if -499 <= code <= -400:
        return ESR_QUERY_ERROR
    return 0


class Ieee488Status:
    """Mixin: the IEEE 488.2 status registers and the common commands that read and set them.

    Why here: every IEEE 488.2 instrument answers the same common commands, and an upstream
    client (pymeasure's `SCPIMixin.status`, a VISA library's service-request handling) relies on
    them whatever else the instrument speaks. One implementation keeps the twins consistent.

    Registers: `esr` (standard event status, read and cleared by `*ESR?`), `ese` (its enable
    mask, `*ESE`), `sre` (service-request enable, `*SRE`; bit 6 is ignored, as the standard
    says). The status byte (`*STB?`) is computed, never stored: bit 2 EAV while the error
    queue is not empty (twins with a queue), bit 5 ESB while `esr & ese` is not zero, bit 6 MSS
    while any other enabled bit is set. Not modelled: bit 4 MAV (a reply is always fetched
    before the next command is read), the operation/questionable registers (bits 3 and 7) and
    the power-on bit (the twins start with `esr = 0`). Every command completes before its
    reply, so `*OPC` sets the operation-complete bit at once, `*OPC?` answers 1 and `*WAI` does
    nothing; `*TST?` answers 0 (self-test passed).

    Subclasses call `_init_status()` and ask `_common_command(key, query)` before their own
    commands; the handler it returns takes the argument list.
    """

    def _init_status(self) -> None:
        self.esr = 0
        self.ese = 0
        self.sre = 0

    def _error(self, code: int, text: str) -> None:
        """Record a refused command: the matching standard-event bit (subclasses also queue)."""
        self.esr |= esr_bit_for_error(code)

    def _error_available(self) -> bool:
        """Whether the error queue holds an entry (status byte bit 2); no queue here."""
        return False

    def status_byte(self) -> int:
        """The status byte as `*STB?` reports it (MSS in bit 6, not cleared by reading)."""
        stb = 0
        if self._error_available():
            stb |= STB_ERROR_AVAILABLE
        if self.esr & self.ese:
            stb |= STB_EVENT_SUMMARY
        if stb & self.sre & ~STB_MASTER_SUMMARY:
            stb |= STB_MASTER_SUMMARY
        return stb

    def _common_command(self, key: str, query: bool
                        ) -> Callable[[Sequence[str]], str | None] | None:
        """The handler of `key` (a normalized header without `?`) if it is one of the common
        commands above in its right form (command or query), else None."""
        name = _COMMON_COMMANDS.get((key, query))
        return None if name is None else getattr(self, name, None)

    def _register_value(self, args: Sequence[str]) -> int | None:
        """The 0–255 argument of `*ESE`/`*SRE`, or None after recording the error."""
        if not args or not args[0]:
            self._error(-109, "Missing parameter")
            return None
        try:
            value = float(args[0])
        except ValueError:
            self._error(-104, "Data type error")
            return None
        if not 0 <= value <= 255 or value != int(value):
            self._error(-222, "Data out of range")
            return None
        return int(value)

    def _clear_status(self, args: Sequence[str]) -> None:
        self.esr = 0

    def _set_event_enable(self, args: Sequence[str]) -> None:
        value = self._register_value(args)
        if value is not None:
            self.ese = value

    def _event_enable(self, args: Sequence[str]) -> str:
        return str(self.ese)

    def _event_status(self, args: Sequence[str]) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _set_request_enable(self, args: Sequence[str]) -> None:
        value = self._register_value(args)
        if value is not None:
            self.sre = value & ~STB_MASTER_SUMMARY

    def _request_enable(self, args: Sequence[str]) -> str:
        return str(self.sre)

    def _status_byte_query(self, args: Sequence[str]) -> str:
        return str(self.status_byte())

    def _operation_complete_event(self, args: Sequence[str]) -> None:
        self.esr |= ESR_OPERATION_COMPLETE

    def _operation_complete(self, args: Sequence[str]) -> str:
        return "1"

    def _self_test(self, args: Sequence[str]) -> str:
        return "0"

    def _wait_to_continue(self, args: Sequence[str]) -> None:
        return None


class ScpiErrorQueue(Ieee488Status):
    """Mixin: a SCPI twin's error queue on top of the IEEE 488.2 status registers.

    `_error` queues an error: FIFO, `ERROR_QUEUE_LENGTH` entries, after which the last entry
    becomes -350 "Error queue overflow" (the Series 4000 SCPI manual's rule), and sets the
    standard-event bit of its class (-1xx command, -2xx execution, -3xx device, -4xx query
    error). `*CLS` empties the queue as well as the event register; `SYST:ERR[:NEXT]?` pops the
    oldest entry, `+0,"No error"` when empty; the status byte's bit 2 shows a non-empty queue.
    Subclasses call `_init_error_queue()` and ask `_common_command(key, query)` before their
    own commands.
    """

    def _init_error_queue(self) -> None:
        self._init_status()
        self.errors: list[tuple[int, str]] = []

    def _error(self, code: int, text: str) -> None:
        super()._error(code, text)
        if len(self.errors) < ERROR_QUEUE_LENGTH:
            self.errors.append((code, text))
        else:
            self.errors[-1] = (-350, "Error queue overflow")

    def _error_available(self) -> bool:
        return bool(self.errors)

    def _clear_status(self, args: Sequence[str]) -> None:
        super()._clear_status(args)
        self.errors.clear()

    def _next_error(self, args: Sequence[str]) -> str:
        code, text = self.errors.pop(0) if self.errors else (0, "No error")
        return f'{code:+d},"{text}"'


_COMMON_COMMANDS = {
    ("*CLS", False): "_clear_status",
    ("*ESE", False): "_set_event_enable",
    ("*ESE", True): "_event_enable",
    ("*ESR", True): "_event_status",
    ("*SRE", False): "_set_request_enable",
    ("*SRE", True): "_request_enable",
    ("*STB", True): "_status_byte_query",
    ("*OPC", False): "_operation_complete_event",
    ("*OPC", True): "_operation_complete",
    ("*TST", True): "_self_test",
    ("*WAI", False): "_wait_to_continue",
    # SCPI's error queue; only twins with a queue (ScpiErrorQueue) have `_next_error`.
    ("SYST:ERR", True): "_next_error",
    ("SYST:ERR:NEXT", True): "_next_error",
}
