"""Raster scanning: galvo calibration and limits, the raster waveform, the simulated scanner on
the simulated world (sub-diffraction ANP spots), and the NI-DAQ backend's task wiring against a
fake nidaqmx.

Statistical checks use fixed seeds; the virtual clock makes long dwells free.
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import curve_fit

from drivers.errors import BackendNotInstalledError
from drivers.scanning import (
    GalvoCalibration,
    LineResult,
    RasterFrame,
    ScanLimitError,
    ScannerConnectionError,
    ScannerTimeoutError,
    ScanningCounter,
    assemble_image,
    raster_positions_um,
    raster_waveform,
)
from drivers.scanning.nidaq_galvo import counts_from_cumulative
from sim_devices.clock import VirtualClock
from sim_devices.instruments.galvo_scanner import SimGalvoScanner
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.world import SimWorld

WAVELENGTH_NM = 1064.0
NA = 1.49
EXCITATION_FWHM_NM = 357.0

#: GVS002-like: 0.8 V/°, 17.45 µm/° (2 mm objective, 50/200 mm scan/tube lens) → ±218 µm.
CAL = GalvoCalibration(volts_per_degree=0.8, um_per_degree=17.45, max_slew_V_per_ms=15.7)


def _frame(**changes) -> RasterFrame:
    base = dict(x_center_um=0.0, y_center_um=0.0, width_um=1.0, height_um=1.0, pixels_x=10,
                pixels_y=10, dwell_s=1e-3, flyback_pixels=4)
    base.update(changes)
    return RasterFrame(**base)


def _dark_world(seed: int = 3) -> SimWorld:
    return SimWorld(clock=VirtualClock(), seed=seed)


def _lit_world(threshold_factor: float, seed: int = 11) -> SimWorld:
    """The default world (one ANP at the origin) under the 1064-nm twin, with the peak
    intensity at `threshold_factor` × the intensity of steepest response (S_max)."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=seed)
    laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser)
    laser.handle("SPS 1.0")
    laser.handle("EMON")
    clock.sleep(3.1)  # the laser's start-up time
    kW_cm2_per_W = world.peak_intensity_kW_cm2()
    _, threshold_kW_cm2 = world.sample.table.s_max()
    laser.handle(f"SPS {threshold_factor * threshold_kW_cm2 / kW_cm2_per_W:.9f}")
    return world


def _scanner(world: SimWorld, **kwargs) -> SimGalvoScanner:
    # Image-formation tests use dwells far longer than the rise time: steady state per pixel
    # gives the same picture and keeps them fast. Finite dwell has its own test.
    kwargs.setdefault("finite_dwell", False)
    return SimGalvoScanner(world, calibration=CAL, **kwargs)


def _gaussian(x, amplitude, x0, sigma, background):
    return amplitude * np.exp(-((x - x0) ** 2) / (2 * sigma**2)) + background


def _spot_centre_um(image: np.ndarray, frame: RasterFrame) -> tuple[float, float]:
    """Intensity-weighted centre of the pixels above half the maximum."""
    signal = image - np.median(image)
    mask = signal >= 0.5 * signal.max()
    ys, xs = np.nonzero(mask)
    weights = signal[ys, xs]
    return (float(np.average(frame.x_positions_um()[xs], weights=weights)),
            float(np.average(frame.y_positions_um()[ys], weights=weights)))


# --- calibration -------------------------------------------------------------------------------

def test_calibration_round_trips_um_through_volts_per_axis():
    cal = GalvoCalibration(volts_per_degree=(0.5, 1.0), um_per_degree=(20.0, -15.0),
                           max_slew_V_per_ms=15.7, offset_volts=(0.2, -0.1))
    positions = np.array([[-30.0, 0.0, 12.5], [4.0, -7.0, 0.0]])
    assert np.allclose(cal.to_um(cal.to_volts(positions)), positions)


def test_calibration_axes_scale_independently():
    cal = GalvoCalibration(volts_per_degree=(0.5, 1.0), um_per_degree=(20.0, 20.0),
                           max_slew_V_per_ms=15.7)
    assert np.allclose(cal.to_volts((10.0, 10.0)), (0.25, 0.5))


def test_negative_um_per_degree_flips_the_axis():
    cal = GalvoCalibration(volts_per_degree=0.8, um_per_degree=(17.45, -17.45),
                           max_slew_V_per_ms=15.7)
    x_volts, y_volts = cal.to_volts((1.0, 1.0))
    assert x_volts == pytest.approx(-y_volts)


