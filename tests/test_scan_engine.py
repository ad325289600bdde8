"""The confocal scan engine (sim_devices.physics.scan, sim_devices.scan_engine): whole paths at
once must give what one rate-equation solve per pixel and particle gives, noise-free.

The reference is the per-pixel method the galvo twin used before the engine: every particle a
`ParticleDynamics` (LSODA, analytic Jacobian) advanced through every sample of the path, or the
world's steady-state photon rate with the beam at each sample.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from drivers.scanning import GalvoCalibration, RasterFrame, assemble_image, raster_positions_um
from sim_devices.clock import VirtualClock
from sim_devices.instruments.galvo_scanner import SimGalvoScanner
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.physics import ParticleDynamics, emission_table
from sim_devices.physics.scan import (
    ParticleStates,
    afterglow_time_s,
    cutoff_radius_um,
    lit_pairs,
    steady_path_photons,
)
from sim_devices.scan_engine import ScanEngine
from sim_devices.world import SimWorld

TABLE = emission_table("tm8_1064")
THRESHOLD_KW_CM2 = TABLE.s_max()[1]
WAIST_UM = 1064e-3 / (2 * 1.49 * math.sqrt(2 * math.log(2)))
CAL = GalvoCalibration(volts_per_degree=0.8, um_per_degree=17.45, max_slew_V_per_ms=15.7)
TWO_PARTICLES = np.array([[0.05, 0.02], [0.45, -0.3]])


def _world(threshold_factor: float, particles: np.ndarray = TWO_PARTICLES,
           seed: int = 5) -> tuple[SimWorld, SimIPGYLR]:
    """A world with the 1064-nm twin set to `threshold_factor` × the S-peak intensity."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=seed)
    world.sample.particle_positions_um = np.array(particles, dtype=float)
    laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser)
    laser.handle("SPS 1.0")
    laser.handle("EMON")
    clock.sleep(3.1)
    set_intensity(world, laser, threshold_factor * THRESHOLD_KW_CM2)
    return world, laser


def set_intensity(world: SimWorld, laser: SimIPGYLR, intensity_kW_cm2: float) -> None:
    laser.handle("SPS 1.0")
    per_W = world.peak_intensity_kW_cm2()
    laser.handle(f"SPS {intensity_kW_cm2 / per_W:.12f}")


def _frame(dwell_s: float, **changes) -> RasterFrame:
    values = dict(x_center_um=0.15, y_center_um=-0.1, width_um=1.4, height_um=1.0,
                  pixels_x=14, pixels_y=5, dwell_s=dwell_s, flyback_pixels=3)
    values.update(changes)
    return RasterFrame(**values)


def per_pixel_reference(particles: np.ndarray, path: np.ndarray, peak_kW_cm2: float,
                        dwell_s: float, preset: str = "tm8_1064",
                        waist_um: float = WAIST_UM) -> np.ndarray:
    """Photons per sample: one LSODA particle per ANP, advanced sample by sample, starting in
    the steady state of the path's first position (the previous twin's method)."""
    ions = emission_table(preset).preset.ions_per_particle
    out = np.zeros(path.shape[1])
    for particle in particles:
        intensity = peak_kW_cm2 * np.exp(-2 * np.sum((path.T - particle) ** 2, axis=1)
                                         / waist_um**2)
        dynamics = ParticleDynamics(preset)
        dynamics.set_steady_state(float(intensity[0]))
        for k, value in enumerate(intensity):
            out[k] += dynamics.advance(dwell_s, float(value)) * ions
    return out


# --- finite dwell against the per-pixel integration --------------------------------------------

@pytest.mark.parametrize("threshold_factor, dwell_s, bidirectional", [
    (1.0, 1e-3, False),   # near threshold: the particle lags the beam by many pixels
    (1.5, 2e-5, True),    # dwell << ³H₄ lifetime: afterglow after the beam has left
    (4.0, 1e-3, False),   # well above threshold: fast rise, steps are halved where needed
    (0.6, 3e-2, False),   # below threshold, long dwells: close to steady state
])
def test_finite_dwell_matches_lsoda_pixel_by_pixel(threshold_factor, dwell_s, bidirectional):
    peak = threshold_factor * THRESHOLD_KW_CM2
    path = raster_positions_um(_frame(dwell_s, bidirectional=bidirectional))
    states = ParticleStates("tm8_1064", len(TWO_PARTICLES))
    r2 = np.sum((TWO_PARTICLES - path[:, 0]) ** 2, axis=1)
    states.set_steady_state(peak * np.exp(-2 * r2 / WAIST_UM**2), 0.0)
    engine = states.run_path(TWO_PARTICLES, path, peak, WAIST_UM, dwell_s, 0.0)
    reference = per_pixel_reference(TWO_PARTICLES, path, peak, dwell_s)
    assert np.abs(engine - reference).max() <= 2e-3 * reference.max()
    # and it is not the steady-state picture: the comparison can fail
    steady = steady_path_photons(TABLE, TWO_PARTICLES, path, peak, WAIST_UM, dwell_s)
    assert np.abs(steady - reference).max() > 0.1 * reference.max()


