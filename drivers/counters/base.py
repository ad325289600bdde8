"""The small interface every gated photon counter offers.

Photon-counting modules have no command protocol — their pulses go to a counter card — so
counters are SDK-level devices. Anything with this shape can serve the `detector` role: the
NI-DAQ backend here, the simulated counter in `sim_devices`, later a Time Tagger.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class PhotonCounter(Protocol):
    """Counts detector pulses over a gate."""

    @property
    def identity(self) -> str:
        """Human-readable description of the counter and detector."""

    def count(self, gate_s: float) -> int:
        """Block for `gate_s` seconds and return the pulses counted meanwhile."""

    def close(self) -> None:
        """Release the hardware."""


def dead_time_corrected_rate_cps(counts: int, gate_s: float, dead_time_s: float) -> float:
    """True count rate from a measured one for a non-paralyzable detector: r = m / (1 − m·τ).

    Raises ValueError when m·τ ≥ 1, where the measured rate can no longer be inverted.
    """
    measured = counts / gate_s
    loss = measured * dead_time_s
    if loss >= 1.0:
        raise ValueError(f"measured rate {measured:.3g} counts/s is at the dead-time limit "
                         f"1/τ = {1 / dead_time_s:.3g} counts/s: the detector is saturated")
    return measured / (1.0 - loss)
