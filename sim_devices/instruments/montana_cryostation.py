"""Simulated Montana Instruments Cryostation, legacy remote protocol (docs/protocols.md §7b).

The real link is TCP port 7773 to the Cryostation laptop ("Enable External Control" on). A
message is two ASCII digits giving the length of the body, then the body, with no terminator;
replies are framed the same way: `03GPT` → `053.205`. `handle` takes and returns bare bodies;
the framing lives in `LengthPrefixedFraming` (what a TCP server uses to split the byte stream)
and in `InProcessStream`, a socket-like object that carries the real framed bytes to this
simulator inside one process.

Commands: GPT/GST/GUT/GS1T/GS2T temperatures (K), GPS/GSS/GUS stabilities (K), GTSP setpoint,
GCP chamber pressure (mTorr), GAS alarm (T/F), GPHP platform heater power (W); STSP <K> (2–350,
with or without a space), SPHP <W>; SCD cool-down, SWU warm-up, SSB standby, STP stop. A value
that is not available reads -0.1 (formatted as the command's other values: `-0.100`,
`-0.10000`, `-0.10`); an unknown command answers `Error: Invalid command.`. Action replies
contain `OK`; their exact wording, the pressure model, the stage 1/2 temperatures and the
meaning of "standby" (cold head on, heater off) are plausible guesses.

The platform and sample temperatures come from a `ThermalStage` (the same model as behind the
simulated Lake Shore); the platform heater holds the platform at the setpoint.
"""

from __future__ import annotations

import enum
import math
import re
import statistics
from collections.abc import Callable

from ..clock import Clock
from ..thermal import (
    ROOM_TEMPERATURE_K,
    ControlMode,
    Cryocooler,
    HeaterLoop,
    ThermalStage,
)
from .base import SimulatedConnectionDropped, SimulatedMessageInstrument

PORT = 7773
INVALID_COMMAND = "Error: Invalid command."
UNAVAILABLE = -0.1
MIN_SETPOINT_K, MAX_SETPOINT_K = 2.0, 350.0
MAX_PLATFORM_HEATER_W = 10.0
#: Stability is the standard deviation of the last this many seconds of readings.
STABILITY_WINDOW_S = 60.0


def frame(body: str) -> str:
    """`GPT` → `03GPT`: two-digit length, then the body."""
    if len(body) > 99:
        raise ValueError(f"a Cryostation message holds at most 99 characters, got {len(body)}")
    return f"{len(body):02d}{body}"


def unframe(stream: str) -> tuple[list[str], str]:
    """Split a received character stream into complete bodies and the unfinished rest."""
    bodies = []
    while len(stream) >= 2:
        if not stream[:2].isdigit():
            raise ValueError(f"not a Cryostation length prefix: {stream[:2]!r}")
        length = int(stream[:2])
        if len(stream) < 2 + length:
            break
        bodies.append(stream[2:2 + length])
        stream = stream[2 + length:]
    return bodies, stream


class LengthPrefixedFraming:
    """Byte-stream framing for a server: `split` takes complete messages out of a buffer,
    `encode` frames a reply."""

    def split(self, buffer: bytearray) -> list[str]:
        bodies, rest = unframe(buffer.decode("ascii", "replace"))
        del buffer[:len(buffer) - len(rest)]
        return bodies

    def encode(self, reply: str) -> bytes:
        return frame(reply).encode("ascii", "replace")