def test_offset_volts_centre_the_spot():
    cal = GalvoCalibration(volts_per_degree=0.8, um_per_degree=17.45, max_slew_V_per_ms=15.7,
                           offset_volts=(0.3, -0.2))
    assert np.allclose(cal.to_volts((0.0, 0.0)), (0.3, -0.2))


def test_calibration_from_optics_uses_twice_the_mechanical_angle():
    cal = GalvoCalibration.from_optics(volts_per_degree=0.8, objective_focal_length_mm=2.0,
                                       scan_lens_focal_length_mm=50.0,
                                       tube_lens_focal_length_mm=200.0, max_slew_V_per_ms=15.7)
    expected = 2 * math.radians(1.0) * 2000.0 * 50.0 / 200.0
    assert cal.um_per_degree == pytest.approx((expected, expected))


def test_reachable_field_is_max_volts_times_um_per_volt():
    (x_low, x_high), (y_low, y_high) = CAL.reachable_um()
    assert x_high == pytest.approx(10.0 * 17.45 / 0.8)
    assert x_low == pytest.approx(-x_high)
    assert (y_low, y_high) == pytest.approx((x_low, x_high))


@pytest.mark.parametrize("changes", [
    {"volts_per_degree": 0.0}, {"um_per_degree": 0.0}, {"max_slew_V_per_ms": -1.0},
    {"max_volts": 0.0}, {"offset_volts": 10.0}, {"volts_per_degree": (0.8, 0.8, 0.8)},
])
def test_impossible_calibration_is_rejected(changes):
    values = dict(volts_per_degree=0.8, um_per_degree=17.45, max_slew_V_per_ms=15.7)
    values.update(changes)
    with pytest.raises(ValueError):
        GalvoCalibration(**values)


# --- waveform limits -------------------------------------------------------------------------

def test_voltage_beyond_the_limit_names_axis_sample_value_and_limit():
    volts = np.zeros((2, 5))
    volts[1, 3] = -10.5
    with pytest.raises(ScanLimitError) as error:
        CAL.check_waveform(volts, 1e3)
    assert (error.value.axis, error.value.index, error.value.quantity) == ("y", 3, "voltage")
    assert error.value.value == -10.5
    assert error.value.limit == 10.0
    assert "galvo y" in str(error.value) and "10 V" in str(error.value)


def test_step_faster_than_the_slew_limit_names_axis_sample_and_rate():
    volts = np.zeros((2, 4))
    volts[0, 2:] = 1.0  # 1 V in one 10-µs sample: 100 V/ms
    with pytest.raises(ScanLimitError) as error:
        CAL.check_waveform(volts, 1e5)
    assert (error.value.axis, error.value.index, error.value.quantity) == ("x", 2, "slew")
    assert error.value.value == pytest.approx(100.0)
    assert error.value.limit == 15.7


def test_slew_at_exactly_the_limit_is_allowed():
    volts = np.array([[0.0, 0.157, 0.314], [0.0, 0.0, 0.0]])
    CAL.check_waveform(volts, 1e5)  # 0.157 V per 10 µs = 15.7 V/ms


def test_step_from_the_current_position_counts_towards_the_slew_limit():
    volts = np.full((2, 3), 2.0)
    CAL.check_waveform(volts, 1e5)
    with pytest.raises(ScanLimitError) as error:
        CAL.check_waveform(volts, 1e5, start_volts=(0.0, 0.0))
    assert error.value.index == 0


def test_non_finite_volts_are_rejected():
    volts = np.zeros((2, 3))
    volts[0, 1] = np.nan
    with pytest.raises(ScanLimitError):
        CAL.check_waveform(volts, 1e3)


def test_ramp_stays_within_the_slew_limit_and_ends_on_target():
    ramp = CAL.ramp((0.0, 0.0), (9.0, -4.0), 1e5)
    assert np.allclose(ramp[:, -1], (9.0, -4.0))
    steps = np.abs(np.diff(np.concatenate([np.zeros((2, 1)), ramp], axis=1), axis=1))
    assert steps.max() * 1e5 / 1e3 <= 15.7


def test_ramp_to_an_unreachable_point_is_rejected():
    with pytest.raises(ScanLimitError):
        CAL.ramp((0.0, 0.0), (0.0, 12.0), 1e5)


# --- frames and the raster waveform ----------------------------------------------------------

def test_pixel_centres_tile_the_field_around_its_centre():
    frame = _frame(x_center_um=2.0, width_um=1.0, pixels_x=4)
    assert np.allclose(frame.x_positions_um(), [1.625, 1.875, 2.125, 2.375])


