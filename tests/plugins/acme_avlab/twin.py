"""Simulated ACME PM-1: reads the beams of a SimWorld at the power-meter plane."""

from __future__ import annotations

from sim_devices.instruments.base import SimulatedMessageInstrument


class SimAcmePowerMeter(SimulatedMessageInstrument):
    """Answers the PM-1 commands; a flat responsivity from min to max wavelength."""

    DEVICE_FAULTS = {"lens_cap_on": "the sensor is covered: every reading is 0 W"}

    def __init__(self, world, *, min_wavelength_nm: float, max_wavelength_nm: float) -> None:
        super().__init__()
        self.world = world
        self.min_wavelength_nm, self.max_wavelength_nm = min_wavelength_nm, max_wavelength_nm
        self.wavelength_nm = 1000.0
        self.averages = 1

    def _handle(self, command: str) -> str | None:
        head, _, arg = command.partition(" ")
        if head == "*IDN?":
            return "ACME,PM-1,0001,1.0"
        if head == "WAV?":
            return f"{self.wavelength_nm:g}"
        if head == "WAV":
            value = float(arg)
            if self.min_wavelength_nm <= value <= self.max_wavelength_nm:
                self.wavelength_nm = value
            return None
        if head == "AVG?":
            return str(self.averages)
        if head == "AVG":
            self.averages = max(1, int(arg))
            return None
        if head == "POW?":
            self.world.clock.sleep(self.averages * 1e-3)
            if "lens_cap_on" in self.active_faults:
                return "0"
            return f"{sum(p for _lam, p in self.world.beams_at_meter()):.6e}"
        if head == "ZERO":
            return None
        return "ERR"
