"""Driver of the made-up ACME PM-1 power meter: line-based SCPI-like text over any
pymeasure adapter ("\n" terminated both ways).

Commands: *IDN?, WAV <nm> / WAV?, AVG <n> / AVG?, POW? (W), ZERO.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument


class AcmePowerMeter(Instrument):
    """ACME PM-1: a photodiode power meter with a wavelength correction."""

    def __init__(self, adapter, name: str = "ACME PM-1", **kwargs) -> None:
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    wavelength_nm = Instrument.control("WAV?", "WAV %g", "Wavelength correction, nm.",
                                       cast=float)
    averaging_count = Instrument.control("AVG?", "AVG %d", "Samples per reading.", cast=int)
    power_W = Instrument.measurement("POW?", "Optical power, W.", cast=float)

    @property
    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    def zero(self) -> None:
        self.write("ZERO")

    def close(self) -> None:
        self.adapter.close()
