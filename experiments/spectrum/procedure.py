"""Emission spectra at a list of pump powers: dark-corrected, averaged, below saturation.

Why a power series of spectra: the lines of a photon-avalanche particle come from levels of
different order, so they grow with different slopes S = d ln(band) / d ln(I); the 800 nm Tm
line and the weak 475 nm line (one pump photon more) separate in a log-log plot of their band
integrals. One run measures every band at every power with the same detector, so the slopes
need no cross-calibration.

Per power: the exposure is chosen so that the brightest pixel sits near `target_fraction` of
the detector's full scale (never saturated: a saturated frame is retaken shorter), or fixed
(`auto_exposure=false`); `averages` frames are averaged; a dark frame (pump off, same exposure,
same averaging) is subtracted — darks are taken once per exposure used, exposures are rounded
to a 1-2-5 ladder so they repeat. The remaining background (stray light, pump leaking through
the filters, substrate glow) is estimated one of two ways, and the run's stored `background`
parameter says which was used:

* ``off_particle`` (the default when the bench has a scanner): after each spectrum the beam is
  parked `background_offset_um` beside the particle, the same frames are taken with the pump
  on, and that averaged frame is subtracted instead of the dark — a true background frame;
  the beam goes back before the next power;
* ``off_band`` (the default otherwise, since the beam cannot leave the particle): the median
  of the dark-corrected pixels outside every band is subtracted — it assumes the background
  is flat across the spectrum and misses any background under the lines. Spectra are stored in
counts/s as a stack (one per pump intensity, growing while the run goes) against the pixel
index; the wavelength of every pixel (the spectrometer's calibration) is stored next to it, and
the cubic fit of that calibration as run-level scalars.

Bands: `bands` = "name:lo-hi;name:lo-hi" in nm, or empty on the simulated bench: then the
preset's lines inside the spectrometer's range are used, each ±1.5 FWHM at the sample
temperature (the instrument resolution added), cut at the midpoint to a neighbour.

Run it: `avlab run spectrum --config experiments/labs/spectrometer_sim.toml`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from avlab.bench import Bench
from avlab.data import ArrayItem, Axis, Column
from avlab.errors import ParameterError
from avlab.procedure import (AnalysisResult, Bool, Float, Int, Procedure, RunContext, Text,
                             parse_number_list, roles_needed)
from avlab.pump import Pump
from avlab.views import CurvesView, ReadoutView, View, XYView

#: Exposure ladder (1-2-5 per decade) so that dark frames can be reused across powers.
_LADDER = (1.0, 2.0, 5.0)
#: A frame whose brightest pixel is above this fraction of full scale is retaken shorter.
_TOO_BRIGHT = 0.85
#: Resolution assumed for automatic band widths when the spectrometer does not say (nm FWHM).
_DEFAULT_RESOLUTION_NM = 1.5


def parse_bands(text: str) -> list[tuple[str, float, float]]:
    """"Tm 800:777-823;Tm 475:463-487" → [(name, lo_nm, hi_nm), ...]."""
    bands = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, sep, rng = part.rpartition(":")
        lo, dash, hi = rng.partition("-")
        if not sep or not dash or not name.strip():
            raise ValueError(f"band {part!r} must be name:lo-hi (nm)")
        lo_nm, hi_nm = float(lo), float(hi)
        if not lo_nm < hi_nm:
            raise ValueError(f"band {part!r}: lo must be below hi")
        bands.append((name.strip(), lo_nm, hi_nm))
    return bands


def format_bands(bands: list[tuple[str, float, float]]) -> str:
    return ";".join(f"{name}:{lo:.1f}-{hi:.1f}" for name, lo, hi in bands)


def ladder_exposure(exposure_s: float) -> float:
    """The largest 1-2-5 ladder value not above `exposure_s` (s)."""
    decade = 10.0 ** math.floor(math.log10(exposure_s))
    best = decade
    for step in _LADDER:
        if step * decade <= exposure_s * (1 + 1e-9):
            best = step * decade
    return best


def preset_bands(bench: Bench, wavelengths_nm: np.ndarray) -> list[tuple[str, float, float]]:
    """Bands from the simulated sample's lines inside the spectrometer's range (see module)."""
    from sim_devices.physics.spectra import spectrum_model

    world = bench.world
    if world is None:
        raise ParameterError("parameter bands: give the bands (name:lo-hi;...) — only the "
                             "simulated bench knows its sample's lines")
    model = spectrum_model(world.preset, world.temperature_K)
    lo_range, hi_range = float(np.min(wavelengths_nm)), float(np.max(wavelengths_nm))
    order = np.argsort(model.wavelength_nm)
    centres = model.wavelength_nm[order]
    widths = np.hypot(model.fwhm_nm[order], _DEFAULT_RESOLUTION_NM)
    names = [model.names[i] for i in order]
    bands = []
    for i, (name, centre, width) in enumerate(zip(names, centres, widths)):
        if not lo_range + width < centre < hi_range - width or centre > 1000.0:
            continue  # outside the detector, or where silicon sees nothing
        lo, hi = centre - 1.5 * width, centre + 1.5 * width
        if i > 0:
            lo = max(lo, 0.5 * (centre + centres[i - 1]))
        if i + 1 < len(centres):
            hi = min(hi, 0.5 * (centre + centres[i + 1]))
        bands.append((name, float(lo), float(hi)))
    return bands


class Spectrum(Procedure):
    """Emission spectra at a list of pump powers, with band integrals and their slopes."""

    name = "spectrum"
    title = "Emission spectra versus pump power"

    pump_role = Text("", doc="laser role; empty: the bench's only laser")
    spectrometer_role = Text("", doc="spectrometer role; empty: the bench's only one")
    powers_W = Text("0.4,0.6,0.9,1.3,2.0", doc="laser output setpoints, comma separated (W)")
    pixels = Int(2048, minimum=2, maximum=100_000, doc="detector pixels (checked against "
                                                       "the spectrometer)")
    auto_exposure = Bool(True, doc="choose each exposure so the brightest pixel sits near "
                                   "target_fraction of full scale (else exposure_s, fixed)")
    exposure_s = Float(1.0, minimum=1e-3, maximum=600.0, unit="s",
                       doc="fixed exposure, or the first try of the automatic one")
    min_exposure_s = Float(0.01, minimum=1e-3, unit="s", doc="shortest automatic exposure")
    max_exposure_s = Float(20.0, minimum=1e-3, unit="s", doc="longest automatic exposure")
    target_fraction = Float(0.5, minimum=0.05, maximum=0.8,
                            doc="brightest pixel as a fraction of full scale (automatic)")
    averages = Int(4, minimum=1, maximum=10_000, doc="frames averaged per spectrum and dark "
                                                     "(at least; see integration_s)")
    integration_s = Float(0.0, minimum=0.0, maximum=36_000.0, unit="s",
                          doc="light collected per spectrum: more frames are averaged when the "
                              "exposure is short, so weak bands keep their noise level at the "
                              "high powers where the brightest line shortens the exposure "
                              "(0: always `averages` frames)")
    slope_tolerance = Float(0.033, minimum=1e-4, maximum=10.0,
                            doc="a band's slope counts as determined when its standard "
                                "uncertainty is at most this fraction of the slope")
    settle_s = Float(1.0, minimum=0.0, maximum=600.0, unit="s", doc="wait after a power change")
    bands = Text("", doc="emission bands 'name:lo-hi;...' in nm; empty: the simulated "
                         "sample's lines")
    background = Text("auto", doc="background estimate: 'off_particle' (beam parked beside "
                                  "the particle, pump on; needs a scanner), 'off_band' (median "
                                  "of the pixels outside the bands) or 'auto' (off_particle "
                                  "when the bench has a scanner); the run stores the one used")
    background_offset_um = Float(5.0, minimum=0.5, maximum=500.0, unit="um",
                                 doc="off_particle: how far beside the particle (along x)")

    columns = [
        Column("power_setpoint_W", "W", "f8", "laser output setpoint"),
        Column("meter_power_W", "W", "f8", "power at the power-meter plane"),
        Column("intensity_kW_cm2", "kW/cm^2", "f8", "peak pump intensity 2P/(pi w0^2)"),
        Column("exposure_s", "s", "f8", "exposure of each averaged frame"),
        Column("averages", "", "i8", "frames averaged"),
        Column("peak_fraction", "", "f8", "brightest pixel / full scale (dark corrected)"),
        Column("saturated", "", "?", "a frame of this spectrum saturated (then discarded)"),
        Column("background_cps", "counts/s", "f8",
               "mean per-pixel background subtracted (off the particle, or outside the bands)"),
        Column("total_cps", "counts/s", "f8", "sum over all pixels after corrections"),
    ]
    signal = "total_cps"
    axes = "intensity_kW_cm2"
    measurements = {"waist_um": "um", "transmission_to_sample": "",
                    "calibration_c0_nm": "nm", "calibration_c1_nm": "nm",
                    "calibration_c2_nm": "nm", "calibration_c3_nm": "nm",
                    "calibration_rms_nm": "nm", "full_scale_counts": "counts"}
    arrays = [
        ArrayItem("spectra", "counts/s", shape=("pixels",), stacked=True,
                  axes=("pump_intensity_kW_cm2", "pixel"), interpretation="spectrum",
                  description="dark- and background-corrected, averaged spectra"),
        ArrayItem("dark_counts", "counts", shape=("pixels",), stacked=True,
                  axes=("pump_intensity_kW_cm2", "pixel"), interpretation="spectrum",
                  description="averaged dark frame (pump off) used for each spectrum"),
        ArrayItem("wavelength_nm", "nm", shape=("pixels",), axes=("pixel",),
                  description="wavelength of each pixel centre (spectrometer calibration)"),
    ]
    default_plot = "spectra"

    def array_axes(self) -> list[Axis]:
        return [Axis("pump_intensity_kW_cm2", "kW/cm^2", "peak pump intensity of each spectrum"),
                Axis("pixel", "", "detector pixel index", values=np.arange(self.pixels))]

    def power_list(self) -> list[float]:
        powers = parse_number_list(self.powers_W, "powers_W")
        if not powers:  # a 0 W spectrum has no intensity to fit a band's slope against
            raise ParameterError("parameter powers_W: give one or more powers > 0 W")
        return powers

    def check(self, bench: Bench) -> None:
        with roles_needed("spectrum needs a laser, a power meter and a spectrometer",
                          " (choose them with --set pump_role=<role> / spectrometer_role=<role>)"):
            laser = bench.laser(self.pump_role or None)
            bench.power_meter()
            spectrometer = bench.spectrometer(self.spectrometer_role or None)
        for power in self.power_list():
            laser.check_power(power)
        wavelengths = np.asarray(spectrometer.wavelengths_nm())
        if len(wavelengths) != self.pixels:
            raise ParameterError(f"parameter pixels: {self.pixels}, but {spectrometer.role} "
                                 f"has {len(wavelengths)} pixels; set pixels={len(wavelengths)}")
        if self.min_exposure_s > self.max_exposure_s:
            raise ParameterError("min_exposure_s is above max_exposure_s")
        try:
            bands = parse_bands(self.bands) if self.bands else preset_bands(bench, wavelengths)
        except ValueError as exc:
            raise ParameterError(f"parameter bands: {exc}") from None
        if not bands:
            raise ParameterError("parameter bands: no emission band inside the spectrometer's "
                                 "range")
        self.bands = format_bands(bands)  # stored with the run: the analysis needs no bench
        if self.background not in ("auto", "off_particle", "off_band"):
            raise ParameterError(f"parameter background: {self.background!r} is not 'auto', "
                                 "'off_particle' or 'off_band'")
        if self.background == "auto":  # resolved here so the run file says what was done
            self.background = "off_particle" if bench.has("scanner") else "off_band"
        if self.background == "off_particle":
            bench.scanner()  # the beam must be movable off the particle

    # --- the run ------------------------------------------------------------------------------
    def run(self, ctx: RunContext) -> None:
        bench = ctx.bench
        pump = Pump.of(bench, self.pump_role)
        laser, meter = pump.laser, pump.meter
        spectrometer = bench.spectrometer(self.spectrometer_role or None)
        meter.configure(wavelength_nm=laser.wavelength_nm)
        ctx.measurement("waist_um", pump.waist_um)
        ctx.measurement("transmission_to_sample", pump.transmission)
        wavelengths = np.asarray(spectrometer.wavelengths_nm(), dtype=float)
        ctx.write("wavelength_nm", (), wavelengths)
        coefficients = np.polynomial.polynomial.polyfit(np.arange(len(wavelengths)),
                                                        wavelengths, 3)
        residual = wavelengths - np.polynomial.polynomial.polyval(
            np.arange(len(wavelengths)), coefficients)
        for i, c in enumerate(coefficients):
            ctx.measurement(f"calibration_c{i}_nm", float(c))
        ctx.measurement("calibration_rms_nm", float(np.sqrt(np.mean(residual**2))))
        full_scale = float(spectrometer.driver.max_intensity)  # every Spectrometer says it
        ctx.measurement("full_scale_counts", full_scale)
        off_band = np.ones(len(wavelengths), bool)
        for _name, lo, hi in parse_bands(self.bands):
            off_band &= ~((wavelengths >= lo) & (wavelengths <= hi))

        darks: dict[float, np.ndarray] = {}
        scanner = bench.scanner() if self.background == "off_particle" else None
        home_um = tuple(scanner.driver.position_um) if scanner is not None else (0.0, 0.0)
        ctx.log(f"background: {self.background}"
                + (f", beam parked {self.background_offset_um:g} um beside ({home_um[0]:g}, "
                   f"{home_um[1]:g}) um" if scanner is not None else
                   ", median of the pixels outside the bands"))
        laser.emission_off()
        powers = self.power_list()
        exposure = ladder_exposure(self.exposure_s)
        laser.set_power_W(powers[0])  # emission starts at the first power, not the last run's
        with laser.emitting():
            for k, power in enumerate(powers):
                laser.set_power_W(power)
                ctx.wait(self.settle_s)
                exposure, saturated = self._choose_exposure(spectrometer, exposure, full_scale)
                averages = self.frames_for(exposure)
                frames = [spectrometer.acquire(exposure) for _ in range(averages)]
                saturated |= any(f.saturated for f in frames)
                meter_W = meter.power_W()
                signal = np.mean([f.counts for f in frames], axis=0)
                if exposure not in darks:
                    darks[exposure] = self._dark(ctx, laser, spectrometer, exposure, averages)
                    ctx.wait(self.settle_s)  # emission back on at the same setpoint
                dark = darks[exposure]
                rate = (signal - dark) / exposure
                if scanner is not None:
                    off = self._off_particle(ctx, scanner, spectrometer, home_um, exposure,
                                             averages)
                    background_rate = (off - dark) / exposure
                    rate = rate - background_rate
                    background = float(np.mean(background_rate))
                else:
                    background = float(np.median(rate[off_band])) if off_band.any() else 0.0
                    rate = rate - background
                intensity = pump.intensity_of_meter(meter_W)
                ctx.write("pump_intensity_kW_cm2", (k,), intensity)
                ctx.write("spectra", (k,), rate)
                ctx.write("dark_counts", (k,), dark)
                ctx.record(power_setpoint_W=power, meter_power_W=meter_W,
                           intensity_kW_cm2=intensity, exposure_s=exposure,
                           averages=averages,
                           peak_fraction=float(np.max(signal - dark)) / full_scale,
                           saturated=saturated, background_cps=background,
                           total_cps=float(np.sum(rate)))
                ctx.progress((k + 1) / len(powers),
                             f"{power * 1e3:.0f} mW, exposure {exposure:g} s")

    def frames_for(self, exposure_s: float) -> int:
        """Frames averaged at this exposure (s): `averages`, or more so that together they
        collect `integration_s` of light. A dark frame at the same exposure gets as many."""
        if self.integration_s <= 0:
            return self.averages
        return max(self.averages, math.ceil(self.integration_s / exposure_s - 1e-9))

    def _choose_exposure(self, spectrometer: Any, exposure: float,
                         full_scale: float) -> tuple[float, bool]:
        """The exposure for this power and whether a test frame saturated on the way."""
        if not self.auto_exposure or not math.isfinite(full_scale):
            return ladder_exposure(self.exposure_s), False
        saturated = False
        for _ in range(12):
            frame = spectrometer.acquire(exposure)
            peak = float(np.max(frame.counts)) / full_scale
            if frame.saturated or peak > _TOO_BRIGHT:
                saturated = saturated or frame.saturated
                shorter = ladder_exposure(max(exposure * 0.2, self.min_exposure_s))
                if shorter >= exposure:
                    raise RuntimeError(f"the spectrometer saturates even at the shortest "
                                       f"exposure {exposure:g} s; reduce the pump power or "
                                       "the light reaching the spectrometer")
                exposure = shorter
                continue
            wanted = exposure * self.target_fraction / max(peak, 1e-6)
            wanted = min(max(wanted, self.min_exposure_s), self.max_exposure_s)
            return ladder_exposure(wanted), saturated
        return exposure, saturated

    def _off_particle(self, ctx: RunContext, scanner: Any, spectrometer: Any,
                      home_um: tuple[float, float], exposure: float,
                      averages: int) -> np.ndarray:
        """Averaged frame with the pump on and the beam parked beside the particle, then the
        beam back on it."""
        scanner.park(home_um[0] + self.background_offset_um, home_um[1])
        try:
            ctx.wait(self.settle_s)
            return np.mean([spectrometer.acquire(exposure).counts
                            for _ in range(averages)], axis=0)
        finally:
            scanner.park(*home_um)
            ctx.wait(self.settle_s)

    def _dark(self, ctx: RunContext, laser: Any, spectrometer: Any, exposure: float,
              averages: int) -> np.ndarray:
        """Averaged frame with the pump's emission off (a fibre laser's lowest setpoint still
        pumps), then emission on again; only taken once per exposure of the 1-2-5 ladder."""
        laser.emission_off()
        ctx.wait(self.settle_s)
        dark = np.mean([spectrometer.acquire(exposure).counts for _ in range(averages)], axis=0)
        laser.emission_on()
        ctx.log(f"dark frame at {exposure:g} s: mean {float(np.mean(dark)):.1f} counts")
        return dark

    # --- after the run --------------------------------------------------------------------------
    def band_integrals(self, run: Any) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(band names, intensities (n,), band rates (n, bands) and their standard uncertainties
        (n, bands), both in counts/s).

        The uncertainty of a band integral comes from the run's own spectra, not from a model
        of the detector: σ_px, the pixel noise, is the robust spread (1.4826 × MAD) of the
        corrected pixels outside every band (read noise and dark shot noise of the frames and of
        the dark frame together); a band of n pixels has n·σ_px² from it, plus — for the
        off-band background — (n · 1.2533 σ_px/√m)², the error of a median of m off-band pixels
        that shifts every pixel of the band alike; plus the photon shot noise of the band's own
        light, rate / (exposure × frames) in (counts/s)², which assumes at least one
        photo-electron per count (true for the USB2000+ and for a CCD at unit gain; an
        overestimate otherwise).
        """
        bands = parse_bands(str(run.parameters["bands"][0]))
        wavelengths = np.asarray(run.arrays["wavelength_nm"].read())
        spectra = np.asarray(run.arrays["spectra"].read())
        intensity = np.asarray(run.array_axes.get("pump_intensity_kW_cm2",
                                                  run.columns["intensity_kW_cm2"]))
        n = min(len(spectra), len(intensity), len(run.columns["exposure_s"]))
        spectra, intensity = spectra[:n], intensity[:n]
        light_s = (np.asarray(run.columns["exposure_s"][:n], dtype=float)
                   * np.asarray(run.columns["averages"][:n], dtype=float))
        off_band = np.ones(len(wavelengths), bool)
        for _name, lo, hi in bands:
            off_band &= ~((wavelengths >= lo) & (wavelengths <= hi))
        m = int(np.count_nonzero(off_band))
        if m >= 2:
            off = spectra[:, off_band]
            sigma_px = 1.4826 * np.median(np.abs(off - np.median(off, axis=1, keepdims=True)),
                                          axis=1)
        else:
            sigma_px = np.full(n, np.nan)  # no pixel outside the bands: noise unknown
        median_term = 1.2533 / math.sqrt(m) if (m and str(run.parameters["background"][0])
                                                 == "off_band") else 0.0
        rates = np.zeros((n, len(bands)))
        sigmas = np.zeros((n, len(bands)))
        for j, (_name, lo, hi) in enumerate(bands):
            inside = (wavelengths >= lo) & (wavelengths <= hi)
            k = int(np.count_nonzero(inside))
            rates[:, j] = np.sum(spectra[:, inside], axis=1)
            sigmas[:, j] = np.sqrt(k * sigma_px**2 + (k * median_term * sigma_px)**2
                                   + np.clip(rates[:, j], 0.0, None) / light_s)
        return [b[0] for b in bands], intensity, rates, sigmas

    def analyse(self, run: Any) -> AnalysisResult:
        names, intensity, rates, rate_sigmas = self.band_integrals(run)
        tolerance = float(run.parameters["slope_tolerance"][0]) \
            if "slope_tolerance" in run.parameters else self.slope_tolerance
        slopes, sigmas, determined = [], [], []
        for j in range(len(names)):
            slope, sigma = fit_band_slope(intensity, rates[:, j], rate_sigmas[:, j])
            slopes.append(slope)
            sigmas.append(sigma)
            determined.append(bool(math.isfinite(sigma) and sigma <= tolerance * abs(slope)))
        summary = [f"{len(intensity)} spectra, {intensity.min():.3g} … {intensity.max():.3g} "
                   f"kW/cm²" if len(intensity) else "no spectra"]
        scalars: dict[str, tuple[Any, str]] = {}
        for j, (name, slope, sigma, ok) in enumerate(zip(names, slopes, sigmas, determined)):
            key = _key(name)
            scalars[f"slope_{key}"] = (slope, "")
            scalars[f"slope_{key}_sigma"] = (sigma, "")
            scalars[f"slope_{key}_determined"] = (ok, "")
            verdict = "" if ok else (f" — NOT DETERMINED (uncertainty above "
                                     f"{tolerance:.1%} of S: too little light in this band)")
            summary.append(f"band {name}: slope S = {slope:.3f} ± {sigma:.3f}{verdict}"
                           + (f", {rates[-1, j]:.4g} ± {rate_sigmas[-1, j]:.2g} counts/s at "
                              "the top" if len(rates) else ""))
        if len(rates):
            for j, name in enumerate(names):
                scalars[f"band_{_key(name)}_cps"] = (float(rates[-1, j]), "counts/s")
        arrays = {"band_rates_cps": (rates, "counts/s"),
                  "band_rate_sigmas_cps": (rate_sigmas, "counts/s"),
                  "band_slopes": (np.array(slopes), ""),
                  "band_slope_sigmas": (np.array(sigmas), ""),
                  "intensity_kW_cm2": (intensity, "kW/cm^2")}
        return AnalysisResult(summary=summary, scalars=scalars, arrays=arrays,
                              detail={"names": names, "slopes": slopes, "sigmas": sigmas,
                                      "determined": determined, "intensity": intensity,
                                      "rates": rates, "rate_sigmas": rate_sigmas})

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Path) -> Path | None:
        from .plot import plot_spectra

        return plot_spectra(run, analysis, png_path)

    def views(self) -> tuple[View, ...]:
        return (CurvesView("Spectra", item="spectra", x_axis="pixel", newest=8),
                XYView("Total emission", x="intensity_kW_cm2", y="total_cps", x_log=True,
                       y_log=True, positive_only=True),
                ReadoutView("Calibration", values=("calibration_rms_nm", "waist_um")))