@pytest.mark.parametrize("changes", [
    {"pixels_x": 0}, {"dwell_s": 0.0}, {"flyback_pixels": -1}, {"width_um": -1.0},
    {"dwell_s": float("nan")}, {"pixels_y": 2.5},
])
def test_impossible_frame_is_rejected(changes):
    with pytest.raises(ValueError):
        _frame(**changes)


def test_waveform_has_one_sample_more_than_the_frame_has_pixel_and_flyback_samples():
    frame = _frame(pixels_x=7, pixels_y=3, flyback_pixels=2)
    waveform = raster_waveform(frame, CAL)
    assert waveform.volts.shape == (2, 3 * (2 + 7) + 1)
    assert waveform.n_samples == frame.n_samples


def test_single_pixel_line_still_has_a_closing_sample():
    frame = _frame(pixels_x=1, pixels_y=1, flyback_pixels=0, width_um=0.0)
    assert raster_waveform(frame, CAL).volts.shape == (2, 2)


def test_each_line_visits_its_pixels_after_its_flyback():
    frame = _frame(pixels_x=5, pixels_y=3, flyback_pixels=4)
    positions = raster_positions_um(frame)
    for line, y in enumerate(frame.y_positions_um()):
        pixels = positions[:, line * 9 + 4:line * 9 + 9]
        assert np.allclose(pixels[0], frame.x_positions_um())
        assert np.allclose(pixels[1], y)


def test_flyback_moves_straight_from_the_previous_line_end_to_the_next_line_start():
    frame = _frame(pixels_x=5, pixels_y=2, flyback_pixels=4)
    positions = raster_positions_um(frame)
    end_of_line_0 = positions[:, 8]
    start_of_line_1 = positions[:, 13]
    flyback = positions[:, 9:13]
    t = np.arange(1, 5) / 5
    expected = end_of_line_0[:, None] + (start_of_line_1 - end_of_line_0)[:, None] * t
    assert np.allclose(flyback, expected)


def test_first_flyback_holds_at_the_first_pixel():
    frame = _frame(pixels_x=5, pixels_y=2, flyback_pixels=3)
    positions = raster_positions_um(frame)
    assert np.allclose(positions[:, :3], positions[:, [3]])


def test_last_sample_only_closes_the_last_pixel():
    positions = raster_positions_um(_frame())
    assert np.allclose(positions[:, -1], positions[:, -2])


def test_bidirectional_odd_lines_run_backwards():
    frame = _frame(pixels_x=5, pixels_y=2, flyback_pixels=2, bidirectional=True)
    positions = raster_positions_um(frame)
    assert np.allclose(positions[0, 9:14], frame.x_positions_um()[::-1])


def test_line_result_drops_flyback_samples():
    frame = _frame(pixels_x=4, pixels_y=2, flyback_pixels=3)
    waveform = raster_waveform(frame, CAL)
    line = waveform.line_result(1, np.array([99, 99, 99, 1, 2, 3, 4]), dwell_s=1e-3)
    assert line.counts.tolist() == [1, 2, 3, 4]
    assert line.counts.dtype == np.int64


def test_line_result_of_a_backward_line_is_in_ascending_x():
    frame = _frame(pixels_x=4, pixels_y=2, flyback_pixels=1, bidirectional=True)
    waveform = raster_waveform(frame, CAL)
    line = waveform.line_result(1, np.array([99, 4, 3, 2, 1]), dwell_s=1e-3)
    assert line.counts.tolist() == [1, 2, 3, 4]
    assert not line.forward
    assert np.all(np.diff(line.x_um) > 0)


def test_frame_beyond_the_voltage_range_is_rejected():
    with pytest.raises(ScanLimitError) as error:
        raster_waveform(_frame(x_center_um=300.0), CAL)
    assert error.value.axis == "x" and error.value.quantity == "voltage"


def test_fast_wide_frame_without_flyback_breaks_the_slew_limit():
    with pytest.raises(ScanLimitError) as error:
        raster_waveform(_frame(width_um=100.0, dwell_s=1e-5, flyback_pixels=0), CAL)
    assert error.value.quantity == "slew"


def test_enough_flyback_pixels_keep_the_same_frame_within_the_slew_limit():
    raster_waveform(_frame(width_um=100.0, pixels_x=1000, dwell_s=1e-5, flyback_pixels=400),
                    CAL)


def test_assemble_image_puts_line_j_in_row_j():
    frame = _frame(pixels_x=3, pixels_y=2)
    lines = [LineResult(index=1, y_um=0.25, x_um=frame.x_positions_um(),
                        counts=np.array([7, 8, 9]), dwell_s=1e-3)]
    assert assemble_image(lines, frame).tolist() == [[0, 0, 0], [7, 8, 9]]


# --- cumulative counter latches --------------------------------------------------------------

