"""Thorlabs CLD/ITC driver: exact SCPI exchanges (docs/protocols.md §2a), then behaviour against
SimThorlabsCLD on a virtual clock and a simulated world.

`expected_protocol` pins the messages without terminations. The constructor reads the current
limit, so every exchange list starts with INIT. Waits go to a list instead of sleeping.
"""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentResponseError,
    InstrumentTimeoutError,
    LaserFaultError,
    LaserInterlockError,
)
from drivers.lasers.base import CWLaser, missing_members
from drivers.lasers.ipg_ylr import IPGYLR
from drivers.lasers.thorlabs_cld import TECNotReadyError, ThorlabsCLD
from sim_devices.clock import VirtualClock
from sim_devices.instruments.thorlabs_cld import SimThorlabsCLD
from sim_devices.transport import InProcessAdapter
from sim_devices.world import SimWorld

INIT = [("SOUR:CURR:LIM:AMPL?", "2.500000E-01")]
NO_ERROR = ("SYST:ERR?", '+0,"No error"')
#: An 852 nm diode: 35 mA threshold, 0.8 W/A; 0.25 A limit -> 0.172 W at the limit.
CAL = {"threshold_current_A": 0.035, "slope_efficiency_W_A": 0.8}
#: Checks enable_emission makes before anything is switched, all passing.
CHECKS_OK = [
    ("OUTP:STAT?", "0"),
    ("OUTP:PROT:INTL:TRIP?", "0"),
    ("OUTP:PROT:KEYL:TRIP?", "0"),
    ("OUTP:PROT:OTEM:TRIP?", "0"),
    ("OUTP2:STAT?", "1"),
    ("SOUR2:TEMP:SPO?", "2.500000E+01"),
    ("MEAS:TEMP?", "2.501000E+01"),
]


def _cld(*exchanges, **kwargs):
    """expected_protocol for a controller whose limit is 0.25 A; waits are not slept."""
    kwargs.setdefault("wait", lambda seconds: None)
    return expected_protocol(ThorlabsCLD, INIT + list(exchanges), **kwargs)


def _setting(command):
    return [(command, None), NO_ERROR]


# --- construction ----------------------------------------------------------------------------

def test_init_reads_only_the_current_limit():
    with _cld() as laser:
        assert laser.current_range_A == (0.0, 0.25)


def test_max_power_defaults_to_the_calibrated_power_at_the_limit():
    with _cld(**CAL) as laser:
        assert laser.max_power_W == pytest.approx(0.8 * (0.25 - 0.035))


def test_explicit_max_power_is_kept():
    with _cld(max_power_W=0.1, **CAL) as laser:
        assert laser.max_power_W == 0.1


def test_without_calibration_max_power_is_zero():
    with _cld() as laser:
        assert laser.max_power_W == 0.0
        assert laser.calibrated is False


def test_half_a_calibration_is_refused():
    with pytest.raises(ValueError, match="both"):
        ThorlabsCLD("unused", threshold_current_A=0.03)


def test_inverted_tec_window_is_refused():
    with pytest.raises(ValueError, match="tec_window_C"):
        ThorlabsCLD("unused", tec_window_C=(30.0, 20.0))


def test_a_driver_satisfies_cw_laser_without_talking_to_the_instrument():
    with _cld(**CAL) as laser:  # expected_protocol fails on any unexpected message
        assert isinstance(laser, CWLaser)
        assert missing_members(laser, CWLaser) == []


def test_ipg_ylr_satisfies_cw_laser_too():
    with expected_protocol(IPGYLR, [], max_power_W=5) as laser:
        assert isinstance(laser, CWLaser)


def test_an_object_without_the_members_is_not_a_cw_laser():
    assert not isinstance(object(), CWLaser)
    assert "emission_ready" in missing_members(object(), CWLaser)


# --- identification and error queue ----------------------------------------------------------

def test_identity_from_a_cld_idn():
    with _cld(("*IDN?", "Thorlabs,CLD1015,M00123456,2.3.0")) as laser:
        assert laser.identity == "Thorlabs CLD1015 SN M00123456, firmware 2.3.0"


def test_identity_from_an_itc_idn_with_three_firmware_parts():
    with _cld(("*IDN?", "THORLABS,ITC4001,M00277475,1.4.0/2.0.3/1.6.0")) as laser:
        assert laser.identity == "THORLABS ITC4001 SN M00277475, firmware 1.4.0/2.0.3/1.6.0"


def test_check_errors_returns_empty_list_when_the_queue_is_empty():
    with _cld(NO_ERROR) as laser:
        assert laser.check_errors() == []


def test_check_errors_drains_the_queue_and_reports_every_entry():
    with _cld(("SYST:ERR?", '-221,"Settings conflict"'), ("SYST:ERR?", '-222,"Data out of range"'),
              NO_ERROR) as laser:
        with pytest.raises(InstrumentCommandError) as error:
            laser.check_errors()
    assert "-221" in str(error.value) and "-222" in str(error.value)