def test_finite_dwell_matches_lsoda_for_a_two_species_preset():
    """Pr/Yb (852 nm): two species, energy transfer both ways, three reduced populations."""
    table = emission_table("pryb_852")
    peak = 2.0 * table.s_max()[1]
    waist = 0.852 / (2 * 1.49 * math.sqrt(2 * math.log(2)))
    path = raster_positions_um(_frame(2e-4))
    states = ParticleStates("pryb_852", len(TWO_PARTICLES))
    r2 = np.sum((TWO_PARTICLES - path[:, 0]) ** 2, axis=1)
    states.set_steady_state(peak * np.exp(-2 * r2 / waist**2), 0.0)
    engine = states.run_path(TWO_PARTICLES, path, peak, waist, 2e-4, 0.0)
    reference = per_pixel_reference(TWO_PARTICLES, path, peak, 2e-4, "pryb_852", waist)
    assert np.abs(engine - reference).max() <= 2e-3 * reference.max()


def test_a_particle_the_beam_returns_to_has_decayed_in_the_dark_meanwhile():
    """One particle lit on every other line of a bidirectional frame: its state between visits
    is relaxed analytically in the dark; when the beam comes back the emission must match
    the per-pixel integration that kept integrating under the (tiny) far-wing intensity."""
    particle = np.array([[0.0, 0.0]])
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=4.0, height_um=2.0,
                        pixels_x=40, pixels_y=4, dwell_s=2e-4, flyback_pixels=4,
                        bidirectional=True)
    path = raster_positions_um(frame)
    peak = 1.2 * THRESHOLD_KW_CM2
    states = ParticleStates("tm8_1064", 1)
    states.set_steady_state(peak * np.exp(-2 * np.sum(path[:, 0] ** 2) / WAIST_UM**2)[None], 0.0)
    engine = states.run_path(particle, path, peak, WAIST_UM, frame.dwell_s, 0.0)
    reference = per_pixel_reference(particle, path, peak, frame.dwell_s)
    lit = lit_pairs(particle, path, 2.5 * WAIST_UM).sample
    assert np.diff(lit).max() > 20  # dark gaps (> 4 ms) between the lit runs
    assert np.abs(engine - reference).max() <= 2e-3 * reference.max()


def test_states_after_a_path_are_valid_at_the_end_of_the_last_lit_sample():
    path = raster_positions_um(_frame(1e-3))
    states = ParticleStates("tm8_1064", len(TWO_PARTICLES))
    states.run_path(TWO_PARTICLES, path, 1.2 * THRESHOLD_KW_CM2, WAIST_UM, 1e-3, 10.0)
    pairs = lit_pairs(TWO_PARTICLES, path, 2.5 * WAIST_UM)
    for i in range(len(TWO_PARTICLES)):
        last = pairs.sample[pairs.particle == i].max()
        assert states.time_s[i] == pytest.approx(10.0 + (last + 1) * 1e-3)


def test_afterglow_lasts_tens_of_3h4_lifetimes():
    """The 800-nm line's upper level decays in ~92 µs in the dark (docs/physics.md): the
    emission needs ~23 lifetimes to fall by 1e-10."""
    states = ParticleStates("tm8_1064", 1)
    assert 1.0e-3 < afterglow_time_s(states.model, states.line) < 4e-3


# --- steady state ------------------------------------------------------------------------------

def test_steady_state_matches_the_worlds_photon_rate_sample_by_sample():
    world, _ = _world(1.3, particles=np.array([[0.0, 0.0], [0.3, 0.2], [40.0, 40.0]]))
    path = raster_positions_um(_frame(1e-3))
    dwell = 1e-3
    expected = []
    for position in path.T:
        world.beam_position_um = position
        expected.append(world.emission_photons_per_s() * dwell)
    photons = steady_path_photons(world.emission_table(), world.sample.particle_positions_um,
                                  path, world.peak_intensity_kW_cm2(), WAIST_UM, dwell)
    expected = np.array(expected)
    assert np.abs(photons - expected).max() <= 1e-8 * expected.max()