def test_cumulative_latches_become_counts_per_sample():
    assert counts_from_cumulative(np.array([10, 13, 13, 20], dtype=np.uint32)).tolist() == \
        [3, 0, 7]


def test_cumulative_counts_survive_the_32_bit_register_wrap():
    latches = np.array([2**32 - 2, 3, 9], dtype=np.uint32)
    assert counts_from_cumulative(latches).tolist() == [5, 6]


def test_cumulative_counts_continue_from_the_previous_read():
    latches = np.array([1, 4], dtype=np.uint32)
    assert counts_from_cumulative(latches, previous=2**32 - 1).tolist() == [2, 3]


# --- the simulated scanner -------------------------------------------------------------------

def test_sim_scanner_is_a_scanning_counter():
    assert isinstance(_scanner(_dark_world()), ScanningCounter)


def test_sim_scan_yields_one_line_result_per_line_in_order():
    frame = _frame(pixels_x=6, pixels_y=4)
    lines = list(_scanner(_dark_world()).scan_lines(frame))
    assert [line.index for line in lines] == [0, 1, 2, 3]
    assert all(line.counts.shape == (6,) for line in lines)
    assert np.allclose([line.y_um for line in lines], frame.y_positions_um())


def test_sim_scan_delivers_each_line_before_scanning_the_next():
    scanner = _scanner(_dark_world())
    frame = _frame(pixels_x=6, pixels_y=4, flyback_pixels=2)
    lines = scanner.scan_lines(frame)
    next(lines)
    assert scanner.samples_counted == frame.samples_per_line


def test_sim_scan_dwells_every_sample_on_the_bench_clock():
    world = _dark_world()
    scanner = _scanner(world)
    frame = _frame(x_center_um=0.5, pixels_x=6, pixels_y=4, flyback_pixels=2)
    scanner.park(frame.x_positions_um()[0], frame.y_positions_um()[0])  # no move left to do
    start = world.clock.now()
    list(scanner.scan_lines(frame))
    assert world.clock.now() - start == pytest.approx(4 * 8 * frame.dwell_s)


def test_sim_dark_scan_counts_dark_counts_only():
    frame = _frame(x_center_um=50.0, pixels_x=50, pixels_y=40, dwell_s=0.1)  # far from the ANP
    image = assemble_image(_scanner(_dark_world(), dark_count_rate_cps=100.0).scan_lines(frame),
                           frame)
    mean = 100.0 * 0.1
    assert abs(image.mean() - mean) <= 5 * math.sqrt(mean / image.size)


def test_sim_scan_outside_the_voltage_range_is_rejected_before_anything_moves():
    world = _dark_world()
    scanner = _scanner(world)
    beam_before = world.beam_position_um.copy()
    with pytest.raises(ScanLimitError):
        scanner.scan_lines(_frame(x_center_um=300.0))
    assert world.clock.now() == 0.0
    assert np.array_equal(world.beam_position_um, beam_before)
    assert (scanner.samples_counted, scanner.moves) == (0, 0)


def test_sim_scan_too_fast_for_the_galvos_is_rejected_before_anything_moves():
    world = _dark_world()
    scanner = _scanner(world)
    with pytest.raises(ScanLimitError):
        scanner.scan_lines(_frame(width_um=100.0, dwell_s=1e-5, flyback_pixels=0))
    assert world.clock.now() == 0.0
    assert (scanner.samples_counted, scanner.moves) == (0, 0)


def test_anp_spot_is_far_below_the_excitation_fwhm_as_lambda_over_2na_sqrt_s():
    world = _lit_world(1.0)
    slope = float(world.sample.table.slope(world.peak_intensity_kW_cm2()))
    predicted_nm = WAVELENGTH_NM / (2 * NA * math.sqrt(slope))  # docs/physics.md §6–§7: ≈ 70 nm
    # 10-nm pixels through the centre, 10 s (virtual) per pixel for ~1400 counts at the peak.
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=0.41, height_um=0.0,
                        pixels_x=41, pixels_y=1, dwell_s=10.0, flyback_pixels=5)
    line = next(_scanner(world).scan_lines(frame))
    x_nm, counts = line.x_um * 1e3, line.counts
    # The power law I^S holds in the core; the wings (lower intensity, lower S) are not
    # Gaussian, so fit the core ±100 nm.
    core = np.abs(x_nm) <= 100.0 + 1e-6
    (_, _, sigma_nm, _), _ = curve_fit(
        _gaussian, x_nm[core], counts[core], p0=(counts.max(), 0.0, 30.0, counts.min()),
        sigma=np.sqrt(np.maximum(counts[core], 1)))
    fwhm_nm = 2 * math.sqrt(2 * math.log(2)) * abs(sigma_nm)
    assert fwhm_nm < EXCITATION_FWHM_NM / 3
    assert fwhm_nm == pytest.approx(predicted_nm, rel=0.2)


