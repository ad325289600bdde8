"""Resource syntax per transport, checked when a config is loaded.

A driver spec names the checker that fits how its driver opens (`avlab/specs.py`); each checker
returns None for a resource it accepts, else a sentence saying what is expected. Only the
syntax is checked here — whether the instrument answers is for `avlab instruments`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: A resource checker: None if `resource` is acceptable, else what is expected instead.
ResourceCheck = Callable[[str], "str | None"]

_VISA = re.compile(
    r"""^(?:
        ASRL(?:\d+|/\S+)::INSTR                                   # serial: ASRL3::INSTR, ASRL/dev/ttyUSB0::INSTR
      | TCPIP\d*::[^:\s]+::\d{1,5}::SOCKET                        # raw socket
      | TCPIP\d*::[^:\s]+(?:::[^:\s]+)?::INSTR                   # VXI-11 / HiSLIP
      | USB\d*::(?:0x[0-9A-Fa-f]+|\d+)::(?:0x[0-9A-Fa-f]+|\d+)::[^:\s]+(?:::\d+)?::(?:INSTR|RAW)
      | GPIB\d*::\d+(?:::\d+)?::INSTR
    )$""", re.VERBOSE | re.IGNORECASE)
_VISA_HINT = ("a VISA resource string such as 'USB0::0x1313::0x8078::P0012345::INSTR', "
              "'ASRL/dev/ttyUSB0::INSTR' or 'TCPIP0::192.0.2.20::10001::SOCKET'")

_HOST_PORT = re.compile(r"^(?:TCPIP\d*::[^:\s]+::\d{1,5}::SOCKET|[A-Za-z0-9.\-]+(?::\d{1,5})?)$",
                        re.IGNORECASE)
_NI_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:/[A-Za-z]+\d+)?$")
_NI_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z]+\d+$")
_LOOPBACK = re.compile(r"(?:^|::|//|@)(?:127\.\d+\.\d+\.\d+|localhost|\[?::1\]?)(?:$|::|:)",
                       re.IGNORECASE)


def visa(resource: str) -> str | None:
    """VISA resource strings (what pyvisa / pymeasure open)."""
    return None if _VISA.match(resource.strip()) else f"expected {_VISA_HINT}"


def host_port(resource: str) -> str | None:
    """A network instrument: 'host', 'host:port' or a TCPIP …::SOCKET string."""
    if _HOST_PORT.match(resource.strip()):
        return None
    return ("expected a host name or address, optionally ':port', or "
            "'TCPIP0::<address>::<port>::SOCKET'")


def ni_device(resource: str) -> str | None:
    """An NI-DAQmx device name ('Dev1') or a device channel ('Dev1/ctr0')."""
    if _NI_NAME.match(resource.strip()):
        return None
    return "expected an NI-DAQmx device name such as 'Dev1' or a channel such as 'Dev1/ctr0'"


def ni_channel(resource: str) -> str | None:
    """An NI-DAQmx device channel ('Dev1/ctr2')."""
    if _NI_CHANNEL.match(resource.strip()):
        return None
    return "expected an NI-DAQmx device channel such as 'Dev1/ctr2'"


def serial_number(resource: str) -> str | None:
    """A vendor serial number or 'first': letters, digits, '-', '_' and '.' only."""
    if re.fullmatch(r"[A-Za-z0-9_.\-]+", resource.strip()):
        return None
    return "expected a serial number (letters, digits, '-', '_', '.') or 'first'"


def is_loopback(resource: str) -> bool:
    """Whether the resource points at this computer (e.g. a port of `avlab sim serve`)."""
    return bool(_LOOPBACK.search(resource.strip()))
