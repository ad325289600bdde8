"""The pump as a procedure sees it: a laser role plus the bench optics, so a procedure can ask
for a peak intensity at the focus (kW/cm²) rather than a laser setpoint, and read back the
intensity from the power meter. One place for the conversion every intensity-driven procedure
needs (I0 = 2P/(πw0²), avlab/analysis/optics.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .analysis.optics import peak_intensity_kW_cm2, power_for_intensity_W
from .errors import SafetyLimitError
from .procedure import RunContext


@dataclass
class Pump:
    """The pump laser with the bench optics: sets and measures the peak intensity at the
    focus, I0 = 2·P/(π·w0²), P = meter reading × transmission to the sample (the S-curve's
    convention, avlab/analysis/optics.py).

    The fraction of the laser output that reaches the meter plane is not in the bench file
    (pick-offs, attenuators), so it is measured once with the pump on (`calibrate`): a setpoint
    for an intensity is then scaled from that reading and corrected from the meter."""

    laser: Any
    meter: Any | None
    waist_um: float
    transmission: float
    #: Meter-plane power per W of laser setpoint (measured; 1 without a meter).
    meter_per_setpoint: float = 1.0

    @classmethod
    def of(cls, bench: Any, role: str = "", meter_role: str = "") -> Pump:
        """The laser `role` (empty: the bench's only laser) with the power meter `meter_role`
        (empty: the bench's only one, or none if it has none)."""
        laser = bench.laser(role or None)
        meter = (bench.power_meter(meter_role) if meter_role else
                 bench.power_meter() if bench.has("power_meter") else None)
        optics = bench.config.optics
        return cls(laser, meter, optics.waist_um(laser.wavelength_nm),
                   optics.transmission_to_sample)

    def intensity_of_meter(self, meter_W: float) -> float:
        return float(peak_intensity_kW_cm2(meter_W * self.transmission, self.waist_um))

    def setpoint_W(self, intensity_kW_cm2: float) -> float:
        """Laser output for `intensity_kW_cm2` at the focus (after `calibrate`)."""
        sample_W = float(power_for_intensity_W(intensity_kW_cm2, self.waist_um))
        return sample_W / self.transmission / self.meter_per_setpoint

    def measured(self, setpoint_W: float) -> tuple[float, float]:
        """(power at the meter plane W, peak intensity kW/cm²) now; the setpoint stands in
        for the meter when the bench has none."""
        meter_W = self.meter.power_W() if self.meter is not None else setpoint_W
        return meter_W, self.intensity_of_meter(meter_W)

    def calibrate(self, ctx: RunContext, probe_W: float, settle_s: float) -> None:
        """Measure the meter-plane fraction of the laser output at `probe_W` (pump on)."""
        if self.meter is None:
            return
        self.laser.set_power_W(probe_W)
        ctx.wait(settle_s)
        meter_W = self.meter.power_W()
        if not meter_W > 0:
            raise RuntimeError(f"the power meter reads {meter_W:g} W with {self.laser.role} at "
                               f"{probe_W:g} W: cannot convert intensities to setpoints")
        self.meter_per_setpoint = meter_W / probe_W

    def set_intensity(self, ctx: RunContext, intensity_kW_cm2: float,
                      settle_s: float) -> tuple[float, float, float]:
        """Set the laser for `intensity_kW_cm2` at the focus, correcting from the meter (up to
        three times, to 0.5 %); returns (setpoint W, meter W, intensity kW/cm²)."""
        setpoint = self.setpoint_W(intensity_kW_cm2)
        for attempt in range(4):
            if setpoint > self.laser.max_power_W:
                reach = intensity_kW_cm2 * self.laser.max_power_W / setpoint
                raise SafetyLimitError(
                    f"{intensity_kW_cm2:.4g} kW/cm² at the focus needs {setpoint:.4g} W from "
                    f"{self.laser.role}, {setpoint / self.laser.max_power_W:.3g}× its limit "
                    f"{self.laser.max_power_W:g} W (at most ~{reach:.4g} kW/cm²)")
            self.laser.set_power_W(setpoint)
            ctx.wait(settle_s)
            meter_W, intensity = self.measured(setpoint)
            if self.meter is None or not intensity > 0 or attempt == 3 \
                    or abs(intensity / intensity_kW_cm2 - 1) <= 0.005:
                break  # the setpoint returned is the one the laser is at
            setpoint *= intensity_kW_cm2 / intensity
        return setpoint, meter_W, intensity

    def set_power(self, ctx: RunContext, power_W: float,
                  settle_s: float) -> tuple[float, float, float]:
        self.laser.set_power_W(power_W)
        ctx.wait(settle_s)
        meter_W, intensity = self.measured(power_W)
        return power_W, meter_W, intensity