def test_unreadable_error_queue_reply_raises():
    with _cld(("SYST:ERR?", "garbage")) as laser:
        with pytest.raises(InstrumentResponseError, match="unreadable"):
            laser.check_errors()


# --- LD current setpoint and limit -----------------------------------------------------------

def test_current_setpoint_is_sent_then_the_error_queue_is_read():
    with _cld(*_setting("SOUR:CURR 0.1")) as laser:
        laser.current_setpoint_A = 0.1


def test_current_setpoint_is_read():
    with _cld(("SOUR:CURR?", "6.500000E-02")) as laser:
        assert laser.current_setpoint_A == pytest.approx(0.065)


@pytest.mark.parametrize("bad", [0.26, -0.001])
def test_current_setpoint_outside_zero_to_limit_is_rejected_without_sending(bad):
    with _cld() as laser:
        with pytest.raises(ValueError):
            laser.current_setpoint_A = bad


def test_current_setpoint_refused_by_the_controller_raises():
    with _cld(("SOUR:CURR 0.1", None), ("SYST:ERR?", '-222,"Data out of range"'),
              NO_ERROR) as laser:
        with pytest.raises(InstrumentCommandError, match="-222"):
            laser.current_setpoint_A = 0.1


def test_current_limit_is_read():
    with _cld(("SOUR:CURR:LIM:AMPL?", "2.000000E-01")) as laser:
        assert laser.current_limit_A == pytest.approx(0.2)


def test_reading_a_lower_limit_narrows_the_accepted_setpoints():
    with _cld(("SOUR:CURR:LIM:AMPL?", "1.000000E-01")) as laser:
        _ = laser.current_limit_A
        with pytest.raises(ValueError):
            laser.current_setpoint_A = 0.15


def test_current_limit_is_sent_then_the_error_queue_is_read():
    with _cld(*_setting("SOUR:CURR:LIM:AMPL 0.2")) as laser:
        laser.current_limit_A = 0.2
        assert laser.current_range_A == (0.0, 0.2)


def test_lowering_the_limit_rejects_setpoints_above_it_without_sending():
    with _cld(*_setting("SOUR:CURR:LIM:AMPL 0.1")) as laser:
        laser.current_limit_A = 0.1
        with pytest.raises(ValueError):
            laser.current_setpoint_A = 0.12


def test_current_limit_cannot_be_raised_above_the_limit_found_by_default():
    with _cld() as laser:
        with pytest.raises(ValueError):
            laser.current_limit_A = 0.3


def test_current_limit_up_to_the_diode_rating_is_accepted():
    with _cld(*_setting("SOUR:CURR:LIM:AMPL 0.4"), max_current_A=0.5) as laser:
        laser.current_limit_A = 0.4
        assert laser.current_range_A == (0.0, 0.4)


def test_current_limit_above_the_diode_rating_is_rejected_without_sending():
    with _cld(max_current_A=0.5) as laser:
        with pytest.raises(ValueError):
            laser.current_limit_A = 0.6


def test_a_controller_limit_above_the_diode_rating_caps_the_setpoints():
    with _cld(max_current_A=0.2) as laser:
        assert laser.current_range_A == (0.0, 0.2)
        with pytest.raises(ValueError):
            laser.current_setpoint_A = 0.21


# --- modes, modulation, TEC setpoint ---------------------------------------------------------

def test_operating_mode_is_set_in_any_letter_case():
    with _cld(*_setting("SOUR:FUNC:MODE CURR")) as laser:
        laser.operating_mode = "curr"


@pytest.mark.parametrize(("reply", "mode"), [("CURR", "CURR"), ("CURRENT", "CURR"),
                                              ("POW", "POW")])
def test_operating_mode_is_read_as_a_short_form(reply, mode):
    with _cld(("SOUR:FUNC:MODE?", reply)) as laser:
        assert laser.operating_mode == mode


def test_unknown_operating_mode_is_rejected_without_sending():
    with _cld() as laser:
        with pytest.raises(ValueError):
            laser.operating_mode = "VOLT"


def test_analog_modulation_on_and_off_are_sent_as_1_and_0():
    with _cld(*_setting("SOUR:AM:STAT 1"), *_setting("SOUR:AM:STAT 0")) as laser:
        laser.analog_modulation_enabled = True
        laser.analog_modulation_enabled = False


def test_analog_modulation_is_read_as_bool():
    with _cld(("SOUR:AM:STAT?", "1"), ("SOUR:AM:STAT?", "0")) as laser:
        assert laser.analog_modulation_enabled is True
        assert laser.analog_modulation_enabled is False


def test_analog_modulation_rejects_non_boolean_values_without_sending():
    with _cld() as laser:
        with pytest.raises(ValueError):
            laser.analog_modulation_enabled = 2


