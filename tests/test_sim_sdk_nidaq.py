"""The real NI-DAQ drivers (photon counter, galvo scanner) over the simulated nidaqmx.

The driver objects here are the classes a lab runs; only their `sdk` is simulated
(`sim_devices.sdk`), on a card wired to the twins that keep the physics. The physics checks
mirror the twins' own tests (test_sim_counter.py, test_scanning.py), so a driver that misuses
the SDK (wrong terminal, wrong clock, off-by-one latches) shows up as wrong physics.
"""

from __future__ import annotations

import numpy as np
import pytest

from drivers.scanning.base import ScannerConnectionError

from drivers.errors import InstrumentConnectionError, InstrumentTimeoutError

from drivers.counters.nidaq import NIDAQPhotonCounter
from drivers.scanning import RasterFrame, ScannerTimeoutError, assemble_image
from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner
from instrument_data.galvo import GalvoCalibration
from sim_devices import sdk
from sim_devices.clock import VirtualClock
from sim_devices.instruments.galvo_scanner import SimGalvoScanner
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.photon_counter import SimPhotonCounter
from sim_devices.sdk.nidaqmx import SimDaqCard, SimulatedNIDAQmx
from sim_devices.sdk.nidaqmx.errors import DaqError
from sim_devices.world import Detection, SimWorld

CAL = GalvoCalibration(volts_per_degree=0.8, um_per_degree=17.45, max_slew_V_per_ms=15.7)
DEAD_TIME_S = 22e-9


def assert_real_driver(driver: object, cls: type) -> None:
    """The object under test is the lab's driver class, not a twin standing in for it."""
    assert type(driver) is cls
    assert not any(c.__module__.startswith("sim_devices") for c in type(driver).__mro__)


def _world(power_W: float = 0.0, *, collection_efficiency: float = 0.15,
           seed: int = 5) -> SimWorld:
    clock = VirtualClock()
    world = SimWorld(clock=clock, detection=Detection(collection_efficiency=collection_efficiency),
                     seed=seed)
    if power_W:
        laser = SimIPGYLR(clock)
        world.attach_source("pump_1064", laser)
        laser.handle(f"SPS {power_W}")
        laser.handle("EMON")
        clock.sleep(laser.startup_s + 0.1)
    return world


def _lit_scan_world(threshold_factor: float, seed: int = 11) -> SimWorld:
    """As in test_scanning.py: peak intensity at `threshold_factor` × the S_max intensity."""
    world = _world(1.0, seed=seed)
    kW_cm2_per_W = world.peak_intensity_kW_cm2()
    _, threshold_kW_cm2 = world.sample.table.s_max()
    world.sources["pump_1064"].handle(
        f"SPS {threshold_factor * threshold_kW_cm2 / kW_cm2_per_W:.9f}")
    return world


# --- counter ---------------------------------------------------------------------------------

def test_the_counter_role_is_the_real_nidaq_driver():
    counter = sdk.open_simulated("nidaq_counter", SimPhotonCounter(_world()), "Dev1/ctr0",
                                 input_terminal="PFI8", gate_counter="Dev1/ctr1")
    assert_real_driver(counter, NIDAQPhotonCounter)


def test_driver_counts_the_world_s_photon_rate_through_the_dead_time():
    world = _world(0.5)
    twin = SimPhotonCounter(world, dark_count_rate_cps=25.0, dead_time_s=DEAD_TIME_S)
    counter = sdk.nidaq_counter(twin)
    signal = world.detected_photon_rate_cps()
    assert signal > 1e3
    gate_s = 0.01
    counts = np.array([counter.count(gate_s) for _ in range(300)])
    true_rate = signal + 25.0
    expected = true_rate / (1 + true_rate * DEAD_TIME_S) * gate_s
    assert abs(counts.mean() - expected) <= 5 * np.sqrt(expected / counts.size)


def test_one_gate_takes_its_gate_time_on_the_bench_clock():
    world = _world(0.5)
    counter = sdk.nidaq_counter(SimPhotonCounter(world))
    before = world.clock.now()
    counter.count(1.0)
    assert world.clock.now() - before == pytest.approx(1.0, abs=1e-5)  # + the µs edges


def test_dark_world_counts_dark_counts_only():
    counter = sdk.nidaq_counter(SimPhotonCounter(_world(seed=3), dark_count_rate_cps=100.0))
    counts = [counter.count(1.0) for _ in range(20)]
    assert np.mean(counts) == pytest.approx(100.0, rel=0.15)


