"""The pump's square wave: what a modulator runs and what its simulated twin gates the beam with.

The pump is on for `on_s`, then off for `off_s`, repeated; a rise curve is recorded from the
on-edges, a decay curve from the off-edges. numpy-free; shared by the modulator drivers and the
simulated bench.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PumpWaveform:
    """A square wave: the pump on for `on_s`, then off for `off_s`, repeated."""

    period_s: float
    duty_cycle: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.period_s) and self.period_s > 0):
            raise ValueError(f"modulation period must be a positive number of seconds, got "
                             f"{self.period_s!r}")
        if not (math.isfinite(self.duty_cycle) and 0.0 < self.duty_cycle < 1.0):
            raise ValueError(f"duty cycle must lie strictly between 0 and 1, got "
                             f"{self.duty_cycle!r}")

    @classmethod
    def from_on_off(cls, on_s: float, off_s: float) -> PumpWaveform:
        """The waveform with the pump on for `on_s` and off for `off_s` (both > 0)."""
        if not (on_s > 0 and off_s > 0):
            raise ValueError(f"on and off times must be positive, got {on_s} s and {off_s} s")
        return cls(on_s + off_s, on_s / (on_s + off_s))

    @property
    def on_s(self) -> float:
        return self.period_s * self.duty_cycle

    @property
    def off_s(self) -> float:
        return self.period_s - self.on_s

    @property
    def frequency_Hz(self) -> float:
        return 1.0 / self.period_s


def check_waveform(waveform: PumpWaveform, *, min_period_s: float, max_period_s: float) -> None:
    """Raise ValueError unless the period lies within the modulator's limits."""
    if not min_period_s <= waveform.period_s <= max_period_s:
        raise ValueError(f"modulation period {waveform.period_s:g} s is outside "
                         f"{min_period_s:g} … {max_period_s:g} s, the limits of this modulator")