def test_tec_setpoint_is_sent_then_the_error_queue_is_read():
    with _cld(*_setting("SOUR2:TEMP:SPO 25")) as laser:
        laser.tec_setpoint_C = 25.0


def test_tec_setpoint_is_read():
    with _cld(("SOUR2:TEMP:SPO?", "2.500000E+01")) as laser:
        assert laser.tec_setpoint_C == 25.0


@pytest.mark.parametrize("bad", [250.0, 14.9, 35.1])
def test_tec_setpoint_outside_the_window_is_rejected_without_sending(bad):
    with _cld() as laser:
        with pytest.raises(ValueError):
            laser.tec_setpoint_C = bad


def test_a_narrower_tec_window_is_applied():
    with _cld(tec_window_C=(20.0, 30.0)) as laser:
        with pytest.raises(ValueError):
            laser.tec_setpoint_C = 31.0


# --- read-only states and measurements -------------------------------------------------------

@pytest.mark.parametrize(("name", "command"), [
    ("emission_enabled", "OUTP:STAT?"),
    ("tec_enabled", "OUTP2:STAT?"),
    ("interlock_tripped", "OUTP:PROT:INTL:TRIP?"),
    ("keylock_tripped", "OUTP:PROT:KEYL:TRIP?"),
    ("over_temperature_tripped", "OUTP:PROT:OTEM:TRIP?"),
])
def test_boolean_states_are_queried_and_read_as_bool(name, command):
    with _cld((command, "1"), (command, "0")) as laser:
        assert getattr(laser, name) is True
        assert getattr(laser, name) is False


def test_an_unreadable_protection_reply_raises_instead_of_reading_as_not_tripped():
    with _cld(("OUTP:PROT:INTL:TRIP?", "garbage")) as laser:
        with pytest.raises(InstrumentResponseError):
            _ = laser.interlock_tripped


@pytest.mark.parametrize(("name", "command", "reply", "value"), [
    ("ld_current_A", "MEAS:CURR?", "6.500000E-02", 0.065),
    ("ld_voltage_V", "MEAS:VOLT?", "1.330000E+00", 1.33),
    ("temperature_C", "MEAS:TEMP?", "2.499000E+01", 24.99),
    ("monitor_power_W", "MEAS:POW2?", "2.400000E-02", 0.024),
])
def test_measurements_are_read_in_si_units(name, command, reply, value):
    with _cld((command, reply)) as laser:
        assert getattr(laser, name) == pytest.approx(value)


def test_an_unreadable_measurement_raises():
    with _cld(("MEAS:TEMP?", "garbage")) as laser:
        with pytest.raises(InstrumentResponseError):
            _ = laser.temperature_C


# --- power through the calibration -----------------------------------------------------------

def test_power_setpoint_with_the_ld_off_sets_the_calibrated_current():
    # 0.1 W at 0.8 W/A above 35 mA -> 0.16 A
    with _cld(("OUTP:STAT?", "0"), *_setting("SOUR:CURR 0.16"), **CAL) as laser:
        laser.power_setpoint_W = 0.1


def test_zero_power_sets_zero_current_not_the_threshold():
    with _cld(("OUTP:STAT?", "0"), *_setting("SOUR:CURR 0"), **CAL) as laser:
        laser.power_setpoint_W = 0.0


def test_power_setpoint_while_emitting_ramps_the_current():
    with _cld(("OUTP:STAT?", "1"), ("SOUR:CURR?", "1.400000E-01"),
              *_setting("SOUR:CURR 0.15"), *_setting("SOUR:CURR 0.16"), **CAL) as laser:
        laser.power_setpoint_W = 0.1


def test_power_setpoint_is_read_from_the_current_setpoint():
    with _cld(("SOUR:CURR?", "1.600000E-01"), **CAL) as laser:
        assert laser.power_setpoint_W == pytest.approx(0.1)


def test_power_read_below_threshold_is_zero():
    with _cld(("SOUR:CURR?", "2.000000E-02"), **CAL) as laser:
        assert laser.power_setpoint_W == 0.0


@pytest.mark.parametrize("bad", [0.2, -0.01])
def test_power_outside_zero_to_max_power_is_rejected_without_sending(bad):
    with _cld(**CAL) as laser:
        with pytest.raises(ValueError):
            laser.power_setpoint_W = bad


def test_power_needing_a_current_above_the_limit_is_rejected_without_sending():
    with _cld(max_power_W=0.5, **CAL) as laser:
        with pytest.raises(ValueError, match="above the current limit"):
            laser.power_setpoint_W = 0.3


def test_power_without_calibration_raises_without_sending():
    with _cld() as laser:
        with pytest.raises(InstrumentCommandError, match="calibration"):
            laser.power_setpoint_W = 0.01


def test_current_for_power_and_back_round_trip():
    with _cld(**CAL) as laser:
        assert laser.power_for_current(laser.current_for_power(0.05)) == pytest.approx(0.05)


# --- current ramp ----------------------------------------------------------------------------

