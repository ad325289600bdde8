"""Turn transport failures and unreadable replies into specific, actionable exceptions.

pymeasure lets a broken link surface as whatever the transport raises (pyvisa's VisaIOError,
pyserial's SerialException, OSError), and `values()` quietly returns the raw string when a
reply cannot be parsed — so a babbling instrument could feed text into a measurement. Drivers
mix `CheckedMessaging` in front of `Instrument` to get one exception type per failure.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    InstrumentCommandError,
    InstrumentError,
    InstrumentResponseError,
    did_not_answer,
    lost_connection,
)

_VISA_TIMEOUT_CODE = -1073807339  # VI_ERROR_TMO


def _translate(name: str, action: str, exc: Exception) -> InstrumentError:
    try:
        from pyvisa.errors import VisaIOError
    except ImportError:  # pragma: no cover - pyvisa is a core dependency
        VisaIOError = ()  # type: ignore[assignment]
    if isinstance(exc, TimeoutError) or (
            isinstance(exc, VisaIOError) and getattr(exc, "error_code", None) == _VISA_TIMEOUT_CODE):
        return did_not_answer(name, action, exc)
    return lost_connection(name, action, exc)


def _is_transport_error(exc: Exception) -> bool:
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    try:
        from pyvisa.errors import VisaIOError
        from serial import SerialException
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (VisaIOError, SerialException))


class CheckedMessaging:
    """Mixin for pymeasure Instruments (put it first in the bases).

    `last_command` is the last command written, as it went to the instrument; error messages
    about a reply (and drivers that need to know what a reply answers) use it.
    """

    name: str
    #: The last command written through `write` (what the next reply answers).
    last_command: str = ""

    def __init__(self, adapter: Any, *args: Any, **kwargs: Any) -> None:
        # A raw TCP socket has no end-of-message signal (USBTMC and GPIB do), so a driver
        # that relies on one would wait for a reply until its timeout. Instruments and
        # servers that speak line-based SCPI over a socket end each message with "\n";
        # drivers that name their own terminations keep them.
        if isinstance(adapter, str) and adapter.strip().upper().endswith("::SOCKET"):
            kwargs.setdefault("read_termination", "\n")
            kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, *args, **kwargs)  # type: ignore[call-arg]

    def write(self, command: str, **kwargs: Any) -> None:
        self.last_command = command
        try:
            super().write(command, **kwargs)  # type: ignore[misc]
        except InstrumentError:
            raise
        except Exception as exc:
            if _is_transport_error(exc):
                raise _translate(self.name, f"writing {command!r}", exc) from exc
            raise

    def read(self, **kwargs: Any) -> str:
        try:
            return super().read(**kwargs)  # type: ignore[misc]
        except InstrumentError:
            raise
        except Exception as exc:
            if _is_transport_error(exc):
                action = (f"reading the reply to {self.last_command!r}" if self.last_command
                          else "reading")
                raise _translate(self.name, action, exc) from exc
            raise

    def values(self, command: str, separator: str = ",", cast: Any = float,
               preprocess_reply: Any = None, maxsplit: int = -1, **kwargs: Any) -> list:
        try:
            results = super().values(  # type: ignore[misc]
                command, separator=separator, cast=cast, preprocess_reply=preprocess_reply,
                maxsplit=maxsplit, **kwargs)
        except (ValueError, IndexError) as exc:  # a preprocess step choked on the reply
            raise InstrumentResponseError(f"{self.name}: unreadable reply to {command!r}: "
                                          f"{exc}") from exc
        if cast is not str:
            bad = [r for r in results if isinstance(r, str)]
            if bad:
                raise InstrumentResponseError(
                    f"{self.name}: unreadable reply to {command!r}: {bad[0]!r}")
        return results


class SCPIErrorQueue:
    """Mixin for SCPI instruments (put it before `CheckedMessaging`): every setting is followed
    by a read of the whole error queue (`SYST:ERR?` until `0,"No error"`), and a non-empty queue
    raises InstrumentCommandError listing every entry, oldest first."""

    name: str
    #: Most entries read in one check (a queue that never empties is not read forever).
    max_error_entries = 32

    def check_errors(self) -> list:
        """Read the whole error queue; raise InstrumentCommandError if it held anything.

        An empty queue answers `+0,"No error"`; entries are `<code>,"<text>"`. An answer
        without a numeric code raises InstrumentResponseError.
        """
        errors = []
        for _ in range(self.max_error_entries):
            reply = self.ask("SYST:ERR?").strip()  # type: ignore[attr-defined]
            code_text, _, text = reply.partition(",")
            try:
                code = int(float(code_text))
            except ValueError:
                raise InstrumentResponseError(
                    f"{self.name}: unreadable error-queue reply {reply!r}") from None
            if code == 0:
                break
            errors.append((code, text.strip().strip('"')))
        if errors:
            raise InstrumentCommandError(f"{self.name} reported: {errors}")
        return errors

    def check_set_errors(self) -> list:
        return self.check_errors()
