"""Serve simulated message-based instruments on loopback TCP ports.

A served twin answers exactly as over the in-process adapter, but through a socket, so any
client reaches it with an ordinary resource string — our drivers, upstream pymeasure drivers,
a lab's own scripts, another program: `TCPIP0::127.0.0.1::<port>::SOCKET` (pyvisa-py) or
`socket://127.0.0.1:<port>` (pyserial). Only loopback addresses are accepted: a simulation
must never appear on a lab network by accident.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import threading
from dataclasses import dataclass

from .instruments.base import SimulatedMessageInstrument

log = logging.getLogger(__name__)

#: Read size per recv; instrument messages are short.
_CHUNK = 4096


class TerminatedFraming:
    """Messages end with a terminator (CR, LF or CR LF), as on serial and raw-socket links."""

    def __init__(self, incoming: str, outgoing: str) -> None:
        self.incoming = incoming.encode()
        self.outgoing = outgoing.encode()

    def split(self, buffer: bytearray) -> list[str]:
        """Remove and return every complete message in `buffer`."""
        messages = []
        # Accept CR LF as well as the bare terminator: clients differ.
        terminator = self.incoming if self.incoming != b"\r\n" else b"\n"
        while True:
            end = buffer.find(terminator)
            if end < 0:
                return messages
            raw = bytes(buffer[:end]).rstrip(b"\r")
            del buffer[:end + len(terminator)]
            messages.append(raw.decode("ascii", "replace"))

    def encode(self, reply: str) -> bytes:
        return reply.encode("ascii", "replace") + self.outgoing


def framing_for(device: SimulatedMessageInstrument):
    """The device's own framing if it declares one (e.g. length-prefixed), else terminators."""
    custom = getattr(device, "framing", None)
    if custom is not None:
        return custom
    return TerminatedFraming(device.write_termination, device.read_termination)


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback address."""
    try:
        address = ipaddress.ip_address(socket.gethostbyname(host))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from None
    if not address.is_loopback:
        raise ValueError(f"simulated instruments are served on loopback only, not {host!r}")


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _InstrumentTCPServer = self.server  # type: ignore[assignment]
        device = server.device
        framing = framing_for(device)
        buffer = bytearray()
        self.request.settimeout(0.5)
        while not server.closing.is_set():
            try:
                chunk = self.request.recv(_CHUNK)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer.extend(chunk)
            for message in framing.split(buffer):
                try:
                    reply = device.handle(message)
                except ConnectionResetError:
                    return  # a drop_connection fault: close this client's socket
                if reply is not None:
                    try:
                        self.request.sendall(framing.encode(reply))
                    except OSError:
                        return


class _InstrumentTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], device: SimulatedMessageInstrument) -> None:
        self.device = device
        self.closing = threading.Event()
        super().__init__(address, _Handler)


@dataclass
class ServedInstrument:
    """One twin on one port."""

    name: str
    device: SimulatedMessageInstrument
    host: str
    port: int

    @property
    def visa_resource(self) -> str:
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    @property
    def serial_url(self) -> str:
        return f"socket://{self.host}:{self.port}"


class InstrumentServer:
    """Serves several simulated instruments, each on its own loopback port, in threads."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        check_loopback(host)
        self.host = host
        self._servers: list[tuple[ServedInstrument, _InstrumentTCPServer, threading.Thread]] = []

    def add(self, name: str, device: SimulatedMessageInstrument, port: int = 0) -> ServedInstrument:
        """Serve `device` on `port` (0: any free port). Raises OSError if the port is taken."""
        tcp = _InstrumentTCPServer((self.host, port), device)
        served = ServedInstrument(name, device, self.host, tcp.server_address[1])
        thread = threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.1},
                                  name=f"sim-serve-{name}", daemon=True)
        thread.start()
        self._servers.append((served, tcp, thread))
        log.info("serving %s on %s", name, served.visa_resource)
        return served

    @property
    def served(self) -> list[ServedInstrument]:
        return [s for s, _, _ in self._servers]

    def close(self) -> None:
        for _, tcp, thread in self._servers:
            tcp.closing.set()
            tcp.shutdown()
            tcp.server_close()
            thread.join(timeout=2.0)
        self._servers.clear()

    def __enter__(self) -> InstrumentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