def test_ramp_goes_in_equal_steps_no_larger_than_max_step_with_a_dwell_after_each():
    waits = []
    with _cld(("SOUR:CURR?", "0.000000E+00"), *_setting("SOUR:CURR 0.01"),
              *_setting("SOUR:CURR 0.02"), *_setting("SOUR:CURR 0.03"), wait=waits.append,
              max_step_A=0.01, step_dwell_s=0.2) as laser:
        laser.ramp_current_to(0.03)
    assert waits == [0.2, 0.2, 0.2]


def test_ramp_splits_an_uneven_span_into_equal_steps():
    with _cld(("SOUR:CURR?", "1.000000E-01"), *_setting("SOUR:CURR 0.0925"),
              *_setting("SOUR:CURR 0.085"), max_step_A=0.01) as laser:
        laser.ramp_current_to(0.085)


def test_ramp_to_the_present_setpoint_sends_nothing_more():
    with _cld(("SOUR:CURR?", "1.000000E-01")) as laser:
        laser.ramp_current_to(0.1)


def test_ramp_target_above_the_limit_is_rejected_before_any_step():
    with _cld() as laser:
        with pytest.raises(ValueError):
            laser.ramp_current_to(0.3)


# --- switching on: checks before sending -----------------------------------------------------

def test_enable_emission_checks_then_switches_on_at_zero_and_ramps_to_the_setpoint():
    with _cld(*CHECKS_OK,
              ("SOUR:CURR?", "3.000000E-02"),
              ("SOUR:CURR:LIM:AMPL?", "2.500000E-01"),
              ("SOUR:FUNC:MODE?", "CURR"),
              *_setting("SOUR:CURR 0"),
              *_setting("OUTP:STAT ON"),
              *_setting("SOUR:CURR 0.01"), *_setting("SOUR:CURR 0.02"),
              *_setting("SOUR:CURR 0.03"),
              max_step_A=0.01) as laser:
        laser.enable_emission()


def test_enable_emission_switches_to_constant_current_mode_first():
    with _cld(*CHECKS_OK,
              ("SOUR:CURR?", "1.000000E-02"),
              ("SOUR:CURR:LIM:AMPL?", "2.500000E-01"),
              ("SOUR:FUNC:MODE?", "POW"),
              *_setting("SOUR:FUNC:MODE CURR"),
              *_setting("SOUR:CURR 0"),
              *_setting("OUTP:STAT ON"),
              *_setting("SOUR:CURR 0.01")) as laser:
        laser.enable_emission()


def test_enable_emission_when_already_on_does_nothing_more():
    with _cld(("OUTP:STAT?", "1")) as laser:
        laser.enable_emission()


def test_enable_emission_with_the_interlock_open_raises_and_sends_no_switch_on():
    with _cld(("OUTP:STAT?", "0"), ("OUTP:PROT:INTL:TRIP?", "1")) as laser:
        with pytest.raises(LaserInterlockError, match="interlock"):
            laser.enable_emission()


def test_enable_emission_with_the_key_off_raises_and_sends_no_switch_on():
    with _cld(("OUTP:STAT?", "0"), ("OUTP:PROT:INTL:TRIP?", "0"),
              ("OUTP:PROT:KEYL:TRIP?", "1")) as laser:
        with pytest.raises(LaserInterlockError, match="key"):
            laser.enable_emission()


def test_enable_emission_over_temperature_raises_a_fault_and_sends_no_switch_on():
    with _cld(*CHECKS_OK[:3], ("OUTP:PROT:OTEM:TRIP?", "1")) as laser:
        with pytest.raises(LaserFaultError, match="over temperature"):
            laser.enable_emission()


def test_enable_emission_with_the_tec_off_raises_and_sends_no_switch_on():
    with _cld(*CHECKS_OK[:4], ("OUTP2:STAT?", "0")) as laser:
        with pytest.raises(TECNotReadyError, match="TEC is off"):
            laser.enable_emission()


def test_tec_not_ready_is_an_interlock_error():
    assert issubclass(TECNotReadyError, LaserInterlockError)


def test_enable_emission_with_the_tec_off_setpoint_raises_and_sends_no_switch_on():
    with _cld(*CHECKS_OK[:6], ("MEAS:TEMP?", "2.320000E+01")) as laser:
        with pytest.raises(TECNotReadyError, match="settled"):
            laser.enable_emission()


def test_enable_emission_refuses_a_setpoint_above_a_limit_lowered_meanwhile():
    with _cld(*CHECKS_OK, ("SOUR:CURR?", "1.500000E-01"),
              ("SOUR:CURR:LIM:AMPL?", "1.000000E-01")) as laser:
        with pytest.raises(InstrumentCommandError, match="above the current limit"):
            laser.enable_emission()


