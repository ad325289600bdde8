"""avlab.pump.Pump: the setpoint it reports is the one the laser is at."""

from __future__ import annotations

import itertools

from avlab.pump import Pump


class _Laser:
    role, max_power_W = "pump", 5.0

    def __init__(self) -> None:
        self.setpoints: list[float] = []

    def set_power_W(self, power_W: float) -> None:
        self.setpoints.append(power_W)


class _NoisyMeter:
    """Reads ±2 % around the laser's setpoint: never within 0.5 % of a target."""

    def __init__(self, laser: _Laser) -> None:
        self.laser, self.factors = laser, itertools.cycle([1.02, 0.98])

    def power_W(self) -> float:
        return self.laser.setpoints[-1] * next(self.factors)


class _Context:
    def wait(self, seconds: float) -> None:
        pass


def test_set_intensity_returns_the_setpoint_last_applied_when_it_never_converges():
    laser = _Laser()
    pump = Pump(laser, _NoisyMeter(laser), waist_um=0.4, transmission=0.3)
    setpoint, meter_W, intensity = pump.set_intensity(_Context(), 5.0, settle_s=0.0)
    assert len(laser.setpoints) == 4  # tried, corrected three times, gave up
    assert setpoint == laser.setpoints[-1]
    assert intensity == pump.intensity_of_meter(meter_W)
