"""Avalanche thermometry: a temperature calibration from a series, and a reading with its
uncertainty from a new measurement.

Two features, whichever the user picks (`method`):

* ``emission`` — the emission at a fixed pump intensity near threshold. The avalanche threshold
  moves with temperature (docs/physics.md §5), and near threshold the emission rises as the
  ~20th-40th power of intensity, so a small threshold shift is a large change of emission — a
  sensitive thermometer that needs only a counter. The feature of an S-curve run is its
  emission interpolated (in log-log, between the two up-sweep points around it) at
  `intensity_kW_cm2`. Calibrate from ``series --set do=scurve`` over temperature_K.
* ``band_ratio`` — the ratio of two emission bands (e.g. ``Tm 475/Tm 800``) at a fixed pump
  intensity. Lines of different order respond differently to temperature (populations and
  line shapes), and a ratio needs no absolute collection efficiency, so it survives focus and
  alignment drifts that change the emission itself; it is less sensitive per kelvin. Because
  bands of different order also grow with different slopes, the ratio depends on the pump
  intensity too: the feature of a spectrum run is ln(ratio) fitted linearly against
  ln(intensity) over its spectra and evaluated at `intensity_kW_cm2` (its standard error from
  the fit's scatter is the feature's uncertainty). Calibrate from ``series --set
  do=spectrum`` over temperature_K with a few powers around the chosen intensity.

Calibration (`build_calibration`, or the command ``avlab thermometry-calibration SERIES``):
ln(feature) against the measured stage temperature is fitted by a polynomial (degree ≤ 2,
fewer than the points); the relative sensitivity S_r = |d ln F / dT| in %/K, and the
temperature resolution δT = (σ_F/F) / S_r with σ_F/F the feature's relative uncertainty.
Saved as JSON.

Measurement (``avlab run thermometry --calibration FILE``): a short S-curve or spectrum series
around the calibration intensity runs as the inner run `measurement` of this file, its feature
is inverted through the calibration, and the temperature is stored with its uncertainty (the
measurement's own part and the calibration fit's residual, in quadrature).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avlab.bench import Bench
from avlab.data import Column
from avlab.errors import ParameterError
from avlab.procedure import AnalysisResult, Float, Procedure, RunContext, Text, roles_needed
from avlab.pump import Pump
from avlab.registry import load_procedure
from avlab.views import ReadoutView, View
from experiments.scurve.report import with_intensity


def emission_at(run: Any, intensity_kW_cm2: float) -> tuple[float, float]:
    """(signal counts/s, 1-sigma) of an S-curve run at `intensity_kW_cm2`, interpolated in
    log-log between the up-sweep points that bracket it."""
    c = run.columns
    up = (c["direction"] == 1) & (c["signal_cps"] > 0) & with_intensity(c)
    intensity, signal, sigma = c["intensity_kW_cm2"][up], c["signal_cps"][up], \
        c["signal_sigma_cps"][up]
    order = np.argsort(intensity)
    intensity, signal, sigma = intensity[order], signal[order], sigma[order]
    j = int(np.searchsorted(intensity, intensity_kW_cm2))
    if j == 0 or j >= len(intensity):
        raise ValueError(f"{intensity_kW_cm2:g} kW/cm² is outside the measured range "
                         f"{intensity.min():.3g} … {intensity.max():.3g} kW/cm²")
    x0, x1 = np.log(intensity[j - 1]), np.log(intensity[j])
    w = (np.log(intensity_kW_cm2) - x0) / (x1 - x0)
    ln_f = (1 - w) * np.log(signal[j - 1]) + w * np.log(signal[j])
    rel = np.hypot((1 - w) * sigma[j - 1] / signal[j - 1], w * sigma[j] / signal[j])
    return float(np.exp(ln_f)), float(np.exp(ln_f) * rel)


#: Feature names stored in a calibration, by the user-facing method name.
EMISSION, BAND_RATIO = "emission_at_intensity", "band_ratio"
METHODS = {"emission": EMISSION, "band_ratio": BAND_RATIO}
#: The inner procedure each method measures with.
INNER_PROCEDURE = {EMISSION: "scurve", BAND_RATIO: "spectrum"}


def parse_ratio(text: str) -> tuple[str, str]:
    """``"Tm 475/Tm 800"`` → ("Tm 475", "Tm 800"): numerator and denominator band names."""
    numerator, sep, denominator = text.partition("/")
    if not sep or not numerator.strip() or not denominator.strip():
        raise ValueError(f"ratio must be 'band/band', got {text!r}")
    return numerator.strip(), denominator.strip()


def band_ratio_at(run: Any, numerator: str, denominator: str,
                  intensity_kW_cm2: float) -> tuple[float, float]:
    """(ratio, 1-sigma) of two band integrals of a spectrum run at `intensity_kW_cm2`.

    ln(ratio) is fitted linearly against ln(intensity) over the run's spectra (at least 3)
    and evaluated at the intensity, which must lie inside the measured range; the sigma is
    the standard error of that value from the scatter about the line."""
    from experiments.spectrum.procedure import Spectrum

    names, intensity, rates, _ = Spectrum().band_integrals(run)
    for name in (numerator, denominator):
        if name not in names:
            raise ValueError(f"band {name!r} is not in the run (bands: {', '.join(names)})")
    num, den = rates[:, names.index(numerator)], rates[:, names.index(denominator)]
    good = (num > 0) & (den > 0) & (intensity > 0)
    if np.count_nonzero(good) < 3:
        raise ValueError(f"a band ratio needs at least 3 spectra with both bands above "
                         f"zero, the run has {np.count_nonzero(good)}")
    intensity, ratio = intensity[good], num[good] / den[good]
    if not intensity.min() * 0.999 <= intensity_kW_cm2 <= intensity.max() * 1.001:
        raise ValueError(f"{intensity_kW_cm2:g} kW/cm² is outside the measured range "
                         f"{intensity.min():.3g} … {intensity.max():.3g} kW/cm²")
    x = np.log(intensity) - np.log(intensity_kW_cm2)
    y = np.log(ratio)
    slope, value = np.polyfit(x, y, 1)
    n = len(x)
    scatter = float(np.sqrt(np.sum((y - (value + slope * x)) ** 2) / (n - 2)))
    sxx = float(np.sum((x - x.mean()) ** 2))
    se = scatter * np.sqrt(1.0 / n + x.mean() ** 2 / sxx) if sxx > 0 else float("inf")
    return float(np.exp(value)), float(np.exp(value) * se)


@dataclass
class Calibration:
    """ln(feature) = polynomial(T); everything needed to read a temperature back."""

    feature: str  # EMISSION or BAND_RATIO
    intensity_kW_cm2: float
    temperatures_K: list[float]
    features: list[float]
    feature_sigmas: list[float]
    coefficients: list[float]  # numpy polyfit order, highest power first
    residual_K: float
    #: Band ratio only: "numerator/denominator" and the band definitions (name:lo-hi;... nm).
    ratio: str = ""
    bands: str = ""
    #: The series file the calibration was built from (provenance only).
    source: str = ""

    @property
    def method(self) -> str:
        return {v: k for k, v in METHODS.items()}[self.feature]

    def label(self) -> str:
        """What the feature is, for plots and summaries."""
        if self.feature == BAND_RATIO:
            return f"band ratio {self.ratio} at {self.intensity_kW_cm2:.3g} kW/cm²"
        return f"emission at {self.intensity_kW_cm2:.3g} kW/cm² (counts/s)"

    def ln_f(self, temperature_K: Any) -> Any:
        return np.polyval(self.coefficients, temperature_K)

    def sensitivity_per_K(self, temperature_K: Any) -> Any:
        """Relative sensitivity |d ln F / dT| (1/K; × 100 for %/K)."""
        return np.abs(np.polyval(np.polyder(self.coefficients), temperature_K))

    def resolution_K(self, temperature_K: float, relative_sigma: float) -> float:
        """Temperature resolution δT = (σ_F/F) / S_r (K) for a feature known to
        `relative_sigma`."""
        return float(relative_sigma / self.sensitivity_per_K(temperature_K))

    def resolutions_K(self) -> list[float]:
        """The resolution at each calibration point, with that point's own uncertainty."""
        return [self.resolution_K(t, s / f) for t, f, s in
                zip(self.temperatures_K, self.features, self.feature_sigmas)]

    def summary(self) -> list[str]:
        lines = [f"{self.method} calibration: {self.label()}, {len(self.temperatures_K)} "
                 f"temperatures, fit residual {self.residual_K:.2g} K"]
        for t, resolution in zip(self.temperatures_K, self.resolutions_K()):
            lines.append(f"{t:7.2f} K: relative sensitivity "
                         f"{100 * float(self.sensitivity_per_K(t)):.3f} %/K, resolution "
                         f"{resolution:.2g} K")
        return lines

    def temperature(self, feature: float, feature_sigma: float) -> tuple[float, float]:
        """(T, 1-sigma) for a measured feature; only inside the calibrated range."""
        lo, hi = min(self.temperatures_K), max(self.temperatures_K)
        grid = np.linspace(lo, hi, 4001)
        curve = self.ln_f(grid)
        if not (np.all(np.diff(curve) > 0) or np.all(np.diff(curve) < 0)):
            raise ValueError("the calibration is not monotonic over its range")
        target = np.log(feature)
        if not min(curve[0], curve[-1]) <= target <= max(curve[0], curve[-1]):
            raise ValueError(f"feature {feature:.4g} is outside the calibration "
                             f"({np.exp(curve.min()):.4g} … {np.exp(curve.max()):.4g}), "
                             f"i.e. outside {lo:g} … {hi:g} K")
        order = np.argsort(curve)
        t = float(np.interp(target, curve[order], grid[order]))
        statistical = self.resolution_K(t, feature_sigma / feature)
        return t, float(np.hypot(statistical, self.residual_K))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration saved by `save`; ValueError if the file is not one (wrong JSON
        shape, missing or ill-typed fields, lists of unequal length, non-finite numbers)."""
        data = json.loads(Path(path).read_text("utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"not a calibration (a JSON object), got a {type(data).__name__}")
        calibration = cls(**data)
        calibration._check()
        if calibration.feature not in INNER_PROCEDURE:
            raise ValueError(f"unknown feature {calibration.feature!r}")
        return calibration

    def _check(self) -> None:
        if not isinstance(self.feature, str):
            raise ValueError(f"feature must be text, got {self.feature!r}")

        def numbers(name: str, values: Any) -> list[float]:
            if not isinstance(values, list) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in values):
                raise ValueError(f"{name} must be a list of finite numbers")
            return values

        for name in ("intensity_kW_cm2", "residual_K"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        points = [numbers(n, getattr(self, n)) for n in ("temperatures_K", "features",
                                                          "feature_sigmas")]
        if len(points[0]) < 2 or len({len(p) for p in points}) != 1:
            raise ValueError("temperatures_K, features and feature_sigmas need equal lengths "
                             ">= 2")
        if not numbers("coefficients", self.coefficients):
            raise ValueError("coefficients must not be empty")


def build_calibration(series_path: str | Path, intensity_kW_cm2: float | None = None, *,
                      method: str = "emission", ratio: str = "") -> Calibration:
    """A calibration from a temperature series (a series run file): `method` "emission"
    (a series of S-curves; `intensity_kW_cm2` required) or "band_ratio" (a series of
    spectra; `ratio` "band/band"; `intensity_kW_cm2` defaults to the geometric middle of the
    intensity range every step measured)."""
    from avlab.storage import read_run, run_entries

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    feature = METHODS[method]
    numerator = denominator = ""
    if feature == BAND_RATIO:
        numerator, denominator = parse_ratio(ratio)
    elif intensity_kW_cm2 is None:
        raise ValueError("the emission method needs the pump intensity (kW/cm²)")
    series = read_run(series_path)
    if series.procedure != "series":
        raise ValueError(f"{series_path} holds a {series.procedure!r} run, not a series")
    c = series.columns
    steps = []
    for entry in [e for e in run_entries(series_path) if e.startswith("step_")]:
        inner = read_run(series_path, entry=entry)
        if inner.status != "completed":
            continue
        if inner.procedure != INNER_PROCEDURE[feature]:
            raise ValueError(f"the {method} method needs a series of "
                             f"{INNER_PROCEDURE[feature]} runs; {entry} is {inner.procedure!r}")
        k = int(entry.split("_")[1])
        during = (c["step"] == k) & (c["phase"] == 1)
        steps.append((float(np.nanmean(c["temperature_K"][during])), inner))
    if len(steps) < 3:
        raise ValueError(f"a calibration needs at least 3 completed temperatures, "
                         f"{series_path} has {len(steps)}")
    bands = ""
    if feature == BAND_RATIO:
        bands = str(steps[0][1].parameters["bands"][0])
        if intensity_kW_cm2 is None:
            ranges = [_intensity_range(inner) for _, inner in steps]
            lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
            if not lo < hi:
                raise ValueError("the steps' pump intensities do not overlap; give the "
                                 "intensity")
            intensity_kW_cm2 = float(np.sqrt(lo * hi))
    assert intensity_kW_cm2 is not None
    temperatures, features, sigmas = [], [], []
    for temperature, inner in steps:
        if feature == BAND_RATIO:
            f, s = band_ratio_at(inner, numerator, denominator, intensity_kW_cm2)
        else:
            f, s = emission_at(inner, intensity_kW_cm2)
        temperatures.append(temperature)
        features.append(f)
        sigmas.append(s)
    t, ln_f = np.array(temperatures), np.log(features)
    degree = min(2, len(t) - 2)
    coefficients = np.polyfit(t, ln_f, degree)
    residual = ln_f - np.polyval(coefficients, t)
    slope = np.abs(np.polyval(np.polyder(coefficients), t))
    dof = max(len(t) - degree - 1, 1)
    residual_K = float(np.sqrt(np.sum((residual / slope) ** 2) / dof))
    return Calibration(feature, float(intensity_kW_cm2), t.tolist(), list(features),
                       list(sigmas), coefficients.tolist(), residual_K,
                       ratio=f"{numerator}/{denominator}" if numerator else "", bands=bands,
                       source=str(series_path))


def _intensity_range(run: Any) -> tuple[float, float]:
    intensity = np.asarray(run.array_axes.get("pump_intensity_kW_cm2",
                                              run.columns["intensity_kW_cm2"]), dtype=float)
    intensity = intensity[np.isfinite(intensity) & (intensity > 0)]
    return float(intensity.min()), float(intensity.max())


class Thermometry(Procedure):
    """Read the sample temperature from the avalanche emission through a calibration."""

    name = "thermometry"
    title = "Avalanche thermometry: temperature from emission near threshold or a band ratio"
    cli_flags = {"--calibration": "calibration"}

    calibration = Text("", doc="calibration file (JSON) from `avlab thermometry-calibration`")
    inner = Text("", doc="extra parameters 'name=value;...' of the measurement (an S-curve "
                         "or a spectrum series, after the calibration's method)")
    span = Float(0.15, minimum=0.02, maximum=2.0,
                 doc="the measurement sweeps ±span (relative) around the calibration intensity")

    columns = [Column("temperature_K", "K", "f8", "temperature read from the emission"),
               Column("temperature_sigma_K", "K", "f8", "its 1-sigma uncertainty"),
               Column("stage_temperature_K", "K", "f8", "cryostat reading (NaN without one)"),
               Column("feature", "", "f8", "the measured feature (counts/s, or a band ratio)"),
               Column("feature_sigma", "", "f8", "its 1-sigma uncertainty")]
    signal = "temperature_K"
    axes = "stage_temperature_K"

    def load(self) -> Calibration:
        if not self.calibration:
            raise ParameterError("parameter calibration: give the calibration file")
        try:
            return Calibration.load(self.calibration)
        except (OSError, ValueError, TypeError) as exc:
            raise ParameterError(f"parameter calibration: {self.calibration}: {exc}") from None

    def check(self, bench: Bench) -> None:
        from experiments.series.procedure import parse_assignments

        cal = self.load()
        sensor = "a spectrometer" if cal.feature == BAND_RATIO else "a detector"
        with roles_needed(f"thermometry with this calibration needs a laser, a power meter "
                          f"and {sensor}"):
            bench.laser()
            bench.power_meter()
            if cal.feature == BAND_RATIO:
                bench.spectrometer()
            else:
                bench.detector()
        # The inner measurement's assignments are parsed now, not after the first point.
        inner_cls = load_procedure(INNER_PROCEDURE[cal.feature])
        inner_cls().set_from_strings(parse_assignments(self.inner))

    def run(self, ctx: RunContext) -> None:
        cal = self.load()
        bench = ctx.bench
        # Laser output for an intensity: the meter plane / laser ratio is learnt from the
        # inner run itself, so only a first guess is needed here (a fifth of the laser's limit).
        pump = Pump.of(bench)
        pump.meter.configure(wavelength_nm=pump.laser.wavelength_nm)
        probe_W = 0.2 * pump.laser.max_power_W
        pump.laser.set_power_W(probe_W)  # emission starts at the probe, not the last setpoint
        with pump.laser.emitting():
            pump.calibrate(ctx, probe_W, settle_s=0.5)
        centre_W = pump.setpoint_W(cal.intensity_kW_cm2)
        inner = self._inner(cal, bench, centre_W)
        result = ctx.sub_run(inner, "measurement")
        if result.status != "completed" or result.data is None:
            raise RuntimeError(f"the measurement {result.status}: {result.message}")
        if cal.feature == BAND_RATIO:
            feature, sigma = band_ratio_at(result.data, *parse_ratio(cal.ratio),
                                           cal.intensity_kW_cm2)
        else:
            feature, sigma = emission_at(result.data, cal.intensity_kW_cm2)
        temperature, uncertainty = cal.temperature(feature, sigma)
        stage = float("nan")
        try:
            stage = bench.cryostat().sample_temperature_K()
        except Exception:  # noqa: BLE001 - no cryostat: nothing to compare with
            pass
        ctx.record(temperature_K=temperature, temperature_sigma_K=uncertainty,
                   stage_temperature_K=stage, feature=feature, feature_sigma=sigma)
        ctx.log(f"T = {temperature:.1f} ± {uncertainty:.1f} K (stage {stage:.2f} K)")

    def _inner(self, cal: Calibration, bench: Bench, centre_W: float) -> Procedure:
        """The measurement: an S-curve or a spectrum series around the calibration intensity
        (`inner` assignments applied last)."""
        from experiments.series.procedure import parse_assignments

        low_W, high_W = centre_W * (1 - self.span), centre_W * (1 + self.span)
        procedure: Procedure
        if cal.feature == BAND_RATIO:
            from experiments.spectrum.procedure import Spectrum, format_bands, parse_bands

            wanted = parse_ratio(cal.ratio)
            bands = [b for b in parse_bands(cal.bands) if b[0] in wanted]
            pixels = len(bench.spectrometer().wavelengths_nm())
            powers = np.linspace(low_W, high_W, 5)
            procedure = Spectrum(powers_W=",".join(f"{p:.5g}" for p in powers),
                                 bands=format_bands(bands), pixels=pixels)
        else:
            from experiments.scurve import SCurve

            procedure = SCurve(power_min_W=low_W, power_max_W=high_W, points=9, refine=False,
                               sweep_down=False, use_attenuator=False, log_spacing=False)
        procedure.set_from_strings(parse_assignments(self.inner))
        return procedure

    def analyse(self, run: Any) -> AnalysisResult:
        cal = self.load()
        c = run.columns
        t = float(c["temperature_K"][-1])
        s = float(c["temperature_sigma_K"][-1])
        stage = float(c["stage_temperature_K"][-1])
        sr = float(cal.sensitivity_per_K(t)) * 100.0
        summary = [f"T = {t:.1f} ± {s:.1f} K from the {cal.label()} "
                   f"(relative sensitivity {sr:.3f} %/K)"]
        if np.isfinite(stage):
            summary.append(f"stage sensor {stage:.2f} K: difference {t - stage:+.1f} K "
                           f"({abs(t - stage) / s:.1f} sigma)")
        scalars: dict[str, tuple[Any, str]] = {
            "temperature_K": (t, "K"), "temperature_sigma_K": (s, "K"),
            "stage_temperature_K": (stage, "K"), "relative_sensitivity_pct_K": (sr, "%/K"),
            "method": (cal.method, "")}
        if "feature" in c:
            scalars["feature"] = (float(c["feature"][-1]), "")
            scalars["feature_sigma"] = (float(c["feature_sigma"][-1]), "")
        return AnalysisResult(summary=summary, scalars=scalars,
                              detail={"calibration": cal, "temperature": (t, s),
                                      "stage": stage})

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Path) -> Path | None:
        from .plot import plot_calibration

        return plot_calibration(self.load(), png_path,
                                reading=analysis.detail["temperature"] if analysis else None)

    def views(self) -> tuple[View, ...]:
        return (ReadoutView("Temperature", values=("temperature_K", "temperature_sigma_K",
                                                   "relative_sensitivity_pct_K")),)