def test_switch_on_refused_by_the_controller_raises_and_leaves_the_ld_off():
    with _cld(*CHECKS_OK,
              ("SOUR:CURR?", "1.000000E-02"),
              ("SOUR:CURR:LIM:AMPL?", "2.500000E-01"),
              ("SOUR:FUNC:MODE?", "CURR"),
              *_setting("SOUR:CURR 0"),
              ("OUTP:STAT ON", None), ("SYST:ERR?", '-221,"Settings conflict"'), NO_ERROR,
              *_setting("OUTP:STAT OFF")) as laser:
        with pytest.raises(InstrumentCommandError, match="-221"):
            laser.enable_emission()


def test_a_ramp_step_refused_mid_switch_on_switches_the_ld_off_again():
    with _cld(*CHECKS_OK,
              ("SOUR:CURR?", "2.000000E-02"),
              ("SOUR:CURR:LIM:AMPL?", "2.500000E-01"),
              ("SOUR:FUNC:MODE?", "CURR"),
              *_setting("SOUR:CURR 0"),
              *_setting("OUTP:STAT ON"),
              ("SOUR:CURR 0.01", None), ("SYST:ERR?", '-222,"Data out of range"'), NO_ERROR,
              *_setting("OUTP:STAT OFF"),
              max_step_A=0.01) as laser:
        with pytest.raises(InstrumentCommandError, match="-222"):
            laser.enable_emission()


class Abort(Exception):
    """Stands for the bench's RunAborted raised out of a wait."""


def test_an_abort_during_the_switch_on_ramp_switches_the_ld_off_again():
    def wait(seconds):
        raise Abort

    with _cld(*CHECKS_OK,
              ("SOUR:CURR?", "2.000000E-02"),
              ("SOUR:CURR:LIM:AMPL?", "2.500000E-01"),
              ("SOUR:FUNC:MODE?", "CURR"),
              *_setting("SOUR:CURR 0"),
              *_setting("OUTP:STAT ON"),
              *_setting("SOUR:CURR 0.01"),
              *_setting("OUTP:STAT OFF"),
              max_step_A=0.01, wait=wait) as laser:
        with pytest.raises(Abort):
            laser.enable_emission()


def test_an_abort_during_the_ramp_down_switches_the_ld_off_and_keeps_the_tec_on():
    def wait(seconds):
        raise Abort

    with _cld(("OUTP:STAT?", "1"), ("SOUR:CURR?", "2.000000E-02"),
              *_setting("SOUR:CURR 0.01"),
              *_setting("OUTP:STAT OFF"),
              max_step_A=0.01, wait=wait) as laser:
        with pytest.raises(Abort):
            laser.switch_off()


# --- switching off, TEC ----------------------------------------------------------------------

def test_disable_emission_sends_ld_off_without_checks():
    with _cld(*_setting("OUTP:STAT OFF")) as laser:
        laser.disable_emission()


def test_enable_tec_sends_tec_on():
    with _cld(*_setting("OUTP2:STAT ON")) as laser:
        laser.enable_tec()


def test_disable_tec_with_the_ld_off_sends_tec_off():
    with _cld(("OUTP:STAT?", "0"), *_setting("OUTP2:STAT OFF")) as laser:
        laser.disable_tec()


def test_disable_tec_with_the_ld_on_is_refused_without_sending():
    with _cld(("OUTP:STAT?", "1")) as laser:
        with pytest.raises(InstrumentCommandError, match="LD is on"):
            laser.disable_tec()


def test_switch_off_ramps_down_then_ld_off_restores_the_setpoint_then_tec_off():
    with _cld(("OUTP:STAT?", "1"), ("SOUR:CURR?", "2.000000E-02"),
              *_setting("SOUR:CURR 0.01"), *_setting("SOUR:CURR 0"),
              *_setting("OUTP:STAT OFF"),
              *_setting("SOUR:CURR 0.02"),
              ("OUTP:STAT?", "0"), *_setting("OUTP2:STAT OFF"),
              max_step_A=0.01) as laser:
        laser.switch_off()


def test_switch_off_without_ramp_switches_ld_then_tec():
    with _cld(("OUTP:STAT?", "1"), *_setting("OUTP:STAT OFF"),
              ("OUTP:STAT?", "0"), *_setting("OUTP2:STAT OFF")) as laser:
        laser.switch_off(ramp_down=False)


def test_emission_ready_needs_the_ld_on():
    with _cld(("OUTP:STAT?", "0")) as laser:
        assert laser.emission_ready is False


def test_emission_ready_when_the_measured_current_matches_the_setpoint():
    with _cld(("OUTP:STAT?", "1"), ("SOUR:CURR?", "1.600000E-01"),
              ("MEAS:CURR?", "1.599000E-01")) as laser:
        assert laser.emission_ready is True


def test_emission_not_ready_while_the_current_is_still_rising():
    with _cld(("OUTP:STAT?", "1"), ("SOUR:CURR?", "1.600000E-01"),
              ("MEAS:CURR?", "1.200000E-01")) as laser:
        assert laser.emission_ready is False