def test_culling_keeps_every_pair_within_the_radius():
    rng = np.random.default_rng(2)
    particles = rng.uniform(-3, 3, (40, 2))
    path = raster_positions_um(RasterFrame(x_center_um=0, y_center_um=0, width_um=6,
                                           height_um=6, pixels_x=70, pixels_y=30, dwell_s=1e-3,
                                           flyback_pixels=5))
    pairs = lit_pairs(particles, path, 0.7)
    r2 = np.sum((path.T[None, :, :] - particles[:, None, :]) ** 2, axis=2)
    brute = np.argwhere(r2 < 0.49)
    assert np.array_equal(np.column_stack([pairs.particle, pairs.sample]), brute)
    assert np.allclose(pairs.r2_um2, r2[brute[:, 0], brute[:, 1]])


def test_cutoff_radius_grows_with_the_pump_in_saturation():
    near = cutoff_radius_um(TABLE, THRESHOLD_KW_CM2, WAIST_UM)
    deep = cutoff_radius_um(TABLE, 100 * THRESHOLD_KW_CM2, WAIST_UM)
    assert 0 < near < deep
    assert cutoff_radius_um(TABLE, 0.0, WAIST_UM) == 0.0


# --- image formation ---------------------------------------------------------------------------

def _second_moments_nm(image: np.ndarray, pitch_nm: float) -> tuple[float, float]:
    """RMS widths (x, y) of an image's signal around its centroid."""
    signal = np.clip(image - np.median(image), 0, None)
    ys, xs = np.indices(signal.shape)
    total = signal.sum()
    cx, cy = (signal * xs).sum() / total, (signal * ys).sum() / total
    return (math.sqrt((signal * (xs - cx) ** 2).sum() / total) * pitch_nm,
            math.sqrt((signal * (ys - cy) ** 2).sum() / total) * pitch_nm)


def test_finite_dwell_near_threshold_elongates_the_spot_along_the_scan():
    """dwell (50 µs) << t½ (~0.2 s) just above threshold: the particle's populations lag the
    beam, so its spot is long in x (the fast axis) and not in y; the steady-state spot of
    the same particle is round and far narrower."""
    particle = np.array([[0.0, 0.0]])
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=1.2, height_um=1.2,
                        pixels_x=48, pixels_y=48, dwell_s=5e-5, flyback_pixels=6)
    widths = {}
    for finite in (False, True):
        world, _ = _world(1.05, particles=particle)
        engine = ScanEngine(world, dark_count_rate_cps=0.0, dead_time_s=0.0,
                            finite_dwell=finite)
        path = raster_positions_um(frame)
        engine.start_frame(path, frame.dwell_s, 0.0, samples_per_line=frame.samples_per_line)
        signal = engine.signal_photons(0, path.shape[1])
        lines = signal[:frame.pixels_y * frame.samples_per_line].reshape(
            frame.pixels_y, frame.samples_per_line)[:, frame.flyback_pixels:]
        widths[finite] = _second_moments_nm(lines, 25.0)
    steady_x, steady_y = widths[False]
    finite_x, finite_y = widths[True]
    assert steady_x == pytest.approx(steady_y, rel=0.05)
    assert finite_x > 1.5 * finite_y
    assert finite_x > 2 * steady_x


