"""Montana Instruments Cryostation, legacy remote protocol (the laptop GUI's TCP server).

Protocol (docs/protocols.md §7b; Montana "Cryostation Communication Specification" as implemented
by the QMI and lantz drivers): TCP port **7773** on the Cryostation laptop, with "Enable
External Control" switched on in its GUI. Each message is two ASCII digits giving the length of
the body, then the body, no terminator (`03GPT`); replies are framed the same way. pymeasure's
terminated messages do not fit this framing, so the driver talks through `FramedConnection`,
which reads exactly the announced number of bytes from a socket (or any socket-like stream
with `sendall`/`recv`).

Readings come back as plain numbers; -0.1 (`-0.100`, `-0.10000`, ... depending on the
command) means "not available" and is returned as NaN. Settings and actions answer a text
containing `OK`; anything else — and `Error: Invalid command.` — raises InstrumentCommandError.
A broken link raises InstrumentConnectionError, silence CryostationTimeoutError (an
InstrumentTimeoutError) and an unreadable reply InstrumentResponseError.

Resources: `TCPIP0::<ip>::7773::SOCKET`, `<ip>:7773` or `<ip>`.

The s-series / CryoAdvance REST interface (port 47101) is a different protocol, not this one.
"""

from __future__ import annotations

import math
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentResponseError,
    InstrumentTimeoutError,
    SetpointTimeoutError,
)
from ..waiting import check_settle_arguments, wait_until_stable

PORT = 7773
INVALID_COMMAND = "Error: Invalid command."
#: The value the Cryostation reports for a reading it does not have.
UNAVAILABLE = -0.1
MIN_SETPOINT_K, MAX_SETPOINT_K = 2.0, 350.0
#: Continuous platform heater power the driver allows by default (QMI's advice: 1 W; up to 10 W
#: only for short bursts, which this driver does not offer).
DEFAULT_MAX_HEATER_POWER_W = 1.0

_RESOURCE = re.compile(r"^TCPIP\d*::([^:]+)::(\d+)::SOCKET$", re.IGNORECASE)


class CryostationTimeoutError(InstrumentTimeoutError, TimeoutError):
    """The Cryostation did not answer (is External Control enabled in its GUI?)."""


def frame(body: str) -> bytes:
    """`GPT` → `b'03GPT'`: two ASCII digits of length, then the body."""
    data = body.encode("ascii")
    if not 0 < len(data) <= 99:
        raise ValueError(f"a Cryostation message is 1–99 characters, got {len(data)}")
    return f"{len(data):02d}".encode("ascii") + data


class ByteStream(Protocol):
    """What FramedConnection needs of a link: a connected socket, or a simulator's stand-in."""

    def sendall(self, data: bytes) -> Any: ...

    def recv(self, size: int) -> bytes: ...

    def close(self) -> Any: ...