def test_turn_on_validates_the_target_before_sending_anything():
    with _cld(**CAL) as laser:
        with pytest.raises(ValueError):
            laser.turn_on(tec_setpoint_C=25.0, current_A=0.3)
        with pytest.raises(ValueError):
            laser.turn_on(tec_setpoint_C=25.0, power_W=0.5)
        with pytest.raises(ValueError):
            laser.turn_on(tec_setpoint_C=80.0, current_A=0.1)


def test_turn_on_takes_current_or_power_not_both():
    with _cld(**CAL) as laser:
        with pytest.raises(ValueError, match="not both"):
            laser.turn_on(current_A=0.1, power_W=0.05)


# --- against the simulator -------------------------------------------------------------------

#: Two diodes as a lab might run them (threshold, slope, limit, controller maximum).
DIODE_852 = {"wavelength_nm": 852.0, "threshold_current_A": 0.035,
             "slope_efficiency_W_A": 0.8, "current_limit_A": 0.25, "max_current_A": 1.5}
DIODE_1450 = {"wavelength_nm": 1450.0, "threshold_current_A": 0.05,
              "slope_efficiency_W_A": 0.3, "current_limit_A": 1.0, "max_current_A": 1.5}


def _twin(clock, diode, **kwargs):
    sim = SimThorlabsCLD(clock, seed=3, **diode, **kwargs)
    driver = ThorlabsCLD(
        InProcessAdapter(sim), wait=clock.sleep,
        threshold_current_A=diode["threshold_current_A"],
        slope_efficiency_W_A=diode["slope_efficiency_W_A"])
    return sim, driver


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def world(clock):
    return SimWorld(clock=clock, seed=5)


@pytest.fixture
def pair(clock, world):
    sim, driver = _twin(clock, DIODE_852)
    world.attach_source("pump_852", sim)
    return sim, driver


def _steps(sim):
    values = [amps for _, amps in sim.setpoint_history]
    return [abs(b - a) for a, b in zip(values, values[1:])]


def test_sim_turn_on_reaches_the_set_power(pair, clock):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    clock.sleep(0.5)
    assert laser.emission_ready is True
    assert sim.output_power_W() == pytest.approx(0.1, rel=0.01)


def test_sim_world_sees_the_diode_power_at_its_wavelength(pair, clock, world):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    clock.sleep(0.5)
    [(wavelength, power)] = world.beams_at_meter()
    assert wavelength == 852.0
    assert power == pytest.approx(0.1 * world.optics.attenuation_to_meter, rel=0.01)


def test_sim_turn_on_switches_the_ld_on_only_after_the_tec_held_its_setpoint(pair):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, current_A=0.1)
    events = dict((what, t) for t, what in sim.events)
    # From ambient 23 °C with a 4 s time constant the diode is within 0.15 °C after
    # 4·ln(2/0.15) = 10.4 s; it must then hold for 3 s more.
    assert events["LD ON"] - events["TEC ON"] >= 10.4 + 3.0
    assert abs(sim.temperature_C(events["LD ON"]) - 25.0) < 0.15


def test_sim_tec_temperature_approaches_the_setpoint_on_the_virtual_clock(pair, clock):
    sim, laser = pair
    laser.tec_setpoint_C = 30.0
    laser.enable_tec()
    assert laser.temperature_C == pytest.approx(23.0, abs=0.02)
    clock.sleep(4.0)  # one time constant: 63 % of the way
    assert laser.temperature_C == pytest.approx(30.0 - 7.0 / 2.718281828, abs=0.02)
    clock.sleep(40.0)
    assert laser.temperature_C == pytest.approx(30.0, abs=0.02)


def test_sim_tec_relaxes_to_ambient_when_switched_off(pair, clock):
    sim, laser = pair
    laser.start_tec(30.0)
    laser.disable_tec()
    clock.sleep(300.0)
    assert laser.temperature_C == pytest.approx(23.0, abs=0.02)


def test_sim_tec_that_cannot_settle_in_time_raises_a_fault(clock):
    sim, laser = _twin(clock, DIODE_852)
    laser.tec_timeout_s = 5.0
    with pytest.raises(LaserFaultError, match="not settled"):
        laser.start_tec(35.0)
    assert sim.ld_on is False


def test_sim_ld_refused_with_the_tec_off(pair):
    sim, laser = pair
    laser.current_setpoint_A = 0.1
    with pytest.raises(TECNotReadyError):
        laser.enable_emission()
    assert sim.ld_on is False
    assert sim.events == []


def test_sim_ld_refused_with_the_interlock_open(pair):
    sim, laser = pair
    laser.start_tec(25.0)
    sim.open_interlock()
    with pytest.raises(LaserInterlockError, match="interlock"):
        laser.enable_emission()
    assert sim.ld_on is False


