"""Angle ↔ transmission of a half-wave plate on a rotation mount in front of a polarizer.

Linearly polarized light through a half-wave plate whose fast axis makes the angle φ with the
light's polarization leaves polarized at 2φ; a fixed polarizer then passes cos²(2φ) of it.
Real parts add insertion loss (T_max < 1) and a finite extinction (T_min > 0):

    T(θ) = T_min + (T_max − T_min) · cos²(2(θ − θ0))

with θ the mount angle and θ0 the mount angle of maximum transmission. T has a period of 90°
in θ and falls monotonically from T_max at θ0 to T_min at θ0 + 45°; `angle_for_transmission`
inverts it on that branch. A lab measures θ0, T_max and T_min once with a rotation scan on the
power meter (`fit_calibration`) and writes them into its config.

Near extinction the transmission depends steeply on the angle: 0.1° away from θ0 + 45° adds
about 1.2e-5 · T_max to T_min. The power meter, not this calibration, says what reached the
sample.

Pure module: no I/O; numpy and scipy are imported by `fit_calibration` only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..validators import finite_real, is_finite_real

#: Rounding slack when inverting a transmission computed from this very model.
_ROUNDING = 1e-12


class TransmissionOutOfRangeError(ValueError):
    """A transmission the attenuator cannot produce (outside [T_min, T_max])."""


@dataclass(frozen=True)
class HalfWavePlateAttenuator:
    """Calibration of a rotating half-wave plate before a fixed polarizer.

    `theta0_deg`: mount angle of maximum transmission (degrees); `t_max`: transmission there
    (insertion loss included, ≤ 1); `t_min`: transmission at θ0 + 45° (extinction), ≥ 0.
    """

    theta0_deg: float
    t_max: float
    t_min: float

    def __post_init__(self) -> None:
        for name in ("theta0_deg", "t_max", "t_min"):
            finite_real(getattr(self, name), f"attenuator calibration: {name}")
        if not 0.0 <= self.t_min < self.t_max <= 1.0:
            raise ValueError(
                "attenuator calibration needs 0 <= t_min < t_max <= 1, got "
                f"t_min={self.t_min!r}, t_max={self.t_max!r}")

    @property
    def dynamic_range(self) -> float:
        """T_max / T_min: how many times the attenuator can divide the power (inf if T_min = 0)."""
        return math.inf if self.t_min == 0.0 else self.t_max / self.t_min

    @property
    def extinction_angle_deg(self) -> float:
        """Mount angle of minimum transmission, θ0 + 45°, in [0, 360)."""
        return (self.theta0_deg + 45.0) % 360.0

    def transmission(self, angle_deg: float) -> float:
        """Transmission at mount angle `angle_deg` (any real angle)."""
        phase = 2.0 * math.radians(angle_deg - self.theta0_deg)
        return self.t_min + (self.t_max - self.t_min) * math.cos(phase) ** 2

    def angle_for_transmission(self, transmission: float) -> float:
        """Mount angle in [0, 360) giving `transmission`, on the branch θ0 … θ0 + 45°.

        Raises TransmissionOutOfRangeError for a transmission outside [T_min, T_max].
        """
        if not is_finite_real(transmission):
            raise TransmissionOutOfRangeError(
                f"transmission must be a finite number, got {transmission!r}")
        fraction = (transmission - self.t_min) / (self.t_max - self.t_min)
        if -_ROUNDING <= fraction < 0.0:
            fraction = 0.0
        elif 1.0 < fraction <= 1.0 + _ROUNDING:
            fraction = 1.0
        if not 0.0 <= fraction <= 1.0:
            raise TransmissionOutOfRangeError(
                f"transmission {transmission:g} is outside what the attenuator can pass "
                f"[{self.t_min:g}, {self.t_max:g}]; change the laser power instead")
        offset_deg = math.degrees(math.acos(math.sqrt(fraction))) / 2.0
        return (self.theta0_deg + offset_deg) % 360.0


@dataclass(frozen=True)
class CalibrationFit:
    """Result of `fit_calibration`: the calibration and how well it describes the scan.

    Without an input power the transmissions are relative to the fitted maximum (T_max = 1).
    """

    attenuator: HalfWavePlateAttenuator
    power_max_W: float
    power_min_W: float
    rms_relative_residual: float
    n_points: int


def fit_calibration(angles_deg: Sequence[float], powers_W: Sequence[float], *,
                    input_power_W: float | None = None,
                    noise_floor_W: float | None = None) -> CalibrationFit:
    """Fit θ0, T_max and T_min to a rotation scan measured with the power meter.

    `angles_deg` and `powers_W` are the mount angles and the powers read at each. The scan must
    cover at least 45° (one maximum-to-minimum branch; 90° or more is better) and should
    sample the extinction minimum densely, since T_min is set by a few points there.
    `input_power_W` is the power at the meter plane without the attenuator (or the same power
    taken another way); with it, T_max and T_min are absolute, without it they are relative to
    the fitted maximum. Residuals are weighted by the power (1 % off at 1 µW counts as much as
    1 % off at 1 mW) with `noise_floor_W` (default 1e-6 of the largest reading) keeping
    readings near zero from taking over.
    """
    import numpy as np
    from scipy.optimize import least_squares

    angles = np.asarray(angles_deg, dtype=float)
    powers = np.asarray(powers_W, dtype=float)
    if angles.ndim != 1 or angles.shape != powers.shape:
        raise ValueError("fit_calibration needs two 1-D sequences of the same length "
                         f"(angles {angles.shape}, powers {powers.shape})")
    if len(angles) < 6:
        raise ValueError(f"fit_calibration needs at least 6 points, got {len(angles)}")
    if not (np.all(np.isfinite(angles)) and np.all(np.isfinite(powers))):
        raise ValueError("fit_calibration: angles and powers must be finite numbers")
    if np.ptp(angles) < 45.0:
        raise ValueError(f"the scan covers {np.ptp(angles):.1f}°; it must cover at least 45° "
                         "(better 90° or more) to see both the maximum and the extinction")
    peak = float(np.max(powers))
    if peak <= 0.0:
        raise ValueError("fit_calibration: no positive power in the scan (laser off?)")
    floor = 1e-6 * peak if noise_floor_W is None else float(noise_floor_W)
    if not floor > 0.0:
        raise ValueError(f"noise_floor_W must be positive, got {noise_floor_W!r}")

    # cos²(2φ) = (1 + cos 4φ)/2 makes the model linear in (1, cos 4θ, sin 4θ): a start point.
    four_theta = np.radians(4.0 * angles)
    design = np.column_stack([np.ones_like(angles), np.cos(four_theta), np.sin(four_theta)])
    (mean, c_cos, c_sin), *_ = np.linalg.lstsq(design, powers, rcond=None)
    theta0_start = math.degrees(math.atan2(c_sin, c_cos)) / 4.0
    amplitude = math.hypot(c_cos, c_sin)
    p_min_start = max(float(np.min(powers)), floor)
    span_start = max(2.0 * amplitude, mean + amplitude - p_min_start, floor)

    sigma = 2e-3 * np.abs(powers) + floor  # relative weighting with a floor

    def model(params: np.ndarray) -> np.ndarray:
        theta0, log_p_min, log_span = params
        phase = np.radians(2.0 * (angles - theta0))
        return np.exp(log_p_min) + np.exp(log_span) * np.cos(phase) ** 2

    def residuals(params: np.ndarray) -> np.ndarray:
        return (model(params) - powers) / sigma

    result = least_squares(
        residuals, x0=[theta0_start, math.log(p_min_start), math.log(span_start)],
        x_scale=[1.0, 1.0, 1.0])
    theta0, log_p_min, log_span = result.x
    p_min = math.exp(log_p_min)
    p_max = p_min + math.exp(log_span)
    rms = float(np.sqrt(np.mean(((model(result.x) - powers) / (np.abs(powers) + floor)) ** 2)))

    reference = p_max if input_power_W is None else float(input_power_W)
    if not reference > 0.0:
        raise ValueError(f"input_power_W must be positive, got {input_power_W!r}")
    t_max, t_min = p_max / reference, p_min / reference
    if t_max > 1.0:
        raise ValueError(f"fitted T_max = {t_max:.4f} exceeds 1: input_power_W "
                         f"({reference:g} W) is lower than the power behind the attenuator "
                         f"({p_max:g} W); check it")
    return CalibrationFit(
        attenuator=HalfWavePlateAttenuator(theta0_deg=float(theta0 % 90.0), t_max=t_max,
                                           t_min=t_min),
        power_max_W=p_max, power_min_W=p_min, rms_relative_residual=rms, n_points=len(angles))
