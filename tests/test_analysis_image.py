"""Image analysis (avlab.analysis.image): spots found and fitted on synthetic images with known
widths and angles, and on images of the simulated confocal bench, where the sub-diffraction
spot at the S peak must match λ/(2·NA·√S_max)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avlab.analysis.image import (
    FWHM_PER_SIGMA,
    ImageAnalysisError,
    analyse_image,
    find_spots,
    fit_spot,
    passi_fwhm_nm,
)
from drivers.scanning import GalvoCalibration, RasterFrame, assemble_image, raster_positions_um
from sim_devices.clock import VirtualClock
from sim_devices.instruments.galvo_scanner import SimGalvoScanner
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.scan_engine import ScanEngine
from sim_devices.world import SimWorld

CAL = GalvoCalibration(volts_per_degree=0.8, um_per_degree=17.45, max_slew_V_per_ms=15.7)


def gaussian_image(shape: tuple[int, int], pitch_um: float, spots: list[dict],
                   background: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected counts of elliptical Gaussians (x_um, y_um, fwhm_long_nm, fwhm_short_nm,
    angle_deg, amplitude) on a flat background; returns (image, x_um, y_um)."""
    x = np.arange(shape[1]) * pitch_um
    y = np.arange(shape[0]) * pitch_um
    gx, gy = np.meshgrid(x, y)
    image = np.full(shape, float(background))
    for s in spots:
        a = s["fwhm_long_nm"] * 1e-3 / FWHM_PER_SIGMA
        b = s["fwhm_short_nm"] * 1e-3 / FWHM_PER_SIGMA
        t = math.radians(s["angle_deg"])
        u = (gx - s["x_um"]) * math.cos(t) + (gy - s["y_um"]) * math.sin(t)
        v = -(gx - s["x_um"]) * math.sin(t) + (gy - s["y_um"]) * math.cos(t)
        image += s["amplitude"] * np.exp(-0.5 * ((u / a) ** 2 + (v / b) ** 2))
    return image, x, y


# --- λ/(2·NA·√S) -------------------------------------------------------------------------------

def test_passi_fwhm_at_the_s_peak_of_the_default_sample_is_about_70_nm():
    assert passi_fwhm_nm(1064.0, 1.49, 26.4) == pytest.approx(69.5, abs=0.1)
    assert passi_fwhm_nm(1064.0, 1.49, 1.0) == pytest.approx(357.0, abs=0.1)  # excitation


@pytest.mark.parametrize("args", [(0.0, 1.49, 26.0), (1064.0, -1.0, 26.0), (1064.0, 1.49, 0.0),
                                  (1064.0, 1.49, float("nan"))])
def test_passi_fwhm_rejects_non_positive_inputs(args):
    with pytest.raises(ValueError):
        passi_fwhm_nm(*args)


# --- synthetic images --------------------------------------------------------------------------

def test_elliptical_spots_are_recovered_within_their_uncertainties():
    """12 spots (120 × 60 nm FWHM at 30°, 150 counts on 3) with Poisson noise: every fitted
    parameter's pull (fit − truth)/σ has a spread close to 1, i.e. the 1-σ values are honest."""
    rng = np.random.default_rng(7)
    truth = [dict(x_um=0.3 + 0.6 * i + rng.uniform(-0.02, 0.02),
                  y_um=0.3 + 0.6 * j + rng.uniform(-0.02, 0.02),
                  fwhm_long_nm=120.0, fwhm_short_nm=60.0, angle_deg=30.0, amplitude=150.0)
             for i in range(4) for j in range(3)]
    expected, x, y = gaussian_image((180, 240), 0.01, truth, background=3.0)
    result = analyse_image(rng.poisson(expected), x, y, min_separation_um=0.3)
    assert result.n_spots == len(truth)
    pulls: dict[str, list[float]] = {"x": [], "y": [], "long": [], "short": [], "angle": []}
    for spot in result.spots:
        t = min(truth, key=lambda s: math.hypot(s["x_um"] - spot.x_um, s["y_um"] - spot.y_um))
        pulls["x"].append((spot.x_um - t["x_um"]) / spot.x_sigma_um)
        pulls["y"].append((spot.y_um - t["y_um"]) / spot.y_sigma_um)
        pulls["long"].append((spot.fwhm_long_nm - 120.0) / spot.fwhm_long_sigma_nm)
        pulls["short"].append((spot.fwhm_short_nm - 60.0) / spot.fwhm_short_sigma_nm)
        pulls["angle"].append((spot.angle_deg - 30.0) / spot.angle_sigma_deg)
        assert spot.converged
        assert 0.7 < spot.reduced_deviance < 1.5
    for name, values in pulls.items():
        assert np.abs(values).max() < 4.0, name
        assert 0.4 < np.std(values) < 1.7, name
    assert result.median_fwhm_long_nm == pytest.approx(120.0, rel=0.03)
    assert result.median_fwhm_short_nm == pytest.approx(60.0, rel=0.03)
    assert result.median_fwhm_nm == pytest.approx(math.sqrt(120.0 * 60.0), rel=0.03)