def test_sim_ld_refused_with_the_key_off(pair):
    sim, laser = pair
    laser.start_tec(25.0)
    sim.set_key(False)
    with pytest.raises(LaserInterlockError, match="key"):
        laser.enable_emission()
    assert sim.ld_on is False


def test_sim_ld_refused_over_temperature(pair):
    sim, laser = pair
    laser.start_tec(25.0)
    sim.trip_over_temperature()
    with pytest.raises(LaserFaultError):
        laser.enable_emission()
    assert sim.ld_on is False


def test_sim_controller_itself_refuses_ld_on_with_the_tec_off(pair):
    sim, laser = pair
    laser.write("OUTP:STAT ON")  # bypassing the driver's checks
    with pytest.raises(InstrumentCommandError, match="-221"):
        laser.check_errors()
    assert laser.emission_enabled is False


def test_sim_opening_the_interlock_while_emitting_stops_the_light(pair, clock):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    sim.open_interlock()
    assert sim.output_power_W() == 0.0
    assert laser.emission_enabled is False
    assert laser.interlock_tripped is True


def test_sim_turn_on_ramp_never_exceeds_the_step(clock):
    sim, laser = _twin(clock, DIODE_852)
    laser.max_step_A = 0.007
    laser.turn_on(tec_setpoint_C=25.0, current_A=0.2)
    assert len(sim.setpoint_history) > 20
    assert max(_steps(sim)) <= 0.007 + 1e-9


def test_sim_power_change_while_emitting_is_ramped(pair):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.02)
    laser.power_setpoint_W = 0.15
    assert max(_steps(sim)) <= laser.max_step_A + 1e-9
    assert sim.current_setpoint_A == pytest.approx(0.035 + 0.15 / 0.8)


def test_sim_switch_off_ramp_down_never_exceeds_the_step(pair):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    sim.setpoint_history.clear()
    laser.switch_off()
    assert max(_steps(sim)[:-1]) <= laser.max_step_A + 1e-9  # last entry: the restore


def test_sim_switch_off_turns_the_ld_off_before_the_tec(pair):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    laser.switch_off()
    assert [what for _, what in sim.events] == ["TEC ON", "LD ON", "LD OFF", "TEC OFF"]


def test_sim_switch_off_keeps_the_operating_point_for_the_next_turn_on(pair, clock):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    laser.switch_off()
    laser.turn_on()
    clock.sleep(0.5)
    assert sim.output_power_W() == pytest.approx(0.1, rel=0.01)


def test_sim_driver_refuses_a_current_above_the_limit(pair):
    sim, laser = pair
    with pytest.raises(ValueError):
        laser.current_setpoint_A = 0.3
    assert sim.setpoint_history == []


def test_sim_controller_refuses_a_current_above_the_limit_and_keeps_the_setpoint(pair):
    sim, laser = pair
    laser.current_setpoint_A = 0.1
    laser.write("SOUR:CURR 0.3")  # bypassing the driver's validator
    with pytest.raises(InstrumentCommandError, match="-222"):
        laser.check_errors()
    assert laser.current_setpoint_A == pytest.approx(0.1)


def test_sim_controller_refuses_a_limit_above_its_maximum(pair):
    sim, laser = pair
    laser.write("SOUR:CURR:LIM:AMPL 2.0")
    with pytest.raises(InstrumentCommandError, match="-222"):
        laser.check_errors()
    assert laser.current_limit_A == pytest.approx(0.25)


def test_sim_current_limit_set_through_the_driver_round_trips(pair):
    sim, laser = pair
    laser.current_limit_A = 0.2
    assert laser.current_limit_A == pytest.approx(0.2)
    assert sim.current_limit_A == pytest.approx(0.2)


def test_sim_lowered_limit_holds_the_current_and_emission_is_not_ready(pair, clock):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, current_A=0.2)
    sim.current_limit_A = 0.1  # someone turns the limit down at the front panel
    clock.sleep(0.5)
    assert laser.ld_current_A == pytest.approx(0.1, abs=1e-4)
    assert laser.emission_ready is False


def test_sim_monitor_photodiode_follows_the_output(pair, clock):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    clock.sleep(0.5)
    assert laser.monitor_power_W == pytest.approx(sim.output_power_W(), rel=0.01)


def test_sim_no_light_below_threshold(pair, clock):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, current_A=0.03)
    clock.sleep(0.5)
    assert sim.output_power_W() == 0.0
    assert laser.ld_current_A == pytest.approx(0.03, abs=1e-4)


def test_sim_warmer_diode_gives_less_power_at_the_same_current(clock):
    powers = []
    for setpoint in (20.0, 30.0):
        sim, laser = _twin(VirtualClock(), DIODE_852)
        laser.turn_on(tec_setpoint_C=setpoint, current_A=0.15)
        sim.clock.sleep(0.5)
        powers.append(sim.output_power_W())
    assert powers[0] > powers[1]