def fit_band_slope(intensity_kW_cm2: np.ndarray, rate_cps: np.ndarray,
                   sigma_cps: np.ndarray) -> tuple[float, float]:
    """Slope S of ln(rate) against ln(I) and its standard uncertainty (nan if unknown).

    The slope is the ordinary least-squares line through the log-log points, every point
    weighted alike: an avalanche band is not a power law (its local slope falls above
    threshold), so the band's "slope over the range" is defined by that estimator, and a
    weighted fit would measure a different number (the slope where the light is brightest).
    The uncertainty is what the rates' own σ give through that same estimator,
    σ_S² = Σ ((x_i − x̄)/Σ(x − x̄)²)² (σ_i/rate_i)², to first order — not the scatter about the
    line, which for a curved band is the curvature, not noise. A band with a rate at or below
    zero has no logarithm there: its σ is infinite (it cannot be determined). σ holds the
    band's detector noise only; the error of the measured intensities (power meter, waist) is
    common to all bands and not in it.
    """
    x = np.asarray(intensity_kW_cm2, dtype=float)
    y = np.asarray(rate_cps, dtype=float)
    s = np.asarray(sigma_cps, dtype=float)
    use = (x > 0) & np.isfinite(y)
    x, y, s = x[use], y[use], s[use]
    positive = y > 0
    if np.count_nonzero(positive) < 2:
        return float("nan"), float("nan")
    lx = np.log(x[positive])
    slope = float(np.polyfit(lx, np.log(y[positive]), 1)[0])
    if not positive.all():
        return slope, float("inf")
    weights = (lx - lx.mean()) / np.sum((lx - lx.mean()) ** 2)
    return slope, float(np.sqrt(np.sum((weights * s / y) ** 2)))


def _key(name: str) -> str:
    """A band name as an HDF5-safe scalar name ("Tm 800" → "Tm_800")."""
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")

