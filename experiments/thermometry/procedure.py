"""Avalanche thermometry: a temperature calibration from a series, and a reading with its
uncertainty from a new measurement.

Why emission at a fixed pump intensity near threshold: the avalanche threshold moves with
temperature (docs/physics.md §5), and near threshold the emission rises as the ~20th-40th power
of intensity, so a small threshold shift is a large change of emission — a sensitive
thermometer that needs only a counter. The feature of a run is its emission interpolated (in
log-log, between the two up-sweep points around it) at `intensity_kW_cm2`, so calibration and
measurement use exactly the same pump intensity whatever powers the laser reached.

Calibration (`build_calibration`): from a series of S-curves over temperature_K, ln(feature)
against the measured stage temperature is fitted by a polynomial (degree ≤ 2, fewer than the
points); the relative sensitivity S_r = |d ln F / dT| in %/K, and the temperature resolution
δT = (σ_F/F) / S_r with σ_F/F the feature's counting uncertainty. Saved as JSON.

Measurement (`avlab run thermometry --set calibration=FILE`): a short S-curve around the
calibration intensity runs as the inner run `measurement` of this file, its feature is
inverted through the calibration, and the temperature is stored with its uncertainty (the
counting part and the calibration fit's residual, in quadrature).
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
from avlab.views import ReadoutView, View


def emission_at(run: Any, intensity_kW_cm2: float) -> tuple[float, float]:
    """(signal counts/s, 1-sigma) of an S-curve run at `intensity_kW_cm2`, interpolated in
    log-log between the up-sweep points that bracket it."""
    c = run.columns
    up = (c["direction"] == 1) & (c["signal_cps"] > 0)
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


@dataclass
class Calibration:
    """ln(feature) = polynomial(T); everything needed to read a temperature back."""

    feature: str
    intensity_kW_cm2: float
    temperatures_K: list[float]
    features: list[float]
    feature_sigmas: list[float]
    coefficients: list[float]  # numpy polyfit order, highest power first
    residual_K: float

    def ln_f(self, temperature_K: Any) -> Any:
        return np.polyval(self.coefficients, temperature_K)

    def sensitivity_per_K(self, temperature_K: Any) -> Any:
        """Relative sensitivity |d ln F / dT| (1/K; × 100 for %/K)."""
        return np.abs(np.polyval(np.polyder(self.coefficients), temperature_K))

    def resolution_K(self, temperature_K: float, relative_sigma: float) -> float:
        return float(relative_sigma / self.sensitivity_per_K(temperature_K))

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


def build_calibration(series_path: str | Path, intensity_kW_cm2: float) -> Calibration:
    """A calibration from a temperature series of S-curves (a series run file)."""
    from avlab.storage import read_run, run_entries

    series = read_run(series_path)
    c = series.columns
    temperatures, features, sigmas = [], [], []
    for entry in [e for e in run_entries(series_path) if e.startswith("step_")]:
        inner = read_run(series_path, entry=entry)
        if inner.status != "completed":
            continue
        k = int(entry.split("_")[1])
        during = (c["step"] == k) & (c["phase"] == 1)
        temperatures.append(float(np.nanmean(c["temperature_K"][during])))
        f, s = emission_at(inner, intensity_kW_cm2)
        features.append(f)
        sigmas.append(s)
    if len(temperatures) < 3:
        raise ValueError(f"a calibration needs at least 3 completed temperatures, "
                         f"{series_path} has {len(temperatures)}")
    t, ln_f = np.array(temperatures), np.log(features)
    degree = min(2, len(t) - 2)
    coefficients = np.polyfit(t, ln_f, degree)
    residual = ln_f - np.polyval(coefficients, t)
    slope = np.abs(np.polyval(np.polyder(coefficients), t))
    dof = max(len(t) - degree - 1, 1)
    residual_K = float(np.sqrt(np.sum((residual / slope) ** 2) / dof))
    return Calibration("emission_at_intensity", float(intensity_kW_cm2), t.tolist(),
                       list(features), list(sigmas), coefficients.tolist(), residual_K)


class Thermometry(Procedure):
    """Read the sample temperature from the avalanche emission through a calibration."""

    name = "thermometry"
    title = "Avalanche thermometry: temperature from emission near threshold"

    calibration = Text("", doc="calibration file (JSON) from build_calibration")
    inner = Text("", doc="extra S-curve parameters 'name=value;...' for the measurement")
    span = Float(0.15, minimum=0.02, maximum=2.0,
                 doc="the measurement sweeps ±span (relative) around the calibration intensity")

    columns = [Column("temperature_K", "K", "f8", "temperature read from the emission"),
               Column("temperature_sigma_K", "K", "f8", "its 1-sigma uncertainty"),
               Column("stage_temperature_K", "K", "f8", "cryostat reading (NaN without one)")]
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
        from experiments.scurve import SCurve
        from experiments.series.procedure import parse_assignments

        self.load()
        with roles_needed("thermometry needs a laser and a detector"):
            bench.laser()
            bench.detector()
        # The inner S-curve's assignments are parsed now, not after the first point.
        SCurve().set_from_strings(parse_assignments(self.inner))

    def run(self, ctx: RunContext) -> None:
        from avlab.analysis.optics import power_for_intensity_W
        from experiments.scurve import SCurve
        from experiments.series.procedure import parse_assignments

        cal = self.load()
        bench = ctx.bench
        laser = bench.laser()
        optics = bench.config.optics
        waist = optics.waist_um(laser.wavelength_nm)
        # Laser output for an intensity: the meter plane / laser ratio is learnt from the
        # inner S-curve itself, so only a first guess is needed here (bench attenuation).
        per_W = _meter_per_laser_W(ctx, laser)
        centre_W = power_for_intensity_W(cal.intensity_kW_cm2, waist) / \
            (optics.transmission_to_sample * per_W)
        scurve = SCurve(power_min_W=centre_W * (1 - self.span), power_max_W=centre_W *
                        (1 + self.span), points=9, refine=False, sweep_down=False,
                        use_attenuator=False, log_spacing=False)
        scurve.set_from_strings(parse_assignments(self.inner))
        result = ctx.sub_run(scurve, "measurement")
        if result.status != "completed" or result.data is None:
            raise RuntimeError(f"the measurement {result.status}: {result.message}")
        feature, sigma = emission_at(result.data, cal.intensity_kW_cm2)
        temperature, uncertainty = cal.temperature(feature, sigma)
        stage = float("nan")
        try:
            stage = bench.cryostat().sample_temperature_K()
        except Exception:  # noqa: BLE001 - no cryostat: nothing to compare with
            pass
        ctx.record(temperature_K=temperature, temperature_sigma_K=uncertainty,
                   stage_temperature_K=stage)
        ctx.log(f"T = {temperature:.1f} ± {uncertainty:.1f} K (stage {stage:.2f} K)")

    def analyse(self, run: Any) -> AnalysisResult:
        cal = self.load()
        t = float(run.columns["temperature_K"][-1])
        s = float(run.columns["temperature_sigma_K"][-1])
        stage = float(run.columns["stage_temperature_K"][-1])
        sr = float(cal.sensitivity_per_K(t)) * 100.0
        summary = [f"T = {t:.1f} ± {s:.1f} K from the emission at {cal.intensity_kW_cm2:g} "
                   f"kW/cm² (relative sensitivity {sr:.2f} %/K)"]
        if np.isfinite(stage):
            summary.append(f"stage sensor {stage:.2f} K: difference {t - stage:+.1f} K "
                           f"({abs(t - stage) / s:.1f} sigma)")
        return AnalysisResult(summary=summary, scalars={
            "temperature_K": (t, "K"), "temperature_sigma_K": (s, "K"),
            "stage_temperature_K": (stage, "K"), "relative_sensitivity_pct_K": (sr, "%/K")},
            detail={"calibration": cal, "temperature": (t, s), "stage": stage})

    def plot(self, run: Any, analysis: AnalysisResult | None, png_path: Path) -> Path | None:
        from .plot import plot_calibration

        return plot_calibration(self.load(), png_path,
                                reading=analysis.detail["temperature"] if analysis else None)

    def views(self) -> tuple[View, ...]:
        return (ReadoutView("Temperature", values=("temperature_K", "temperature_sigma_K",
                                                   "relative_sensitivity_pct_K")),)


def _meter_per_laser_W(ctx: RunContext, laser: Any) -> float:
    """Meter-plane power per W of laser output, measured at a low setpoint."""
    meter = ctx.bench.power_meter()
    meter.configure(wavelength_nm=laser.wavelength_nm)
    probe_W = max(laser.max_power_W * 0.2, 0.1)
    with laser.emitting():
        laser.set_power_W(probe_W)
        ctx.wait(0.5)
        reading = meter.power_W()
    return reading / probe_W