def test_sim_ld_voltage_rises_with_current_and_is_zero_when_off(pair, clock):
    sim, laser = pair
    assert laser.ld_voltage_V == 0.0
    laser.turn_on(tec_setpoint_C=25.0, current_A=0.1)
    clock.sleep(0.5)
    assert laser.ld_voltage_V == pytest.approx(1.2 + 2.0 * 0.1, abs=1e-3)


def test_sim_two_diodes_on_one_world_coexist(clock, world):
    sim_852, laser_852 = _twin(clock, DIODE_852)
    sim_1450, laser_1450 = _twin(clock, DIODE_1450, serial="M00654321")
    world.attach_source("pump_852", sim_852)
    world.attach_source("pump_1450", sim_1450)
    laser_852.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    laser_1450.turn_on(tec_setpoint_C=20.0, power_W=0.2)
    clock.sleep(0.5)
    beams = dict(world.beams_at_meter())
    attenuation = world.optics.attenuation_to_meter
    assert beams[852.0] == pytest.approx(0.1 * attenuation, rel=0.01)
    assert beams[1450.0] == pytest.approx(0.2 * attenuation, rel=0.02)  # 20 °C: a bit more
    laser_852.switch_off()
    beams = dict(world.beams_at_meter())
    assert beams[852.0] == 0.0
    assert beams[1450.0] > 0.0
    assert laser_1450.identity == "Thorlabs CLD1015 SN M00654321, firmware 2.3.0"


def test_sim_pump_laser_role_drives_the_diode(pair, clock):
    """The bench's PumpLaser needs nothing but CWLaser: power, emission on/ready/off."""
    from avlab.devices import PumpLaser

    sim, laser = pair
    laser.start_tec(25.0)
    pump = PumpLaser("pump_852", laser, wavelength_nm=852.0, max_power_W=0.15,
                     wait=clock.sleep, identity=laser.identity, resource="sim",
                     driver_name="thorlabs_cld")
    pump.set_power_W(0.05)
    with pump.emitting():
        assert sim.output_power_W() == pytest.approx(0.05, rel=0.02)
    assert sim.ld_on is False


def test_sim_accepts_long_forms_and_the_thorlabs_example_spelling(pair):
    sim, laser = pair
    laser.write("source1:current:level:amplitude 0.065")
    laser.write("SOURCE:CURRENT:LEVEL:IMMEDIATE:AMPLITUDE? ")
    assert float(laser.read()) == pytest.approx(0.065)
    assert laser.check_errors() == []


def test_sim_unknown_command_queues_error_113(pair):
    sim, laser = pair
    laser.write("FOO:BAR 1")
    assert laser.ask("SYST:ERR?") == '-113,"Undefined header"'
    assert laser.ask("SYST:ERR?") == '+0,"No error"'


def test_sim_error_queue_keeps_ten_entries_then_reports_overflow(pair):
    sim, laser = pair
    for _ in range(12):
        laser.write("FOO")
    replies = [laser.ask("SYST:ERR?") for _ in range(11)]
    assert replies[8] == '-113,"Undefined header"'
    assert replies[9] == '-350,"Error queue overflow"'
    assert replies[10] == '+0,"No error"'


def test_sim_constant_power_mode_is_refused(pair):
    sim, laser = pair
    with pytest.raises(InstrumentCommandError, match="-221"):
        laser.operating_mode = "POW"
    assert laser.operating_mode == "CURR"


def test_sim_analog_modulation_round_trips(pair):
    sim, laser = pair
    laser.analog_modulation_enabled = True
    assert laser.analog_modulation_enabled is True


def test_sim_reset_switches_both_outputs_off(pair):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, current_A=0.1)
    laser.reset()
    assert laser.emission_enabled is False
    assert laser.tec_enabled is False


@pytest.mark.parametrize(("fault", "error"), [
    ("interlock_open", LaserInterlockError),
    ("key_switch_off", LaserInterlockError),
    ("over_temperature", LaserFaultError),
])
def test_sim_injected_device_fault_stops_emission_and_refuses_it(pair, fault, error):
    sim, laser = pair
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.05)
    sim.inject(fault)
    assert sim.output_power_W() == 0.0
    with pytest.raises(error):
        laser.enable_emission()


@pytest.mark.parametrize(("fault", "error"), [
    ("answer_garbage", InstrumentResponseError),
    ("stop_answering", InstrumentTimeoutError),
    ("drop_connection", InstrumentConnectionError),
])
def test_sim_link_faults_raise_their_specific_exceptions(pair, fault, error):
    sim, laser = pair
    sim.inject(fault)
    with pytest.raises(error):
        _ = laser.emission_enabled


def test_sim_closing_the_interlock_allows_emission_again(pair, clock):
    sim, laser = pair
    laser.start_tec(25.0)
    sim.open_interlock()
    sim.close_interlock()
    laser.current_setpoint_A = 0.1
    laser.enable_emission()
    clock.sleep(0.5)
    assert laser.emission_ready is True