def test_detector_on_another_terminal_counts_nothing():
    """The card counts the terminal the driver names: a mis-cabled detector gives 0."""
    world = _world(0.5)
    card = SimDaqCard(world.clock, "Dev1")
    card.wire_photon_counter("PFI9", SimPhotonCounter(world))
    counter = NIDAQPhotonCounter("Dev1/ctr0", input_terminal="PFI8",
                                 sdk=SimulatedNIDAQmx(card))
    assert counter.count(0.1) == 0


def test_a_counter_the_card_does_not_have_is_refused_with_its_daqmx_code():
    counter = sdk.nidaq_counter(SimPhotonCounter(_world()), "Dev1/ctr0",
                                gate_counter="Dev1/ctr7")
    with pytest.raises(DaqError) as error:
        counter.count(0.1)
    assert error.value.error_code == -200170


def test_dropped_card_raises_the_daqmx_device_error():
    twin = SimPhotonCounter(_world(0.5))
    counter = sdk.nidaq_counter(twin)
    twin.inject("drop_connection")
    with pytest.raises(InstrumentConnectionError) as error:
        counter.count(0.1)
    assert error.value.__cause__.error_code == -201003


def test_hung_gate_times_out_after_the_driver_s_timeout():
    world = _world(0.5)
    twin = SimPhotonCounter(world)
    counter = sdk.nidaq_counter(twin)
    twin.inject("stop_answering")
    before = world.clock.now()
    with pytest.raises(InstrumentTimeoutError) as error:
        counter.count(0.5)
    assert error.value.__cause__.error_code == -200560
    assert world.clock.now() - before == pytest.approx(0.5 + 10.0)  # the driver's timeout


def test_flooded_detector_saturates_at_the_dead_time_limit():
    twin = SimPhotonCounter(_world(0.5), dead_time_s=DEAD_TIME_S)
    counter = sdk.nidaq_counter(twin)
    twin.inject("flood")
    rate = 5e7 / (1 + 5e7 * DEAD_TIME_S)
    assert counter.count(0.01) == pytest.approx(rate * 0.01, rel=0.01)


# --- galvo scanner -----------------------------------------------------------------------------

def _frame(**changes) -> RasterFrame:
    base = dict(x_center_um=0.0, y_center_um=0.0, width_um=1.2, height_um=1.2, pixels_x=40,
                pixels_y=40, dwell_s=0.1, flyback_pixels=4)
    base.update(changes)
    return RasterFrame(**base)


def _spot_centre_um(image: np.ndarray, frame: RasterFrame) -> tuple[float, float]:
    signal = image - np.median(image)
    mask = signal >= 0.5 * signal.max()
    ys, xs = np.nonzero(mask)
    weights = signal[ys, xs]
    return (float(np.average(frame.x_positions_um()[xs], weights=weights)),
            float(np.average(frame.y_positions_um()[ys], weights=weights)))


def _galvo(world: SimWorld, **twin_kwargs) -> tuple[NIDAQGalvoScanner, SimGalvoScanner]:
    twin_kwargs.setdefault("finite_dwell", False)  # as the twin's image tests
    twin = SimGalvoScanner(world, calibration=CAL, **twin_kwargs)
    return sdk.open_simulated("nidaq_galvo", twin, "Dev1", calibration=CAL), twin


def test_the_scanner_role_is_the_real_nidaq_driver():
    scanner, _ = _galvo(_world())
    assert_real_driver(scanner, NIDAQGalvoScanner)


def test_frame_puts_the_spot_on_the_particle():
    world = _lit_scan_world(1.2)
    world.sample.particle_positions_um = np.array([[0.35, -0.25]])
    scanner, _ = _galvo(world)
    frame = _frame()
    image = assemble_image(scanner.scan_lines(frame), frame)
    assert _spot_centre_um(image, frame) == pytest.approx((0.35, -0.25), abs=0.03)


def test_bidirectional_frame_puts_the_spot_in_the_same_place():
    world = _lit_scan_world(1.2)
    scanner, _ = _galvo(world)
    frame = _frame(bidirectional=True)
    image = assemble_image(scanner.scan_lines(frame), frame)
    assert _spot_centre_um(image, frame) == pytest.approx((0.0, 0.0), abs=0.03)


