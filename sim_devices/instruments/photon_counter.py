"""Simulated photon-counting detector behind a gated counter (SDK-level twin).

Real photon-counting modules (SPAD, counting PMT) have no command protocol: their TTL pulses
go to a counter (NI-DAQ, Time Tagger). So the twin implements the small counter interface of
`drivers.counters` directly. Counts per gate are Poisson, with dark counts and
non-paralyzable dead-time saturation: measured rate m = r / (1 + r·τ).
"""

from __future__ import annotations

import numpy as np

from ..world import SimWorld
from .sdk_faults import SdkFaults


#: Faults of the counting chain (SDK-level: no wire, so they surface as the SDK's errors).
COUNTER_FAULTS: dict[str, str] = {
    "drop_connection": "the counter card disappears (USB/PCIe reset): counting raises",
    "stop_answering": "the counter hangs: a gate never completes (timeout)",
    "flood": "room light or a laser reflection floods the detector (~50 Mcps true rate)",
}
FLOOD_RATE_CPS = 5e7


def measured_rate_cps(true_rate_cps: float | np.ndarray, dead_time_s: float):
    """What a non-paralyzable detector reports for a true photon rate: r / (1 + r·τ)."""
    return true_rate_cps / (1.0 + true_rate_cps * dead_time_s)


def counted_rate_cps(signal_cps: float | np.ndarray, dark_count_rate_cps: float,
                     dead_time_s: float, *, flood: bool = False):
    """The click rate a counting chain reports: signal + dark counts (+ the flood fault's
    rate), through the non-paralyzable dead time (`measured_rate_cps`). Shared by every
    simulated counting chain (counter, galvo scanner, time tagger)."""
    true_rate = signal_cps + dark_count_rate_cps
    if flood:
        true_rate += FLOOD_RATE_CPS
    return measured_rate_cps(true_rate, dead_time_s)


class SimPhotonCounter(SdkFaults):
    """Counts photons from the simulated sample over a gate of bench time."""

    FAULTS = COUNTER_FAULTS

    def __init__(
        self,
        world: SimWorld,
        *,
        dark_count_rate_cps: float = 25.0,
        dead_time_s: float = 22e-9,
        max_counts_per_gate: int = 2**32 - 1,
        name: str = "simulated SPAD on counter ctr0",
    ) -> None:
        if dark_count_rate_cps < 0 or dead_time_s < 0:
            raise ValueError("dark count rate and dead time must not be negative")
        self.world = world
        self.dark_count_rate_cps = dark_count_rate_cps
        self.dead_time_s = dead_time_s
        self.max_counts_per_gate = max_counts_per_gate
        self.name = name
        self.gates_counted = 0
        self._init_faults()

    @property
    def identity(self) -> str:
        return f"avlab simulation, {self.name}, dead time {self.dead_time_s * 1e9:.0f} ns"

    def count(self, gate_s: float) -> int:
        """Photons counted during `gate_s` seconds of bench time starting now."""
        if gate_s <= 0:
            raise ValueError(f"gate time must be positive, got {gate_s} s")
        self._check_link(
            self.world.clock,
            ConnectionResetError(f"{self.name}: device not present (simulated fault)"),
            TimeoutError(f"{self.name}: gate did not complete (simulated fault)"), hang_s=gate_s)
        # A counter register wraps; report saturation at its width rather than wrapping silently.
        return min(self.photons_in_gate(gate_s), self.max_counts_per_gate)

    def photons_in_gate(self, gate_s: float) -> int:
        """The physics of one gate, without checks or faults: detector clicks during `gate_s`
        seconds of bench time from now (Poisson, dark counts, dead time, the flood fault's
        light). Shared by `count` and the simulated NI-DAQ card (`sim_devices.sdk`), whose
        counter register does its own wrapping."""
        measured_rate = counted_rate_cps(self.world.detected_photon_rate_cps(),
                                         self.dark_count_rate_cps, self.dead_time_s,
                                         flood="flood" in self.active_faults)
        counts = int(self.world.rng.poisson(measured_rate * gate_s))
        self.world.clock.sleep(gate_s)
        self.gates_counted += 1
        return counts

    def close(self) -> None:
        """Nothing to release in the simulation."""