@pytest.mark.parametrize("angle_deg, expected", [(0.0, 0.0), (90.0, 90.0), (-45.0, -45.0),
                                                 (135.0, -45.0), (60.0, 60.0)])
def test_the_angle_is_the_long_axis_direction_within_minus_90_to_90(angle_deg, expected):
    truth = [dict(x_um=0.5, y_um=0.5, fwhm_long_nm=200.0, fwhm_short_nm=80.0,
                  angle_deg=angle_deg, amplitude=400.0)]
    expected_image, x, y = gaussian_image((100, 100), 0.01, truth, background=2.0)
    image = np.random.default_rng(1).poisson(expected_image)
    spot = analyse_image(image, x, y).spots[0]
    difference = (spot.angle_deg - expected + 90.0) % 180.0 - 90.0
    assert abs(difference) < 3.0
    assert -90.0 < spot.angle_deg <= 90.0
    assert spot.elongation == pytest.approx(2.5, rel=0.1)


@pytest.mark.parametrize("mean_counts", [0.3, 3.0, 30.0])
def test_pure_noise_has_no_spots(mean_counts):
    x = y = np.arange(150) * 0.02
    for seed in range(3):
        image = np.random.default_rng(seed).poisson(mean_counts, (150, 150))
        assert analyse_image(image, x, y).n_spots == 0


def test_spots_closer_than_the_minimum_separation_count_once():
    spots = [dict(x_um=0.5, y_um=0.5, fwhm_long_nm=100.0, fwhm_short_nm=100.0, angle_deg=0.0,
                  amplitude=300.0),
             dict(x_um=0.8, y_um=0.5, fwhm_long_nm=100.0, fwhm_short_nm=100.0, angle_deg=0.0,
                  amplitude=200.0)]
    expected, x, y = gaussian_image((100, 130), 0.01, spots, background=2.0)
    image = np.random.default_rng(4).poisson(expected)
    apart, *_ = find_spots(image, x, y, min_separation_um=0.2)
    together, *_ = find_spots(image, x, y, min_separation_um=0.5)
    assert len(apart) == 2 and len(together) == 1
    assert x[apart[0][1]] == pytest.approx(0.5, abs=0.02)  # the brighter one first


def test_a_spot_is_fitted_from_a_pixel_near_it():
    truth = [dict(x_um=0.42, y_um=0.37, fwhm_long_nm=150.0, fwhm_short_nm=150.0,
                  angle_deg=0.0, amplitude=500.0)]
    expected, x, y = gaussian_image((80, 80), 0.01, truth, background=1.0)
    spot = fit_spot(np.random.default_rng(5).poisson(expected), x, y, 40, 45)
    assert (spot.x_um, spot.y_um) == pytest.approx((0.42, 0.37), abs=0.005)
    assert spot.fwhm_mean_nm == pytest.approx(150.0, rel=0.05)


@pytest.mark.parametrize("bad", ["shape", "axis", "negative", "uneven"])
def test_unusable_input_is_rejected(bad):
    image = np.ones((10, 12))
    x, y = np.arange(12) * 0.01, np.arange(10) * 0.01
    if bad == "shape":
        image = np.ones(10)
    elif bad == "axis":
        x = x[:-1]
    elif bad == "negative":
        image[2, 2] = -1
    else:
        x = x**2
    with pytest.raises(ImageAnalysisError):
        analyse_image(image, x, y)


# --- images of the simulated bench -------------------------------------------------------------