def test_line_counts_match_the_twin_s_own_scan():
    """Same world, same line: the driver over the SDK and the twin's own scan agree within
    Poisson noise pixel by pixel (no sample shifted by the latching)."""
    frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=1.22, height_um=0.0,
                        pixels_x=61, pixels_y=1, dwell_s=0.5, flyback_pixels=5)
    via_driver = next(_galvo(_lit_scan_world(1.2, seed=1))[0].scan_lines(frame)).counts
    twin = SimGalvoScanner(_lit_scan_world(1.2, seed=2), calibration=CAL, finite_dwell=False)
    via_twin = next(twin.scan_lines(frame)).counts
    assert int(np.argmax(via_driver)) == int(np.argmax(via_twin))
    noise = np.sqrt(np.maximum(via_twin, 1))
    assert np.all(np.abs(via_driver - via_twin) <= 6 * noise + 3)


def test_frame_takes_its_samples_on_the_bench_clock_and_ends_at_the_last_pixel():
    world = _lit_scan_world(1.0)
    scanner, twin = _galvo(world)
    frame = _frame(pixels_x=10, pixels_y=5, dwell_s=1e-3)
    lines = list(scanner.scan_lines(frame))
    assert [line.index for line in lines] == list(range(5))
    assert twin.samples_counted == frame.n_samples
    assert np.allclose(world.beam_position_um, (frame.x_positions_um()[-1],
                                                frame.y_positions_um()[-1]))
    assert scanner.position_um == pytest.approx(tuple(world.beam_position_um))


def test_park_moves_the_twin_s_beam():
    world = _world()
    scanner, _ = _galvo(world)
    scanner.park(1.5, -2.0)
    assert np.allclose(world.beam_position_um, (1.5, -2.0))


def test_stalled_sample_clock_raises_the_driver_s_timeout():
    world = _lit_scan_world(1.0)
    scanner, twin = _galvo(world)
    lines = scanner.scan_lines(_frame(pixels_x=10, pixels_y=5, dwell_s=1e-3))
    next(lines)
    twin.inject("stop_answering")
    with pytest.raises(ScannerTimeoutError, match="-200284"):
        next(lines)


def test_dropped_card_mid_frame_raises_the_daqmx_device_error():
    world = _lit_scan_world(1.0)
    scanner, twin = _galvo(world)
    frame = _frame(pixels_x=10, pixels_y=10, dwell_s=1e-2)
    twin.schedule_fault("drop_connection", world.clock.now() + 0.5, world.clock)
    received = []
    with pytest.raises(ScannerConnectionError) as error:
        for line in scanner.scan_lines(frame):
            received.append(line)
    assert error.value.__cause__.error_code == -201003
    assert 0 < len(received) < frame.pixels_y


def test_counter_clocked_by_nothing_times_out():
    """A counter that waits for a sample clock nobody generates never gets its samples."""
    world = _world()
    nidaqmx = SimulatedNIDAQmx(SimDaqCard(world.clock))
    from sim_devices.sdk.nidaqmx.stream_readers import CounterReader

    with nidaqmx.Task() as ci:
        ci.ci_channels.add_ci_count_edges_chan("Dev1/ctr0")
        ci.timing.cfg_samp_clk_timing(1000.0, source="/Dev1/ao/SampleClock", samps_per_chan=10)
        ci.start()
        with pytest.raises(DaqError) as error:
            CounterReader(ci.in_stream).read_many_sample_uint32(
                np.zeros(10, dtype=np.uint32), number_of_samples_per_channel=10, timeout=2.0)
    assert error.value.error_code == -200284
    assert world.clock.now() == pytest.approx(2.0)


def test_sample_rate_is_coerced_to_the_card_timebase_and_the_driver_uses_it():
    world = _lit_scan_world(1.0)
    scanner, _ = _galvo(world)
    frame = _frame(pixels_x=8, pixels_y=2, dwell_s=3.3333333e-6 * 7, width_um=0.01,
                   height_um=0.01)
    line = next(scanner.scan_lines(frame))
    assert 1e8 * line.dwell_s == pytest.approx(round(1e8 * line.dwell_s), abs=1e-6)
    assert line.dwell_s != frame.dwell_s  # 2333.33 ticks of 10 ns cannot be made
    assert line.dwell_s == pytest.approx(frame.dwell_s, rel=1e-3)