def test_engine_recomputes_from_the_line_where_the_pump_changed():
    world, laser = _world(1.2)
    frame = _frame(5e-4)
    path = raster_positions_um(frame)
    unit = frame.samples_per_line
    engine = ScanEngine(world, dark_count_rate_cps=0.0, dead_time_s=0.0)
    engine.start_frame(path, frame.dwell_s, 0.0, samples_per_line=unit)
    first = engine.signal_photons(0, 2 * unit)
    set_intensity(world, laser, 2.0 * THRESHOLD_KW_CM2)
    rest = engine.signal_photons(2 * unit, path.shape[1])
    # reference: the same particles, the first two lines at 1.2 I_th, the rest at 2 I_th
    states = ParticleStates("tm8_1064", len(TWO_PARTICLES))
    peak = 1.2 * THRESHOLD_KW_CM2
    r2 = np.sum((TWO_PARTICLES - path[:, 0]) ** 2, axis=1)
    states.set_steady_state(peak * np.exp(-2 * r2 / WAIST_UM**2), 0.0)
    eta = world.detection.collection_efficiency
    ref_first = states.run_path(TWO_PARTICLES, path[:, :2 * unit], peak, WAIST_UM,
                                frame.dwell_s, 0.0) * eta
    ref_rest = states.run_path(TWO_PARTICLES, path[:, 2 * unit:], 2.0 * THRESHOLD_KW_CM2,
                               WAIST_UM, frame.dwell_s, 2 * unit * frame.dwell_s) * eta
    assert np.allclose(first, ref_first, rtol=1e-9, atol=0)
    # the engine went on in short segments after the change: equal up to the linearisation of
    # the afterglow at the segment edges
    assert np.abs(rest - ref_rest).max() <= 1e-6 * ref_rest.max()
    assert rest.max() > 2 * first.max()


def test_finite_dwell_samples_must_be_read_in_order():
    """The populations carried from sample to sample are those after the last one read: a
    skipped stretch or a step back is refused, not integrated from the wrong state."""
    world, _ = _world(1.2)
    frame = _frame(5e-4)
    path = raster_positions_um(frame)
    unit = frame.samples_per_line
    engine = ScanEngine(world, dark_count_rate_cps=0.0, dead_time_s=0.0)
    engine.start_frame(path, frame.dwell_s, 0.0, samples_per_line=unit)
    with pytest.raises(ValueError, match="read in order"):
        engine.signal_photons(unit, 2 * unit)  # the first line skipped
    engine.signal_photons(0, unit)
    engine.signal_photons(unit, unit + 5)
    engine.signal_photons(unit + 2, unit + 5)  # again, within the segment computed: fine
    engine.start_frame(path, frame.dwell_s, 1.0, samples_per_line=unit)
    with pytest.raises(ValueError, match="read in order"):
        engine.signal_photons(3, 5)  # a new frame starts at its first sample


def test_dark_bench_gives_dark_counts_only():
    world, laser = _world(1.0)
    laser.handle("EMOFF")
    engine = ScanEngine(world, dark_count_rate_cps=200.0, dead_time_s=0.0)
    path = raster_positions_um(_frame(1e-2))
    engine.start_frame(path, 1e-2, 0.0)
    assert np.array_equal(engine.expected_counts(0, path.shape[1]),
                          np.full(path.shape[1], 2.0))


def test_twin_counts_scatter_around_the_engine_expectation():
    """The twin's counts are Poisson draws around the engine's expected counts (dead time
    included): the normalised residuals have unit variance."""
    world, _ = _world(3.0)
    frame = _frame(2e-2)
    scanner = SimGalvoScanner(world, calibration=CAL, finite_dwell=True)
    image = assemble_image(scanner.scan_lines(frame), frame).astype(float)
    expected = scanner.engine.expected_counts(0, frame.pixels_y * frame.samples_per_line)
    expected = expected.reshape(frame.pixels_y, frame.samples_per_line)[:, frame.flyback_pixels:]
    z = (image - expected) / np.sqrt(expected)
    assert expected.max() > 300
    assert abs(z.mean()) < 0.4 and 0.7 < z.std() < 1.3


def test_a_sample_given_as_a_preset_object_keeps_its_particle_states():
    """A lab's [simulation.sample] overrides make the world's preset an object, not a name:
    the finite-dwell scan must carry the particles' states all the same (it rebuilt them
    dark for every segment when it compared the object with a name)."""
    from sim_devices.physics import PRESETS

    results = []
    for preset in ("tm8_1064", PRESETS["tm8_1064"]):
        world, laser = _world(1.2)
        world.sample.preset = preset
        frame = _frame(5e-4)
        path = raster_positions_um(frame)
        unit = frame.samples_per_line
        engine = ScanEngine(world, dark_count_rate_cps=0.0, dead_time_s=0.0)
        engine.start_frame(path, frame.dwell_s, 0.0, samples_per_line=unit)
        first = engine.signal_photons(0, unit // 2)
        set_intensity(world, laser, 1.5 * THRESHOLD_KW_CM2)  # a change mid-frame: segments
        results.append(np.concatenate([first, engine.signal_photons(unit // 2,
                                                                    path.shape[1])]))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-9)
    assert results[0].max() > 0