def test_spot_sits_on_the_particle():
    world = _lit_world(1.2)
    frame = _frame(width_um=1.2, height_um=1.2, pixels_x=40, pixels_y=40, dwell_s=0.1)
    image = assemble_image(_scanner(world).scan_lines(frame), frame)
    x, y = _spot_centre_um(image, frame)
    assert (x, y) == pytest.approx((0.0, 0.0), abs=0.03)


def test_moving_the_particle_moves_the_spot():
    world = _lit_world(1.2)
    world.sample.particle_positions_um = np.array([[0.35, -0.25]])
    frame = _frame(width_um=1.2, height_um=1.2, pixels_x=40, pixels_y=40, dwell_s=0.1)
    image = assemble_image(_scanner(world).scan_lines(frame), frame)
    x, y = _spot_centre_um(image, frame)
    assert (x, y) == pytest.approx((0.35, -0.25), abs=0.03)


def test_two_particles_give_two_separate_spots():
    world = _lit_world(1.2)
    world.sample.particle_positions_um = np.array([[-0.3, 0.0], [0.3, 0.0]])
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=1.22, height_um=0.0,
                        pixels_x=61, pixels_y=1, dwell_s=0.5, flyback_pixels=5)
    line = next(_scanner(world).scan_lines(frame))
    left, right = line.x_um < 0, line.x_um > 0
    peaks = (line.x_um[left][np.argmax(line.counts[left])],
             line.x_um[right][np.argmax(line.counts[right])])
    assert peaks == pytest.approx((-0.3, 0.3), abs=0.03)
    middle = line.counts[np.argmin(np.abs(line.x_um))]
    assert middle < 0.1 * line.counts.max()


def test_bidirectional_scan_puts_the_spot_in_the_same_place():
    world = _lit_world(1.2)
    frame = _frame(width_um=1.2, height_um=1.2, pixels_x=40, pixels_y=40, dwell_s=0.1,
                   bidirectional=True)
    image = assemble_image(_scanner(world).scan_lines(frame), frame)
    assert _spot_centre_um(image, frame) == pytest.approx((0.0, 0.0), abs=0.03)


def test_park_moves_the_beam_and_stays():
    world = _dark_world()
    scanner = _scanner(world)
    scanner.park(1.5, -2.0)
    assert np.allclose(world.beam_position_um, (1.5, -2.0))
    assert scanner.position_um == pytest.approx((1.5, -2.0))


def test_park_on_the_particle_gives_its_full_signal():
    world = _lit_world(1.2)
    world.sample.particle_positions_um = np.array([[0.4, 0.1]])
    scanner = _scanner(world, dark_count_rate_cps=0.0)
    scanner.park(0.0, 0.0)
    off = scanner.pixel_counts(1.0)
    scanner.park(0.4, 0.1)
    assert scanner.pixel_counts(1.0) > 100 * max(off, 1)


def test_park_out_of_range_is_rejected_and_the_beam_stays():
    world = _dark_world()
    scanner = _scanner(world)
    with pytest.raises(ScanLimitError):
        scanner.park(0.0, 500.0)
    assert np.allclose(world.beam_position_um, (0.0, 0.0))


def test_sim_scan_ends_at_the_last_pixel():
    world = _dark_world()
    scanner = _scanner(world)
    frame = _frame()
    list(scanner.scan_lines(frame))
    assert scanner.position_um == pytest.approx((frame.x_positions_um()[-1],
                                                 frame.y_positions_um()[-1]))


# --- simulated faults ------------------------------------------------------------------------

def test_dropped_connection_raises_scanner_connection_error():
    scanner = _scanner(_dark_world())
    scanner.inject("drop_connection")
    with pytest.raises(ScannerConnectionError):
        list(scanner.scan_lines(_frame()))


def test_scanner_connection_error_is_a_connection_reset():
    scanner = _scanner(_dark_world())
    scanner.inject("drop_connection")
    with pytest.raises(ConnectionResetError):
        scanner.park(1.0, 1.0)


def test_stalled_clock_raises_scanner_timeout_error():
    scanner = _scanner(_dark_world())
    scanner.inject("stop_answering")
    with pytest.raises(ScannerTimeoutError):
        list(scanner.scan_lines(_frame()))