class InProcessStream:
    """A socket-like link (`sendall`, `recv`, `close`) to a simulated Cryostation: the driver
    writes framed bytes, the simulator answers framed bytes, all inside one process."""

    def __init__(self, device: SimulatedMessageInstrument) -> None:
        self.device = device
        self._framing = LengthPrefixedFraming()
        self._incoming = bytearray()
        self._outgoing = bytearray()
        self.closed = False

    def sendall(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the simulated Cryostation closed this connection")
        self._incoming.extend(data)
        for body in self._framing.split(self._incoming):
            try:
                reply = self.device.handle(body)
            except SimulatedConnectionDropped:
                self.closed = True  # like a socket the peer closed: this link stays dead
                raise
            if reply is not None:
                self._outgoing.extend(self._framing.encode(reply))

    def recv(self, size: int) -> bytes:
        if self.closed:
            return b""
        if not self._outgoing:
            raise TimeoutError("the simulated Cryostation sent nothing (no reply pending)")
        chunk = bytes(self._outgoing[:size])
        del self._outgoing[:size]
        return chunk

    def close(self) -> None:
        self._incoming.clear()
        self._outgoing.clear()


class SystemState(enum.Enum):
    COOLING = "cooldown"   # cold head on, platform held at the setpoint
    STANDBY = "standby"    # cold head on, platform heater off
    WARMING = "warmup"     # cold head off, platform heated to room temperature
    STOPPED = "stopped"    # cold head and heater off: drifts warm


class _Lag:
    """A first-order lag evaluated lazily on the clock (stage 1 / stage 2 temperatures)."""

    def __init__(self, clock: Clock, value: float, tau_s: float) -> None:
        self.clock, self.value, self.tau_s = clock, value, tau_s
        self._t = clock.now()
        self.target = value

    def read(self) -> float:
        now = self.clock.now()
        self.value = self.target + (self.value - self.target) * math.exp(
            -(now - self._t) / self.tau_s)
        self._t = now
        return self.value

    def retarget(self, target: float) -> None:
        self.read()
        self.target = target


#: Action → the state it enters and its reply.
_ACTIONS: dict[str, tuple[SystemState, str]] = {
    "SCD": (SystemState.COOLING, "Cooldown started OK"),
    "SWU": (SystemState.WARMING, "Warmup started OK"),
    "SSB": (SystemState.STANDBY, "Standby started OK"),
    "STP": (SystemState.STOPPED, "System stopped OK"),
}
_SETTER = re.compile(r"^(STSP|SPHP)\s*([-+0-9.eE]+)$")


class SimMontanaCryostation(SimulatedMessageInstrument):
    """A virtual Cryostation on a simulated cold platform with a sample on it."""

    write_termination = ""
    read_termination = ""
    DEVICE_FAULTS = {
        "compressor_fault": "the compressor stops: alarm on (GAS T), the platform warms",
        "platform_sensor_failed": "the platform thermometer fails: GPT and GPS read -0.1",
        "sample_sensor_failed": "the sample thermometer fails: GST and GSS read -0.1",
    }

    def __init__(
        self,
        stage: ThermalStage | None = None,
        *,
        clock: Clock | None = None,
        setpoint_K: float = 3.2,
        base_K: float = 3.0,
    ) -> None:
        super().__init__()
        if stage is None:
            if clock is None:
                raise ValueError("give a ThermalStage or a clock to build one on")
            curve = ((base_K, 0.0), (base_K + 1.0, 0.3), (10.0, 1.5), (20.0, 3.5), (50.0, 9.0),
                     (100.0, 18.0), (200.0, 34.0), (300.0, 50.0))
            stage = ThermalStage(clock, cold_source=Cryocooler(curve),
                                 history_s=2 * STABILITY_WINDOW_S)
        self.stage = stage
        self.clock = stage.clock
        #: The server uses this to split and frame messages on TCP (length-prefixed).
        self.framing = LengthPrefixedFraming()
        self.setpoint_K = float(setpoint_K)
        self.control = stage.add_loop(HeaterLoop(
            "platform heater", max_power_W=MAX_PLATFORM_HEATER_W, linear_power=True,
            P=20.0, I=50.0, D=0.0))
        self.user_heater = stage.add_loop(HeaterLoop(
            "platform heater (user power)", max_power_W=MAX_PLATFORM_HEATER_W,
            linear_power=True, control_node=None))
        self.user_heater.set_mode(ControlMode.OPEN_LOOP)
        self.user_heater.set_range(3)
        cold = stage.cooling_enabled
        self._stage1 = _Lag(self.clock, 38.0 if cold else ROOM_TEMPERATURE_K, tau_s=1800.0)
        self._stage2 = _Lag(self.clock, base_K - 0.2 if cold else ROOM_TEMPERATURE_K,
                            tau_s=900.0)
        self.platform_sensor_ok = True
        self.sample_sensor_ok = True
        self.alarm = False
        self._enter(SystemState.COOLING)

    # --- states -------------------------------------------------------------------------------
    def _enter(self, state: SystemState) -> None:
        self.stage.advance()
        self.state = state
        cooling = state in (SystemState.COOLING, SystemState.STANDBY)
        self.stage.set_cooling(cooling)
        self._stage1.retarget(38.0 if cooling else ROOM_TEMPERATURE_K)
        self._stage2.retarget(self.stage.cold_source.base_K - 0.2 if cooling
                              else ROOM_TEMPERATURE_K)
        if state == SystemState.COOLING:
            self.control.set_setpoint(self.setpoint_K, self.stage.platform_K)
            self.control.set_range(3)
        elif state == SystemState.WARMING:
            self.control.set_setpoint(ROOM_TEMPERATURE_K, self.stage.platform_K)
            self.control.set_range(3)
        else:
            self.control.set_range(0)

    # --- fault injection ----------------------------------------------------------------------
    def inject_compressor_fault(self) -> None:
        """The cold head stops and the alarm goes up; the platform warms."""
        self.stage.set_cooling(False)
        self._stage1.retarget(ROOM_TEMPERATURE_K)
        self._stage2.retarget(ROOM_TEMPERATURE_K)
        self.alarm = True

    def _inject_device_fault(self, fault: str) -> None:
        if fault == "compressor_fault":
            self.inject_compressor_fault()
        elif fault == "platform_sensor_failed":
            self.platform_sensor_ok = False
        elif fault == "sample_sensor_failed":
            self.sample_sensor_ok = False

    def _clear_device_faults(self) -> None:
        """Thermometers and compressor repaired, alarm cleared; the system state is unchanged
        (a cold head that stopped starts again only in cool-down or standby)."""
        self.platform_sensor_ok = self.sample_sensor_ok = True
        self.alarm = False
        self._enter(self.state)

    # --- readings -----------------------------------------------------------------------------
    def _stability(self, column: int) -> float:
        samples = [h[column] for h in self.stage.history(STABILITY_WINDOW_S)]
        if len(samples) < 10:
            return UNAVAILABLE
        return statistics.pstdev(samples)

    def _pressure_mTorr(self) -> float:
        """Cryopumped when cold, rising steeply as the platform warms (a guess at the shape)."""
        t = self.stage.platform_K
        return 1e-4 + 0.5 * (max(t - 20.0, 0.0) / 280.0) ** 4 * 1e3

    def _heater_power_W(self) -> float:
        self.stage.advance()
        return self.control.power_W + self.user_heater.power_W

    # --- protocol -----------------------------------------------------------------------------
    def _handle(self, command: str) -> str | None:
        name = command.upper()
        getter = _GETTERS.get(name)
        if getter is not None:
            return getter(self)
        if name in _ACTIONS:
            state, reply = _ACTIONS[name]
            self._enter(state)
            return reply
        match = _SETTER.match(name)
        if match:
            try:
                value = float(match.group(2))
            except ValueError:
                return INVALID_COMMAND
            return self._set(match.group(1), value)
        return INVALID_COMMAND

    def _set(self, name: str, value: float) -> str:
        self.stage.advance()
        if name == "STSP":
            if not MIN_SETPOINT_K <= value <= MAX_SETPOINT_K:
                return f"Error: setpoint must be {MIN_SETPOINT_K:g} to {MAX_SETPOINT_K:g} K."
            self.setpoint_K = value
            if self.state == SystemState.COOLING:
                self.control.set_setpoint(value, self.stage.platform_K)
            return "Setpoint set OK"
        if not 0.0 <= value <= MAX_PLATFORM_HEATER_W:
            return f"Error: heater power must be 0 to {MAX_PLATFORM_HEATER_W:g} W."
        self.user_heater.manual_percent = 100.0 * value / MAX_PLATFORM_HEATER_W
        return "Platform heater power set OK"


#: Query → its reply, read from the twin (-0.1 where a thermometer failed or is not fitted).
_GETTERS: dict[str, Callable[[SimMontanaCryostation], str]] = {
    "GPT": lambda c: f"{c.stage.platform_K if c.platform_sensor_ok else UNAVAILABLE:.3f}",
    "GST": lambda c: f"{c.stage.sample_K if c.sample_sensor_ok else UNAVAILABLE:.3f}",
    "GUT": lambda c: f"{UNAVAILABLE:.3f}",  # no user thermometer fitted
    "GS1T": lambda c: f"{c._stage1.read():.2f}",
    "GS2T": lambda c: f"{c._stage2.read():.2f}",
    "GPS": lambda c: f"{c._stability(1) if c.platform_sensor_ok else UNAVAILABLE:.5f}",
    "GSS": lambda c: f"{c._stability(2) if c.sample_sensor_ok else UNAVAILABLE:.5f}",
    "GUS": lambda c: f"{UNAVAILABLE:.5f}",
    "GTSP": lambda c: f"{c.setpoint_K:.2f}",
    "GCP": lambda c: f"{c._pressure_mTorr():.4f}",
    "GAS": lambda c: "T" if c.alarm or c.stage.tripped else "F",
    "GPHP": lambda c: f"{c._heater_power_W():.3f}",
}