def _world(intensity_kW_cm2: float) -> SimWorld:
    """The default sample (one Tm ANP) slightly off the origin under the 1064-nm twin, with the
    peak intensity at the focus set to `intensity_kW_cm2`."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=21)
    world.sample.particle_positions_um = np.array([[0.013, -0.008]])
    laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser)
    laser.handle("SPS 1.0")
    laser.handle("EMON")
    clock.sleep(3.1)
    laser.handle(f"SPS {intensity_kW_cm2 / world.peak_intensity_kW_cm2():.12f}")
    return world


def _twin_image(world: SimWorld, pitch_um: float, dwell_s: float, dark_cps: float = 25.0):
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=41 * pitch_um,
                        height_um=41 * pitch_um, pixels_x=41, pixels_y=41, dwell_s=dwell_s,
                        flyback_pixels=4)
    scanner = SimGalvoScanner(world, calibration=CAL, finite_dwell=False,
                              dark_count_rate_cps=dark_cps)
    image = assemble_image(scanner.scan_lines(frame), frame)
    return image, frame.x_positions_um(), frame.y_positions_um()


def test_twin_spot_at_the_s_peak_matches_lambda_over_2na_sqrt_s_max():
    """Default sample at the intensity of maximal S (S_max ≈ 26.4 at ≈ 5.33 kW/cm²): the
    spot's FWHM is within ±10 % of λ/(2·NA·√S_max) ≈ 69 nm, five times below the excitation."""
    world = _world(1.0)
    s_max, intensity = world.emission_table().s_max_refined()
    assert s_max == pytest.approx(26.4, abs=0.2) and intensity == pytest.approx(5.33, abs=0.02)
    world = _world(intensity)
    image, x, y = _twin_image(world, 0.01, dwell_s=20.0)  # ~2800 counts at the peak
    result = analyse_image(image, x, y)
    assert result.n_spots == 1
    spot = result.spots[0]
    assert (spot.x_um, spot.y_um) == pytest.approx((0.013, -0.008), abs=0.004)
    comparison = result.compare_with_passi(1064.0, world.optics.numerical_aperture, s_max)
    assert comparison.predicted_fwhm_nm == pytest.approx(69.4, abs=0.3)
    assert comparison.ratio == pytest.approx(1.0, abs=0.10)
    assert spot.elongation < 1.1  # steady state: round


@pytest.mark.parametrize("threshold_factor", [0.5, 10.0])
def test_twin_spot_far_from_the_s_peak_is_200_nm_or_wider(threshold_factor):
    """Below threshold (S ≈ 2–3) and deep in saturation (S → 0) the spot is no longer
    sub-diffraction: about 200 nm or more."""
    world = _world(1.0)
    intensity = threshold_factor * world.emission_table().s_max()[1]
    world = _world(intensity)
    image, x, y = _twin_image(world, 0.02, dwell_s=1000.0 if threshold_factor < 1 else 0.05,
                              dark_cps=0.0 if threshold_factor < 1 else 25.0)
    result = analyse_image(image, x, y)
    assert result.n_spots == 1
    assert result.median_fwhm_nm > 190.0


def test_finite_dwell_streak_is_long_along_the_fast_axis():
    """Near threshold with dwell << t½ the twin's spot is streaked along x (the scan); the
    analysis reports its long axis at ≈ 0°. The expected image (engine, noise-free) is scaled
    to ~500 counts at the peak and drawn with Poisson noise."""
    world = _world(1.0)
    world = _world(1.05 * world.emission_table().s_max()[1])
    world.sample.particle_positions_um = np.array([[0.0, 0.0]])
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=1.2, height_um=1.2,
                        pixels_x=48, pixels_y=48, dwell_s=5e-5, flyback_pixels=6)
    angles, elongations = {}, {}
    for finite in (False, True):
        engine = ScanEngine(world, dark_count_rate_cps=0.0, dead_time_s=0.0,
                            finite_dwell=finite)
        path = raster_positions_um(frame)
        engine.start_frame(path, frame.dwell_s, 0.0, samples_per_line=frame.samples_per_line)
        lines = engine.signal_photons(0, path.shape[1])[:-1].reshape(
            frame.pixels_y, frame.samples_per_line)[:, frame.flyback_pixels:]
        image = np.random.default_rng(8).poisson(2.0 + 500.0 * lines / lines.max())
        spot = analyse_image(image, frame.x_positions_um(), frame.y_positions_um()).spots[0]
        angles[finite], elongations[finite] = spot.angle_deg, spot.elongation
    assert elongations[False] < 1.1
    assert elongations[True] > 1.4
    assert abs(angles[True]) < 5.0
