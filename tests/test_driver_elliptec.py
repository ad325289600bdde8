"""Thorlabs Elliptec ELL14 attenuator: exact exchanges, the angle ↔ transmission calibration,
then the twin in the simulated world (laser → rotating half-wave plate + polarizer → meter).

`expected_protocol` pins the bytes on the wire without terminations. Every driver reads `in`
at connection, so every exchange list starts with an `in` pair.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.attenuators.calibration import (
    HalfWavePlateAttenuator,
    TransmissionOutOfRangeError,
    fit_calibration,
)
from drivers.attenuators.thorlabs_elliptec import (
    ElliptecCommandError,
    ElliptecStatus,
    MotionError,
    ThorlabsElliptec,
    decode_position,
    encode_position,
)
from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentResponseError,
    InstrumentTimeoutError,
)
from drivers.lasers.ipg_ylr import IPGYLR
from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100
from sim_devices.clock import VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.thorlabs_elliptec import ElliptecFraming, SimThorlabsElliptec
from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
from sim_devices.transport import InProcessAdapter
from sim_devices.world import SimWorld

#: An ELL14 as seen on public hardware logs: travel 0x168 = 360°, 0x23000 = 143360 pulses.
INFO = ("0in", "0IN0E1140051720231701016800023000")
#: The same module with another pulse count (some sources quote 262144 = 0x40000 per turn).
INFO_262144 = ("0in", "0IN0E1140051720231701016800040000")


# --- exact exchanges: identity ------------------------------------------------------------------

def test_info_is_read_with_in_at_connection():
    with expected_protocol(ThorlabsElliptec, [INFO]) as mount:
        info = mount.info
    assert (info.model, info.serial_number, info.year) == ("ELL14", "11400517", 2023)
    assert (info.firmware, info.hardware) == ("17", "01")
    assert (info.travel, info.pulses_per_unit) == (360, 143360)


def test_pulses_per_degree_are_the_in_pulses_over_the_travel():
    with expected_protocol(ThorlabsElliptec, [INFO]) as mount:
        assert mount.pulses_per_deg == pytest.approx(143360 / 360)


def test_identity_names_model_serial_firmware_and_address():
    with expected_protocol(ThorlabsElliptec, [INFO]) as mount:
        assert mount.identity == ("Thorlabs ELL14 rotation mount, serial 11400517, "
                                  "firmware 17, address 0")


def test_address_prefixes_every_command_and_is_checked_in_every_reply():
    with expected_protocol(ThorlabsElliptec, [
        ("Ain", "AIN0E1140051720231701016800023000"), ("Agp", "APO00004600"),
    ], address="a") as mount:
        assert mount.angle_deg == pytest.approx(45.0)


def test_integer_address_is_the_hex_digit():
    with expected_protocol(ThorlabsElliptec, [("Bin", "BIN0E1140051720231701016800023000")],
                           address=11) as mount:
        assert mount.address == "B"


@pytest.mark.parametrize("address", ["G", "00", "", 16, -1, True])
def test_invalid_bus_address_is_rejected_before_anything_is_sent(address):
    with pytest.raises(ValueError, match="not one hex digit"):
        with expected_protocol(ThorlabsElliptec, [], address=address):
            pass


def test_a_module_that_is_not_a_rotation_mount_is_refused():
    ell20 = ("0in", "0IN141140000120241701003C00000400")  # 60 mm linear stage, 1024 pulses
    with pytest.raises(InstrumentCommandError, match="360° rotation mounts"):
        with expected_protocol(ThorlabsElliptec, [ell20]):
            pass


def test_truncated_info_reply_raises_response_error():
    with pytest.raises(InstrumentResponseError, match="IN reply"):
        with expected_protocol(ThorlabsElliptec, [("0in", "0IN0E11400517")]):
            pass


# --- exact exchanges: position ------------------------------------------------------------------

def test_angle_is_read_with_gp_and_converted_with_the_pulses_from_in():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gp", "0PO00004600")]) as mount:
        assert mount.angle_deg == pytest.approx(45.0)  # 0x4600 = 17920 = 45 × 143360 / 360


def test_angle_conversion_follows_another_pulse_count_from_in():
    with expected_protocol(ThorlabsElliptec, [INFO_262144, ("0gp", "0PO00010000")]) as mount:
        assert mount.angle_deg == pytest.approx(90.0)  # 65536 of 262144 pulses


def test_negative_position_is_read_as_twos_complement():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gp", "0POFFFFBA00")]) as mount:
        assert mount.position_pulses == -17920


def test_negative_position_reads_as_an_angle_in_0_to_360():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gp", "0POFFFFBA00")]) as mount:
        assert mount.angle_deg == pytest.approx(315.0)


def test_angle_is_set_with_ma_and_eight_hex_digits_and_the_po_reply_is_consumed():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00008C00", "0PO00008C00")]) as mount:
        mount.angle_deg = 90


def test_setting_an_angle_uses_the_pulses_from_in():
    with expected_protocol(ThorlabsElliptec,
                           [INFO_262144, ("0ma00010000", "0PO00010000")]) as mount:
        mount.angle_deg = 90


def test_setting_an_angle_rounds_to_the_nearest_pulse():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00000F8E", "0PO00000F8E")]) as mount:
        mount.angle_deg = 10.0  # 3982.2 pulses


def test_an_angle_that_rounds_to_a_full_turn_is_sent_as_zero():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00000000", "0PO00000000")]) as mount:
        mount.angle_deg = 359.999


@pytest.mark.parametrize("angle", [-0.1, 360.0, 400.0, math.nan, math.inf, "90", None])
def test_angle_outside_0_to_360_is_rejected_without_sending(angle):
    with expected_protocol(ThorlabsElliptec, [INFO]) as mount:
        with pytest.raises(ValueError):
            mount.angle_deg = angle


def test_move_that_stops_away_from_the_target_raises_motion_error():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00008C00", "0PO00007000")]) as mount:
        with pytest.raises(MotionError, match="stopped at 72.000° instead of 90.000°"):
            mount.angle_deg = 90


def test_move_answered_with_status_ok_is_accepted():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00008C00", "0GS00")]) as mount:
        mount.angle_deg = 90


def test_move_answered_with_another_reply_raises_response_error():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00008C00", "0GV3C")]) as mount:
        with pytest.raises(InstrumentResponseError, match="unexpected reply"):
            mount.angle_deg = 90


def test_relative_move_is_sent_with_mr_in_twos_complement():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0mrFFFFF072", "0POFFFFF072")]) as mount:
        assert mount.move_relative(-10.0) == pytest.approx(350.0, abs=1e-3)


@pytest.mark.parametrize("delta", [360.5, -361.0, math.nan])
def test_relative_move_beyond_one_turn_is_rejected_without_sending(delta):
    with expected_protocol(ThorlabsElliptec, [INFO]) as mount:
        with pytest.raises(ValueError):
            mount.move_relative(delta)


def test_home_sends_ho0_and_returns_the_angle():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ho0", "0PO00000000")]) as mount:
        assert mount.home() == 0.0


def test_home_counter_clockwise_sends_ho1():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ho1", "0PO00000000")]) as mount:
        mount.home("ccw")


def test_home_in_an_unknown_direction_is_rejected_without_sending():
    with expected_protocol(ThorlabsElliptec, [INFO]) as mount:
        with pytest.raises(ValueError):
            mount.home("up")


def test_reply_from_another_address_raises_response_error():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gp", "1PO00000000")]) as mount:
        with pytest.raises(InstrumentResponseError, match="address 0"):
            _ = mount.angle_deg


def test_unreadable_position_raises_response_error():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gp", "0PO0000XY00")]) as mount:
        with pytest.raises(InstrumentResponseError):
            _ = mount.position_pulses


@pytest.mark.parametrize(("pulses", "text"), [(0, "00000000"), (17920, "00004600"),
                                               (-1, "FFFFFFFF"), (-3982, "FFFFF072"),
                                               (2**31 - 1, "7FFFFFFF"), (-2**31, "80000000")])
def test_positions_are_32_bit_twos_complement_both_ways(pulses, text):
    assert encode_position(pulses) == text
    assert decode_position(text) == pulses


# --- exact exchanges: status codes ----------------------------------------------------------------

def test_status_is_read_with_gs_and_decoded():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gs", "0GS00")]) as mount:
        assert mount.status is ElliptecStatus.OK


def test_reading_an_error_status_returns_it_without_raising():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gs", "0GS02")]) as mount:
        assert mount.status is ElliptecStatus.MECHANICAL_TIMEOUT


def test_check_status_passes_ok_and_raises_on_an_error_code():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gs", "0GS00"), ("0gs", "0GS0B")]) as mount:
        assert mount.check_status() is ElliptecStatus.OK
        with pytest.raises(MotionError, match="motor error"):
            mount.check_status()


STATUS_ERRORS = [
    ("01", ElliptecCommandError), ("02", MotionError), ("03", ElliptecCommandError),
    ("04", ElliptecCommandError), ("05", ElliptecCommandError), ("06", ElliptecCommandError),
    ("07", MotionError), ("08", MotionError), ("09", ElliptecCommandError),
    ("0A", MotionError), ("0B", MotionError), ("0C", ElliptecCommandError),
    ("0D", MotionError),
]


@pytest.mark.parametrize(("code", "error"), STATUS_ERRORS, ids=[c for c, _ in STATUS_ERRORS])
def test_each_status_code_answered_to_a_move_raises_its_exception(code, error):
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00008C00", f"0GS{code}")]) as mount:
        with pytest.raises(error) as caught:
            mount.angle_deg = 90
    assert caught.value.status == int(code, 16)
    assert f"GS{code}" in str(caught.value)


@pytest.mark.parametrize(("code", "error"), STATUS_ERRORS, ids=[c for c, _ in STATUS_ERRORS])
def test_each_status_code_answered_to_a_query_raises_its_exception(code, error):
    with expected_protocol(ThorlabsElliptec, [INFO, ("0gp", f"0GS{code}")]) as mount:
        with pytest.raises(error):
            _ = mount.position_pulses


def test_command_refusals_are_instrument_command_errors():
    assert issubclass(ElliptecCommandError, InstrumentCommandError)


def test_unknown_status_code_raises_response_error():
    with expected_protocol(ThorlabsElliptec, [INFO, ("0ma00008C00", "0GS2A")]) as mount:
        with pytest.raises(InstrumentResponseError, match="status"):
            mount.angle_deg = 90


# --- calibration (pure) ---------------------------------------------------------------------------

CAL = HalfWavePlateAttenuator(theta0_deg=20.0, t_max=0.9, t_min=2e-4)


def test_transmission_is_t_max_at_theta0_and_t_min_45_degrees_later():
    assert CAL.transmission(20.0) == pytest.approx(0.9)
    assert CAL.transmission(65.0) == pytest.approx(2e-4)


def test_transmission_is_halfway_at_22_5_degrees_from_theta0():
    assert CAL.transmission(42.5) == pytest.approx((0.9 + 2e-4) / 2)


def test_transmission_repeats_every_90_degrees():
    assert CAL.transmission(33.0 + 90.0) == pytest.approx(CAL.transmission(33.0))


@pytest.mark.parametrize("t", [0.9, 0.5, 0.1, 1e-2, 1e-3, 3e-4, 2e-4])
def test_angle_for_transmission_inverts_transmission(t):
    assert CAL.transmission(CAL.angle_for_transmission(t)) == pytest.approx(t, rel=1e-9)


def test_angle_for_transmission_stays_on_the_branch_from_theta0_to_45_degrees_later():
    angles = [CAL.angle_for_transmission(t) for t in np.geomspace(0.9, 2e-4, 20)]
    assert all(20.0 <= a <= 65.0 for a in angles)
    assert angles == sorted(angles)  # less light, further from θ0


def test_angle_for_transmission_wraps_into_0_to_360():
    cal = HalfWavePlateAttenuator(theta0_deg=340.0, t_max=1.0, t_min=1e-3)
    assert cal.angle_for_transmission(1e-3) == pytest.approx(25.0)


@pytest.mark.parametrize("t", [0.91, 1e-4, -0.1, math.nan, math.inf])
def test_transmission_outside_t_min_to_t_max_is_rejected(t):
    with pytest.raises(TransmissionOutOfRangeError):
        CAL.angle_for_transmission(t)


def test_transmission_out_of_range_error_is_a_value_error_naming_the_range():
    with pytest.raises(ValueError, match=r"\[0.0002, 0.9\]"):
        CAL.angle_for_transmission(0.95)


@pytest.mark.parametrize(("t_max", "t_min"), [(0.5, 0.5), (0.5, 0.6), (1.2, 0.1), (0.5, -0.1),
                                              (math.nan, 0.1)])
def test_impossible_calibration_is_rejected(t_max, t_min):
    with pytest.raises(ValueError, match="attenuator calibration"):
        HalfWavePlateAttenuator(theta0_deg=0.0, t_max=t_max, t_min=t_min)


def test_dynamic_range_is_t_max_over_t_min():
    assert CAL.dynamic_range == pytest.approx(4500.0)


def test_extinction_angle_is_45_degrees_after_theta0():
    assert CAL.extinction_angle_deg == pytest.approx(65.0)


def _synthetic_scan(cal, angles, power_W=1e-3):
    return [power_W * cal.transmission(a) for a in angles]


def test_fit_recovers_an_exact_curve():
    angles = np.arange(0.0, 180.0, 1.0)
    fit = fit_calibration(angles, _synthetic_scan(CAL, angles), input_power_W=1e-3)
    assert fit.attenuator.theta0_deg == pytest.approx(20.0, abs=1e-6)
    assert fit.attenuator.t_max == pytest.approx(0.9, rel=1e-6)
    assert fit.attenuator.t_min == pytest.approx(2e-4, rel=1e-4)


def test_fit_without_input_power_gives_transmissions_relative_to_the_maximum():
    angles = np.arange(0.0, 180.0, 1.0)
    fit = fit_calibration(angles, _synthetic_scan(CAL, angles))
    assert fit.attenuator.t_max == 1.0
    assert fit.attenuator.t_min == pytest.approx(2e-4 / 0.9, rel=1e-4)
    assert fit.power_max_W == pytest.approx(0.9e-3, rel=1e-6)


def test_fit_returns_theta0_within_0_to_90_degrees():
    cal = HalfWavePlateAttenuator(theta0_deg=170.0, t_max=0.8, t_min=1e-3)
    angles = np.arange(0.0, 180.0, 1.0)
    fit = fit_calibration(angles, _synthetic_scan(cal, angles))
    assert fit.attenuator.theta0_deg == pytest.approx(80.0, abs=1e-6)


def test_fit_rejects_a_scan_narrower_than_45_degrees():
    angles = np.arange(0.0, 40.0, 1.0)
    with pytest.raises(ValueError, match="at least 45°"):
        fit_calibration(angles, _synthetic_scan(CAL, angles))


def test_fit_rejects_an_input_power_below_the_transmitted_power():
    angles = np.arange(0.0, 180.0, 1.0)
    with pytest.raises(ValueError, match="exceeds 1"):
        fit_calibration(angles, _synthetic_scan(CAL, angles), input_power_W=0.5e-3)


# --- against the twin -----------------------------------------------------------------------------

@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def twin(clock):
    return SimThorlabsElliptec(clock, theta0_deg=20.0, t_max=0.9, t_min=2e-4)


@pytest.fixture
def mount(twin):
    return ThorlabsElliptec(InProcessAdapter(twin))


@pytest.fixture
def world(clock, twin):
    """Pump laser emitting 1 W, the attenuator in the beam path before the meter plane."""
    world = SimWorld(clock=clock, seed=11)
    laser_twin = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser_twin)
    world.add_to_beam_path(twin)
    laser = IPGYLR(InProcessAdapter(laser_twin))
    laser.power_setpoint_W = 1.0
    laser.enable_emission()
    clock.sleep(laser_twin.startup_s + 0.1)
    return world


def meter_power_W(world):
    ((_, power_W),) = world.beams_at_meter()
    return power_W


def test_twin_introduces_itself_as_an_ell14_with_143360_pulses_per_turn(mount):
    assert mount.info.model == "ELL14"
    assert mount.info.pulses_per_unit == 143360


def test_angle_round_trips_through_the_twin_to_the_pulse(mount, twin):
    mount.angle_deg = 123.4
    assert mount.angle_deg == pytest.approx(123.4, abs=0.5 / mount.pulses_per_deg)
    assert twin.angle_deg == pytest.approx(mount.angle_deg)


def test_a_move_advances_the_virtual_clock_by_overhead_plus_angle_over_speed(mount, twin, clock):
    before = clock.now()
    mount.angle_deg = 90.0
    assert clock.now() - before == pytest.approx(twin.move_overhead_s + 90.0 / twin.speed_deg_s,
                                                 rel=1e-4)


def test_home_brings_the_twin_back_to_zero(mount, twin):
    mount.angle_deg = 100.0
    assert mount.home() == 0.0
    assert twin.angle_deg == 0.0


def test_relative_moves_add_up(mount):
    mount.angle_deg = 10.0
    mount.move_relative(25.0)
    assert mount.angle_deg == pytest.approx(35.0, abs=0.01)


def test_rotating_scales_the_power_at_the_meter_by_the_calibrated_transmission(world, mount):
    for angle in (20.0, 42.5, 60.0, 64.0):
        mount.angle_deg = angle
        expected = 1.0 * world.optics.attenuation_to_meter * CAL.transmission(mount.angle_deg)
        assert meter_power_W(world) == pytest.approx(expected, rel=1e-6)


def test_rotating_scales_the_peak_intensity_at_the_sample_by_the_same_transmission(world, mount):
    mount.angle_deg = 20.0
    open_kW_cm2 = world.peak_intensity_kW_cm2()
    mount.angle_deg = 60.0
    ratio = world.peak_intensity_kW_cm2() / open_kW_cm2
    assert ratio == pytest.approx(CAL.transmission(mount.angle_deg) / CAL.transmission(20.0),
                                  rel=1e-6)


def test_a_fixed_laser_power_spans_three_decades_through_the_attenuator(world, mount):
    assert CAL.dynamic_range >= 1e3
    powers = []
    for t in np.geomspace(CAL.t_max, CAL.t_max / 1e3, 7):
        mount.angle_deg = CAL.angle_for_transmission(t)
        powers.append(meter_power_W(world))
        assert powers[-1] == pytest.approx(world.optics.attenuation_to_meter * t, rel=0.01)
    assert max(powers) / min(powers) >= 0.99e3


def test_fit_recovers_the_twin_calibration_from_a_noisy_power_meter_scan(clock, twin, mount):
    world = SimWorld(clock=clock, seed=5)
    laser_twin = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser_twin)
    laser = IPGYLR(InProcessAdapter(laser_twin))
    meter = ThorlabsPM100(InProcessAdapter(SimThorlabsPM100(world)))
    meter.wavelength_nm = 1064
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    clock.sleep(laser_twin.startup_s + 0.1)
    input_W = meter.power_W  # the beam without the attenuator
    world.add_to_beam_path(twin)

    def scan(angles):
        readings = []
        for angle in angles:
            mount.angle_deg = angle % 360.0
            readings.append((mount.angle_deg, meter.power_W))
        return readings

    # A coarse turn finds the extinction, a fine scan there pins T_min down, as a lab does.
    coarse = scan(np.arange(0.0, 180.0, 3.0))
    rough = fit_calibration(*zip(*coarse)).attenuator
    fine = scan(rough.extinction_angle_deg + np.arange(-1.5, 1.55, 0.1))
    fit = fit_calibration(*zip(*(coarse + fine)), input_power_W=input_W)
    assert fit.attenuator.theta0_deg == pytest.approx(20.0, abs=0.01)
    assert fit.attenuator.t_max == pytest.approx(0.9, rel=0.01)
    assert fit.attenuator.t_min == pytest.approx(2e-4, rel=0.1)


def test_transmission_off_the_design_wavelength_loses_extinction(clock):
    twin = SimThorlabsElliptec(clock, theta0_deg=20.0, initial_angle_deg=65.0,
                               design_wavelength_nm=1064.0)
    assert twin.transmission(1064.0) == pytest.approx(twin.t_min, rel=1e-3)
    assert twin.transmission(852.0) > 10 * twin.t_min


def test_twin_answers_an_unknown_command_with_gs03(twin):
    assert twin.handle("0zz") == "0GS03"


def test_twin_answers_a_target_beyond_one_turn_with_gs0c(twin):
    assert twin.handle("0ma00023000") == "0GS0C"


def test_twin_answers_a_malformed_position_with_gs04(twin):
    assert twin.handle("0maXYZ00000") == "0GS04"


def test_twin_latches_an_error_until_gs_reads_it(twin):
    twin.handle("0zz")
    assert twin.handle("0gs") == "0GS03"
    assert twin.handle("0gs") == "0GS00"


def test_commands_for_another_address_get_no_answer(twin):
    assert twin.handle("1gp") is None


def test_driver_for_an_address_nobody_answers_times_out(twin):
    with pytest.raises(InstrumentTimeoutError):
        ThorlabsElliptec(InProcessAdapter(twin), address="1")


def test_command_refused_by_the_twin_raises_command_error(mount):
    with pytest.raises(ElliptecCommandError) as caught:
        mount.ask("ma00023000")
    assert caught.value.status is ElliptecStatus.OUT_OF_RANGE


# --- faults -------------------------------------------------------------------------------------

def test_stalled_motor_raises_motion_error_with_mechanical_timeout(mount, twin):
    twin.inject("motor_stall")
    with pytest.raises(MotionError) as caught:
        mount.angle_deg = 90.0
    assert caught.value.status is ElliptecStatus.MECHANICAL_TIMEOUT


def test_stalled_motor_leaves_the_mount_and_the_transmission_where_they_were(mount, twin):
    mount.angle_deg = 30.0
    before = twin.transmission(1064.0)
    twin.inject("motor_stall")
    with pytest.raises(MotionError):
        mount.angle_deg = 60.0
    assert twin.transmission(1064.0) == before
    twin.clear_faults()
    assert mount.angle_deg == pytest.approx(30.0, abs=0.01)


def test_stall_error_is_reported_once_by_the_status_after_the_fault_clears(mount, twin):
    twin.inject("motor_stall")
    with pytest.raises(MotionError):
        mount.angle_deg = 60.0
    twin.clear_faults()
    assert mount.status is ElliptecStatus.MECHANICAL_TIMEOUT
    assert mount.status is ElliptecStatus.OK


def test_sensor_error_raises_motion_error(mount, twin):
    twin.inject("sensor_error")
    with pytest.raises(MotionError) as caught:
        mount.angle_deg = 90.0
    assert caught.value.status is ElliptecStatus.SENSOR_ERROR


@pytest.mark.parametrize(("fault", "error"), [
    ("drop_connection", InstrumentConnectionError),
    ("stop_answering", InstrumentTimeoutError),
    ("answer_garbage", InstrumentResponseError),
])
def test_common_faults_raise_their_specific_exception(mount, twin, fault, error):
    twin.inject(fault)
    with pytest.raises(error):
        _ = mount.angle_deg


def test_unknown_fault_names_the_known_ones(twin):
    with pytest.raises(ValueError, match="motor_stall"):
        twin.inject("meltdown")


# --- served: framing without a terminator -----------------------------------------------------

def test_framing_splits_commands_by_their_known_lengths():
    buffer = bytearray(b"0in0ma000046000gp0ma0000")
    assert ElliptecFraming().split(buffer) == ["0in", "0ma00004600", "0gp"]
    assert buffer == bytearray(b"0ma0000")  # incomplete: waits for the rest


def test_framing_skips_terminators_that_clients_add():
    assert ElliptecFraming().split(bytearray(b"0gp\r\n0gs\n")) == ["0gp", "0gs"]


def test_driver_reaches_a_served_twin_over_pyvisa_tcp(twin):
    from sim_devices.server import InstrumentServer

    with InstrumentServer() as server:
        served = server.add("attenuator", twin)
        mount = ThorlabsElliptec(served.visa_resource)
        try:
            mount.angle_deg = 45.0
            assert mount.angle_deg == pytest.approx(45.0, abs=0.01)
        finally:
            mount.adapter.close()
