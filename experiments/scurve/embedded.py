"""The S-curve as one part of a larger procedure (S-curve + rise times, best-resolution
confocal image): its settings as `scurve_*` parameters, declared once here."""

from __future__ import annotations

from avlab.procedure import Bool, Float, Int

from .procedure import SCurve


class EmbeddedSCurve:
    """Mixin for a Procedure that measures an S-curve of the same particle as one of its parts.

    A subclass may give a parameter another default by declaring it again (a brighter or
    dimmer particle, a laser with another range)."""

    scurve_points = Int(30, minimum=5, maximum=2000, doc="coarse points of the S-curve")
    scurve_power_min_W = Float(0.08, minimum=0.0, unit="W", doc="S-curve's lowest setpoint")
    scurve_power_max_W = Float(1.5, minimum=0.0, unit="W", doc="S-curve's highest setpoint")
    scurve_settle_s = Float(1.5, minimum=0.0, unit="s",
                            doc="wait after each S-curve power change (several t½)")
    scurve_target_counts = Int(2500, minimum=10, doc="photons per S-curve point")
    scurve_sweep_down = Bool(False, doc="also sweep the S-curve back down")

    def scurve(self) -> SCurve:
        """The S-curve part, with this procedure's pump role and `scurve_*` settings."""
        return SCurve(pump_role=self.pump_role, power_min_W=self.scurve_power_min_W,
                      power_max_W=self.scurve_power_max_W, points=self.scurve_points,
                      settle_s=self.scurve_settle_s, target_counts=self.scurve_target_counts,
                      sweep_down=self.scurve_sweep_down, use_attenuator=False)