class FramedConnection:
    """Length-prefixed request/reply over a byte stream; one exchange at a time."""

    def __init__(self, stream: ByteStream, *, timeout_s: float = 5.0) -> None:
        self.stream = stream
        self.timeout_s = timeout_s
        settimeout = getattr(stream, "settimeout", None)
        if settimeout is not None:
            settimeout(timeout_s)
        self._lock = threading.Lock()

    @classmethod
    def open_tcp(cls, host: str, port: int = PORT, *, timeout_s: float = 5.0) -> FramedConnection:
        sock = socket.create_connection((host, port), timeout=timeout_s)
        return cls(sock, timeout_s=timeout_s)

    @staticmethod
    def parse_resource(resource: str) -> tuple[str, int]:
        """(host, port) from `TCPIP0::<ip>::<port>::SOCKET`, `<ip>:<port>` or `<ip>`."""
        match = _RESOURCE.match(resource.strip())
        if match:
            return match.group(1), int(match.group(2))
        host, _, port = resource.strip().rpartition(":")
        if host and port.isdigit():
            return host, int(port)
        return resource.strip(), PORT

    def exchange(self, body: str) -> str:
        """Send one framed command and return the body of the framed reply."""
        request = frame(body)
        with self._lock:
            try:
                self._discard_pending()
                self.stream.sendall(request)
                header = self._recv_exactly(2)
                if not header.isdigit():
                    raise InstrumentResponseError(
                        f"Cryostation reply to {body!r} has no length prefix: {header!r}")
                return self._recv_exactly(int(header)).decode("ascii", "replace")
            except InstrumentError:
                raise
            except OSError as exc:  # reset, broken pipe, closed socket
                raise InstrumentConnectionError(
                    f"lost the connection to the Cryostation ({body!r}): "
                    f"{type(exc).__name__}: {exc}") from exc

    def _recv_exactly(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            try:
                chunk = self.stream.recv(size - len(data))
            except (TimeoutError, socket.timeout) as exc:
                raise CryostationTimeoutError(
                    f"no reply from the Cryostation within {self.timeout_s:g} s; is External "
                    "Control enabled in its GUI?") from exc
            if not chunk:
                raise InstrumentConnectionError("the Cryostation closed the connection")
            data.extend(chunk)
        return bytes(data)

    def _discard_pending(self) -> None:
        """Drop bytes left over from an earlier exchange that timed out (sockets only)."""
        fileno = getattr(self.stream, "fileno", None)
        if fileno is None:
            return
        while select.select([self.stream], [], [], 0)[0]:
            if not self.stream.recv(4096):
                return

    def close(self) -> None:
        self.stream.close()


def _number(reply: str) -> float:
    """A reading; NaN where the Cryostation says "not available" (-0.1)."""
    try:
        value = float(reply)
    except ValueError:
        raise InstrumentResponseError(
            f"Cryostation sent {reply!r} where a number was expected") from None
    return math.nan if math.isclose(value, UNAVAILABLE, abs_tol=1e-9) else value


def _reading(command: str, doc: str) -> property:
    def fget(self: MontanaCryostation) -> float:
        return _number(self.ask(command))

    return property(fget, doc=doc)


class MontanaCryostation:
    """Montana Cryostation (legacy protocol) over a framed TCP connection.

    `connection`: a resource string (see the module doc), a `FramedConnection`, or a connected
    socket-like stream. `max_heater_power_W` bounds the platform heater power this driver sets.
    """

    def __init__(self, connection: str | FramedConnection | ByteStream, *,
                 name: str = "Montana Cryostation", timeout_s: float = 5.0,
                 max_heater_power_W: float = DEFAULT_MAX_HEATER_POWER_W,
                 max_setpoint_K: float = MAX_SETPOINT_K) -> None:
        if isinstance(connection, str):
            host, port = FramedConnection.parse_resource(connection)
            connection = FramedConnection.open_tcp(host, port, timeout_s=timeout_s)
        elif not isinstance(connection, FramedConnection):
            connection = FramedConnection(connection, timeout_s=timeout_s)
        if not 0 < max_heater_power_W <= 10.0:
            raise ValueError(f"max_heater_power_W must be in (0, 10] W, got {max_heater_power_W}")
        if not MIN_SETPOINT_K < max_setpoint_K <= MAX_SETPOINT_K:
            raise ValueError(f"max_setpoint_K must be in ({MIN_SETPOINT_K:g}, "
                             f"{MAX_SETPOINT_K:g}] K, got {max_setpoint_K}")
        self.connection = connection
        self.name = name
        self.max_heater_power_W = float(max_heater_power_W)
        self.max_setpoint_K = float(max_setpoint_K)

    # --- messages -----------------------------------------------------------------------------
    def ask(self, command: str) -> str:
        """One exchange; raises InstrumentCommandError if the Cryostation rejects the command."""
        reply = self.connection.exchange(command).strip()
        if reply == INVALID_COMMAND:
            raise InstrumentCommandError(f"{self.name} does not recognise {command!r}")
        return reply

    def _command(self, command: str) -> str:
        """A setting or action: its reply must contain 'OK'."""
        reply = self.ask(command)
        if "OK" not in reply:
            raise InstrumentCommandError(f"{self.name} refused {command!r}: {reply!r}")
        return reply

    def close(self) -> None:
        self.connection.close()

    # --- readings -----------------------------------------------------------------------------
    platform_temperature_K = _reading("GPT", "Platform temperature in K (NaN: not available).")
    sample_temperature_K = _reading("GST", "Sample temperature in K (NaN: not available).")
    user_temperature_K = _reading("GUT", "User thermometer in K (NaN: none fitted).")
    stage1_temperature_K = _reading("GS1T", "Cold-head stage 1 temperature in K.")
    stage2_temperature_K = _reading("GS2T", "Cold-head stage 2 temperature in K.")
    platform_stability_K = _reading("GPS", "Platform temperature stability in K (NaN: not yet).")
    sample_stability_K = _reading("GSS", "Sample temperature stability in K (NaN: not yet).")
    user_stability_K = _reading("GUS", "User thermometer stability in K.")
    chamber_pressure_mTorr = _reading("GCP", "Sample chamber pressure in mTorr.")

    @property
    def temperature_setpoint_K(self) -> float:
        """Platform setpoint in K; setting it rejects values outside 2 K … max_setpoint_K."""
        return _number(self.ask("GTSP"))

    @temperature_setpoint_K.setter
    def temperature_setpoint_K(self, value_K: float) -> None:
        value_K = float(value_K)
        if not MIN_SETPOINT_K <= value_K <= self.max_setpoint_K:
            raise ValueError(f"setpoint {value_K:g} K is outside [{MIN_SETPOINT_K:g}, "
                             f"{self.max_setpoint_K:g}] K")
        self._command(f"STSP {value_K:.2f}")

    @property
    def platform_heater_power_W(self) -> float:
        """Platform heater power in W (NaN: not available); setting it rejects values outside
        0 … max_heater_power_W."""
        return _number(self.ask("GPHP"))

    @platform_heater_power_W.setter
    def platform_heater_power_W(self, power_W: float) -> None:
        power_W = float(power_W)
        if not 0.0 <= power_W <= self.max_heater_power_W:
            raise ValueError(f"platform heater power {power_W:g} W is outside [0, "
                             f"{self.max_heater_power_W:g}] W")
        self._command(f"SPHP {power_W:.4f}")

    @property
    def alarm_active(self) -> bool:
        """True while the Cryostation reports an active system alarm."""
        reply = self.ask("GAS")
        if reply not in ("T", "F"):
            raise InstrumentResponseError(f"{self.name}: unexpected alarm state {reply!r}")
        return reply == "T"

    # --- actions ------------------------------------------------------------------------------
    def cool_down(self) -> None:
        self._command("SCD")

    def warm_up(self) -> None:
        self._command("SWU")

    def standby(self) -> None:
        self._command("SSB")

    def stop(self) -> None:
        self._command("STP")

    @property
    def identity(self) -> str:
        return f"{self.name} (legacy remote protocol)"

    def wait_for_setpoint(
        self,
        *,
        tolerance_K: float = 0.1,
        stable_s: float = 60.0,
        timeout_s: float = 3600.0,
        poll_s: float = 1.0,
        wait: Callable[[float], object] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> float:
        """Wait until the platform stays within `tolerance_K` of the setpoint for `stable_s`;
        return the last platform temperature. Time passes only through `wait` and is read
        through `now` (pass the bench clock for virtual time)."""
        check_settle_arguments(tolerance_K, stable_s, timeout_s, poll_s)
        setpoint = self.temperature_setpoint_K

        def read() -> float:
            return self.platform_temperature_K

        def settled(temperature: float) -> bool:
            return abs(temperature - setpoint) <= tolerance_K

        def timeout_error(temperature: float) -> SetpointTimeoutError:
            return SetpointTimeoutError(
                f"{self.name}: platform at {temperature:.3f} K did not settle within "
                f"{tolerance_K:g} K of {setpoint:g} K for {stable_s:g} s in {timeout_s:g} s")

        return wait_until_stable(read, settled, stable_s=stable_s, timeout_s=timeout_s,
                                 poll_s=poll_s, wait=wait, now=now, timeout_error=timeout_error)
