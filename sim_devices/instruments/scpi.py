"""Just enough SCPI parsing for the simulated SCPI instruments.

SCPI lets a client spell every node in its short form (`SENS`) or its long form (`SENSE`); optional nodes (in brackets in manuals) may be left out. Simulators must
accept all of them, or an upstream driver that spells a node differently would fail against
the simulation while working against the instrument.
"""

from __future__ import annotations

from dataclasses import dataclass


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