def test_fault_mid_frame_keeps_the_lines_already_delivered():
    world = _dark_world()
    scanner = _scanner(world)
    frame = _frame(pixels_x=10, pixels_y=10, flyback_pixels=0, dwell_s=0.1)
    scanner.park(frame.x_positions_um()[0], frame.y_positions_um()[0])
    scanner.schedule_fault("drop_connection", world.clock.now() + 3.5, world.clock)
    received = []
    with pytest.raises(ScannerConnectionError):
        for line in scanner.scan_lines(frame):
            received.append(line)
    assert [line.index for line in received] == [0, 1, 2, 3]


def test_cleared_faults_let_the_scanner_work_again():
    scanner = _scanner(_dark_world())
    scanner.inject("drop_connection")
    scanner.clear_faults()
    assert len(list(scanner.scan_lines(_frame()))) == 10


def test_unknown_fault_is_rejected():
    with pytest.raises(ValueError, match="no fault"):
        _scanner(_dark_world()).inject("explode")


# --- NI-DAQ backend without nidaqmx ----------------------------------------------------------

@pytest.fixture
def without_nidaqmx(monkeypatch):
    """Make `import nidaqmx` fail even if the package happens to be installed."""
    monkeypatch.setitem(sys.modules, "nidaqmx", None)


def test_importing_the_galvo_module_does_not_need_nidaqmx(without_nidaqmx, monkeypatch):
    monkeypatch.delitem(sys.modules, "drivers.scanning.nidaq_galvo", raising=False)
    module = importlib.import_module("drivers.scanning.nidaq_galvo")
    assert hasattr(module, "NIDAQGalvoScanner")


def test_nidaq_scanner_without_nidaqmx_names_pip_install_nidaqmx(without_nidaqmx):
    from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner

    with pytest.raises(BackendNotInstalledError) as error:
        NIDAQGalvoScanner("Dev1", calibration=CAL)
    assert "pip install nidaqmx" in str(error.value)


# --- NI-DAQ backend against a fake nidaqmx ---------------------------------------------------

class FakeDaq:
    """Records what the backend does with nidaqmx; the counter sees `photons(k)` photons
    while AO sample k is out, starting from a register value just below the 32-bit wrap."""

    def __init__(self, start_count: int = 2**32 - 50) -> None:
        self.tasks: list[FakeTask] = []
        self.events: list[tuple[str, int]] = []
        self.start_count = start_count
        self.read_error: Exception | None = None

    @staticmethod
    def photons(k: np.ndarray) -> np.ndarray:
        return (k * 7) % 13 + 1

    def latches(self, first: int, size: int) -> np.ndarray:
        k = np.arange(first, first + size)
        before = np.array([self.photons(np.arange(i)).sum() for i in k], dtype=np.int64)
        return ((self.start_count + before) % 2**32).astype(np.uint32)


class FakeTask:
    def __init__(self, daq: FakeDaq) -> None:
        self.daq = daq
        self.id = len(daq.tasks)
        daq.tasks.append(self)
        self.ao = None
        self.ci = None
        self.ci_channel = SimpleNamespace(ci_count_edges_term=None)
        self.clock = None
        self.written = None
        self.started = False
        self.stopped = False
        self.closed = False
        self.read_so_far = 0
        self.ao_channels = SimpleNamespace(add_ao_voltage_chan=self._add_ao)
        self.ci_channels = SimpleNamespace(add_ci_count_edges_chan=self._add_ci)
        self.timing = SimpleNamespace(cfg_samp_clk_timing=self._timing, samp_clk_rate=None)
        self.out_stream = SimpleNamespace(task=self, total_samp_per_chan_generated=0)
        self.in_stream = SimpleNamespace(task=self)

    def _add_ao(self, channels, **kwargs):
        self.ao = (channels, kwargs)

    def _add_ci(self, counter, **kwargs):
        self.ci = (counter, kwargs)
        return self.ci_channel

    def _timing(self, rate, **kwargs):
        self.clock = (rate, kwargs)
        self.timing.samp_clk_rate = rate

    def start(self):
        self.started = True
        self.daq.events.append(("start", self.id))

    def stop(self):
        self.stopped = True

    def wait_until_done(self, timeout):
        if self.written is not None:
            self.out_stream.total_samp_per_chan_generated = self.written.shape[1]

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class FakeDaqError(Exception):
    def __init__(self, message, error_code):
        super().__init__(message)
        self.error_code = error_code


@pytest.fixture
def fake_daq(monkeypatch) -> FakeDaq:
    daq = FakeDaq()
    nidaqmx = types.ModuleType("nidaqmx")
    nidaqmx.Task = lambda: FakeTask(daq)
    constants = types.ModuleType("nidaqmx.constants")
    constants.AcquisitionType = SimpleNamespace(FINITE="FINITE", CONTINUOUS="CONTINUOUS")
    constants.Edge = SimpleNamespace(RISING="RISING", FALLING="FALLING")
    constants.CountDirection = SimpleNamespace(COUNT_UP="COUNT_UP")
    errors = types.ModuleType("nidaqmx.errors")
    errors.DaqError = FakeDaqError
    writers = types.ModuleType("nidaqmx.stream_writers")
    readers = types.ModuleType("nidaqmx.stream_readers")

    class AnalogMultiChannelWriter:
        def __init__(self, out_stream):
            self.task = out_stream.task

        def write_many_sample(self, data, timeout=10.0):
            assert data.ndim == 2 and data.shape[0] == 2
            self.task.written = np.array(data)
            daq.events.append(("write", self.task.id))
            return data.shape[1]

    class CounterReader:
        def __init__(self, in_stream):
            self.task = in_stream.task

        def read_many_sample_uint32(self, data, number_of_samples_per_channel, timeout=10.0):
            if daq.read_error is not None:
                raise daq.read_error
            ao_running = any(t.started and t.written is not None for t in daq.tasks)
            assert self.task.started and ao_running, "read before both tasks were started"
            assert data.dtype == np.uint32 and data.shape == (number_of_samples_per_channel,)
            data[:] = daq.latches(self.task.read_so_far, number_of_samples_per_channel)
            self.task.read_so_far += number_of_samples_per_channel
            return number_of_samples_per_channel

    writers.AnalogMultiChannelWriter = AnalogMultiChannelWriter
    readers.CounterReader = CounterReader
    nidaqmx.constants, nidaqmx.errors = constants, errors
    nidaqmx.stream_writers, nidaqmx.stream_readers = writers, readers
    for name, module in (("nidaqmx", nidaqmx), ("nidaqmx.constants", constants),
                         ("nidaqmx.errors", errors), ("nidaqmx.stream_writers", writers),
                         ("nidaqmx.stream_readers", readers)):
        monkeypatch.setitem(sys.modules, name, module)
    return daq


def _nidaq_scanner():
    from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner

    return NIDAQGalvoScanner("Dev1", calibration=CAL, x_channel="ao0", y_channel="ao1",
                             counter="ctr0", photon_terminal="PFI8")


def _scan_tasks(daq: FakeDaq) -> tuple[FakeTask, FakeTask]:
    ci = next(t for t in daq.tasks if t.ci is not None)
    ao = next(t for t in daq.tasks if t.id == ci.id - 1)
    return ao, ci


NI_FRAME = _frame(pixels_x=5, pixels_y=3, flyback_pixels=2, dwell_s=1e-3)


def test_nidaq_scanner_is_a_scanning_counter(fake_daq):
    assert isinstance(_nidaq_scanner(), ScanningCounter)


def test_nidaq_counter_is_clocked_by_the_ao_sample_clock(fake_daq):
    list(_nidaq_scanner().scan_lines(NI_FRAME))
    ao, ci = _scan_tasks(fake_daq)
    rate, timing = ci.clock
    assert timing["source"] == "/Dev1/ao/SampleClock"
    assert timing["sample_mode"] == "FINITE"
    assert timing["samps_per_chan"] == NI_FRAME.n_samples
    assert rate == pytest.approx(1e3)


def test_nidaq_ao_and_counter_channels_follow_the_config(fake_daq):
    list(_nidaq_scanner().scan_lines(NI_FRAME))
    ao, ci = _scan_tasks(fake_daq)
    channels, limits = ao.ao
    assert [c.strip() for c in channels.split(",")] == ["Dev1/ao0", "Dev1/ao1"]
    assert (limits["min_val"], limits["max_val"]) == (-10.0, 10.0)
    assert ao.clock[0] == pytest.approx(1e3)
    assert ao.clock[1]["samps_per_chan"] == NI_FRAME.n_samples
    assert ci.ci[0] == "Dev1/ctr0"
    assert ci.ci[1]["edge"] == "RISING" and ci.ci[1]["initial_count"] == 0
    assert ci.ci_channel.ci_count_edges_term == "/Dev1/PFI8"


def test_nidaq_waveform_is_written_before_the_counter_then_the_ao_start(fake_daq):
    list(_nidaq_scanner().scan_lines(NI_FRAME))
    ao, ci = _scan_tasks(fake_daq)
    events = fake_daq.events
    assert events.index(("write", ao.id)) < events.index(("start", ci.id)) < \
        events.index(("start", ao.id))


def test_nidaq_writes_the_checked_raster_waveform(fake_daq):
    list(_nidaq_scanner().scan_lines(NI_FRAME))
    ao, _ = _scan_tasks(fake_daq)
    assert np.array_equal(ao.written, raster_waveform(NI_FRAME, CAL).volts)


def test_nidaq_counts_are_per_pixel_with_flyback_dropped_across_the_wrap(fake_daq):
    lines = list(_nidaq_scanner().scan_lines(NI_FRAME))
    per_sample = FakeDaq.photons(np.arange(NI_FRAME.n_samples - 1))
    for line in lines:
        start = line.index * NI_FRAME.samples_per_line + NI_FRAME.flyback_pixels
        assert line.counts.tolist() == per_sample[start:start + NI_FRAME.pixels_x].tolist()


def test_nidaq_moves_to_the_frame_start_within_the_slew_limit_first(fake_daq):
    list(_nidaq_scanner().scan_lines(NI_FRAME))
    move = fake_daq.tasks[0]
    assert move.ci is None
    assert np.allclose(move.written[:, -1], raster_waveform(NI_FRAME, CAL).volts[:, 0])
    CAL.check_waveform(move.written, move.clock[0], start_volts=(0.0, 0.0))


def test_nidaq_scan_beyond_the_limits_creates_no_task(fake_daq):
    scanner = _nidaq_scanner()
    with pytest.raises(ScanLimitError):
        scanner.scan_lines(_frame(x_center_um=300.0))
    with pytest.raises(ScanLimitError):
        scanner.scan_lines(_frame(width_um=100.0, dwell_s=1e-5, flyback_pixels=0))
    assert fake_daq.tasks == []


def test_nidaq_park_out_of_range_creates_no_task(fake_daq):
    with pytest.raises(ScanLimitError):
        _nidaq_scanner().park(0.0, 500.0)
    assert fake_daq.tasks == []


def test_nidaq_park_writes_a_ramp_ending_on_the_target(fake_daq):
    scanner = _nidaq_scanner()
    scanner.park(20.0, -10.0)
    (task,) = fake_daq.tasks
    assert np.allclose(CAL.to_um(task.written[:, -1]), (20.0, -10.0))
    CAL.check_waveform(task.written, task.clock[0], start_volts=(0.0, 0.0))
    assert scanner.position_um == pytest.approx((20.0, -10.0))


def test_nidaq_breaking_out_of_a_scan_stops_and_closes_both_tasks(fake_daq):
    lines = _nidaq_scanner().scan_lines(NI_FRAME)
    next(lines)
    lines.close()
    ao, ci = _scan_tasks(fake_daq)
    assert ao.stopped and ci.stopped and ao.closed and ci.closed


def test_nidaq_read_timeout_raises_scanner_timeout_error(fake_daq):
    fake_daq.read_error = FakeDaqError("Some or all of the samples requested have not yet "
                                       "been acquired.", -200284)
    with pytest.raises(ScannerTimeoutError):
        list(_nidaq_scanner().scan_lines(NI_FRAME))


def test_finite_dwell_near_threshold_streaks_the_spot_along_the_scan():
    """docs/physics.md §6: near threshold the rise time (~0.2 s) is far longer than a 1 ms dwell, so
    the emission lags the beam: on the noise-free signal, a forward pass puts the spot after
    the particle and a backward pass before it; steady state per pixel puts both on it."""
    world = _lit_world(1.5)
    x_um = np.linspace(-0.6, 0.6, 121)

    def signal_peak(finite_dwell: bool, positions: np.ndarray) -> float:
        engine = _scanner(world, finite_dwell=finite_dwell).engine
        engine.start_frame(np.stack([positions, np.zeros_like(positions)]), 1e-3,
                           world.clock.now())
        signal = engine.signal_photons(0, len(positions))
        return float(positions[int(np.argmax(signal))])

    forward, backward = signal_peak(True, x_um), signal_peak(True, x_um[::-1])
    assert forward > 0.02 and backward < -0.02  # streaked along each pass (µm)
    assert abs(signal_peak(False, x_um)) < 0.011 and abs(signal_peak(False, x_um[::-1])) < 0.011


@pytest.mark.parametrize("code", [-200284, -200560, -200474])
def test_every_daqmx_timeout_code_is_a_scanner_timeout(code):
    """The scanner translates with the drivers' one table of DAQmx timeout codes (-200474,
    'wait timed out', was missing from a copy of it)."""
    from types import SimpleNamespace

    from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner

    class FakeDaqError(Exception):
        error_code = code

    with pytest.raises(ScannerTimeoutError, match=str(code)):
        NIDAQGalvoScanner._raise_translated(SimpleNamespace(device="Dev1"), FakeDaqError(),
                                            "scanning line 3")
