"""IPG YLR driver: exact exchanges (docs/protocols.md §1a), then behaviour against SimIPGYLR.

`expected_protocol` pins the bytes on the wire without terminations; `max_power_W=5` is given
so the constructor does not query `RMN` (except in the tests of that path).
"""

from __future__ import annotations

import math

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import (
    InstrumentCommandError,
    InstrumentResponseError,
    LaserFaultError,
    LaserInterlockError,
)
from drivers.lasers.ipg_ylr import IPGYLR, YLRStatus
from sim_devices.clock import VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.transport import InProcessAdapter

KEY_REM = 1 << 21
ENABLE = 1 << 14
EMISSION = 1 << 2
STARTUP = 1 << 15
OVER_TEMPERATURE = 1 << 1
MODULE_FAILED = 1 << 7
MODULATION = 1 << 12


# --- exact exchanges -------------------------------------------------------------------------

def test_firmware_is_read_with_rfv():
    with expected_protocol(IPGYLR, [("RFV", "RFV: 3.6.1")], max_power_W=5) as laser:
        assert laser.firmware == "3.6.1"


def test_model_is_read_with_rmn():
    with expected_protocol(IPGYLR, [("RMN", "RMN: YLR-5-1064-LP")], max_power_W=5) as laser:
        assert laser.model == "YLR-5-1064-LP"


def test_identity_names_model_and_firmware():
    with expected_protocol(IPGYLR, [("RMN", "RMN: YLR-5-1064-LP"), ("RFV", "RFV: 3.6.1")],
                           max_power_W=5) as laser:
        assert laser.identity == "IPG Photonics YLR-5-1064-LP, firmware 3.6.1"


def test_status_word_is_read_with_sta():
    with expected_protocol(IPGYLR, [("STA", "STA: 32772")], max_power_W=5) as laser:
        assert laser.status_word == 32772


def test_status_decodes_emission_and_startup_bits():
    with expected_protocol(IPGYLR, [("STA", "STA: 32772")], max_power_W=5) as laser:
        status = laser.status
    assert YLRStatus.EMISSION in status
    assert YLRStatus.EMISSION_STARTUP in status
    assert YLRStatus.KEY_IN_REMOTE not in status


def test_emission_enabled_reads_status_bit_2():
    with expected_protocol(IPGYLR, [("STA", f"STA: {KEY_REM | EMISSION}"), ("STA", "STA: 0")],
                           max_power_W=5) as laser:
        assert laser.emission_enabled is True
        assert laser.emission_enabled is False


def test_emission_ready_needs_emission_without_startup():
    with expected_protocol(
        IPGYLR,
        [("STA", f"STA: {EMISSION | STARTUP}"), ("STA", f"STA: {EMISSION}"), ("STA", "STA: 0")],
        max_power_W=5,
    ) as laser:
        assert laser.emission_ready is False
        assert laser.emission_ready is True
        assert laser.emission_ready is False


def test_output_power_off_reads_as_zero():
    with expected_protocol(IPGYLR, [("ROP", "ROP: Off")], max_power_W=5) as laser:
        assert laser.output_power_W == 0.0


def test_output_power_low_reads_as_nan():
    with expected_protocol(IPGYLR, [("ROP", "ROP: Low")], max_power_W=5) as laser:
        assert math.isnan(laser.output_power_W)


def test_output_power_number_reads_in_watts():
    with expected_protocol(IPGYLR, [("ROP", "ROP: 1.234")], max_power_W=5) as laser:
        assert laser.output_power_W == pytest.approx(1.234)


def test_power_setpoint_is_sent_with_four_decimals_and_echo_is_consumed():
    with expected_protocol(IPGYLR, [("SPS 0.2570", "SPS: 0.2570")], max_power_W=5) as laser:
        laser.power_setpoint_W = 0.257


def test_power_setpoint_is_read_with_rps():
    with expected_protocol(IPGYLR, [("RPS", "RPS: 0.2570")], max_power_W=5) as laser:
        assert laser.power_setpoint_W == pytest.approx(0.257)


def test_current_setpoint_is_sent_with_sdc_and_echo_is_consumed():
    with expected_protocol(IPGYLR, [("SDC 25.0", "SDC: 25.0")], max_power_W=5) as laser:
        laser.current_setpoint_percent = 25


def test_current_setpoint_is_read_with_rcs():
    with expected_protocol(IPGYLR, [("RCS", "RCS: 25.0")], max_power_W=5) as laser:
        assert laser.current_setpoint_percent == 25.0


def test_minimum_current_is_read_with_rnc():
    with expected_protocol(IPGYLR, [("RNC", "RNC: 10.0")], max_power_W=5) as laser:
        assert laser.minimum_current_percent == 10.0


def test_current_setpoint_above_100_percent_is_rejected_without_sending():
    with expected_protocol(IPGYLR, [], max_power_W=5) as laser:
        with pytest.raises(ValueError):
            laser.current_setpoint_percent = 101


def test_enable_emission_checks_status_then_sends_emon():
    with expected_protocol(
        IPGYLR, [("STA", f"STA: {KEY_REM | ENABLE}"), ("EMON", "EMON")], max_power_W=5,
    ) as laser:
        laser.enable_emission()


def test_enable_emission_without_key_in_rem_raises_interlock_and_sends_no_emon():
    with expected_protocol(IPGYLR, [("STA", f"STA: {ENABLE}")], max_power_W=5) as laser:
        with pytest.raises(LaserInterlockError, match="key switch"):
            laser.enable_emission()


@pytest.mark.parametrize("fault", [OVER_TEMPERATURE, 1 << 3, 1 << 6, MODULE_FAILED, 1 << 11,
                                   1 << 17],
                         ids=["over-temperature", "back-reflection", "module-disconnected",
                              "module-failed", "psu-off", "unexpected-emission"])
def test_enable_emission_with_a_fault_bit_raises_fault_and_sends_no_emon(fault):
    with expected_protocol(IPGYLR, [("STA", f"STA: {KEY_REM | ENABLE | fault}")],
                           max_power_W=5) as laser:
        with pytest.raises(LaserFaultError):
            laser.enable_emission()


def test_enable_emission_with_optical_interlock_open_is_refused_without_emon():
    # Bit 10 [S]: refused either as a fault or as an interlock; never EMON.
    with expected_protocol(IPGYLR, [("STA", f"STA: {KEY_REM | ENABLE | 1 << 10}")],
                           max_power_W=5) as laser:
        with pytest.raises((LaserFaultError, LaserInterlockError)):
            laser.enable_emission()


def test_unknown_status_bits_are_kept_and_do_not_block_emission():
    with expected_protocol(
        IPGYLR, [("STA", f"STA: {KEY_REM | 1 << 0 | 1 << 29}"), ("EMON", "EMON")], max_power_W=5,
    ) as laser:
        laser.enable_emission()


def test_enable_emission_with_an_err_reply_raises_command_error():
    with expected_protocol(
        IPGYLR, [("STA", f"STA: {KEY_REM}"), ("EMON", "ERR: Key switch not in REM")],
        max_power_W=5,
    ) as laser:
        with pytest.raises(InstrumentCommandError):
            laser.enable_emission()


def test_disable_emission_sends_emoff():
    with expected_protocol(IPGYLR, [("EMOFF", "EMOFF")], max_power_W=5) as laser:
        laser.disable_emission()


def test_action_with_an_unexpected_echo_raises_response_error():
    from drivers.errors import InstrumentResponseError

    with expected_protocol(IPGYLR, [("EMOFF", "EMON")], max_power_W=5) as laser:
        with pytest.raises(InstrumentResponseError, match="unexpected reply"):
            laser.disable_emission()


def test_reset_errors_sends_rerr():
    with expected_protocol(IPGYLR, [("RERR", "RERR")], max_power_W=5) as laser:
        laser.reset_errors()


def test_aiming_beam_on_and_off_send_abn_and_abf():
    with expected_protocol(IPGYLR, [("ABN", "ABN"), ("ABF", "ABF")], max_power_W=5) as laser:
        laser.set_aiming_beam(True)
        laser.set_aiming_beam(False)


def test_analog_modulation_enabled_reads_status_bit_12():
    with expected_protocol(IPGYLR, [("STA", f"STA: {KEY_REM | MODULATION}"),
                                    ("STA", f"STA: {KEY_REM}")], max_power_W=5) as laser:
        assert laser.analog_modulation_enabled is True
        assert laser.analog_modulation_enabled is False


def test_analog_modulation_is_enabled_with_emod_even_while_emitting_and_checked():
    # Enabling needs no status check first (as the YLR's own EMOD contract allows).
    with expected_protocol(IPGYLR, [("EMOD", "EMOD"),
                                    ("STA", f"STA: {KEY_REM | EMISSION | MODULATION}")],
                           max_power_W=5) as laser:
        laser.analog_modulation_enabled = True


def test_analog_modulation_is_disabled_with_dmod_after_checking_emission_is_off():
    with expected_protocol(IPGYLR, [("STA", f"STA: {KEY_REM | MODULATION}"), ("DMOD", "DMOD"),
                                    ("STA", f"STA: {KEY_REM}")], max_power_W=5) as laser:
        laser.analog_modulation_enabled = False


def test_analog_modulation_is_not_disabled_while_emitting():
    with expected_protocol(IPGYLR, [("STA", f"STA: {KEY_REM | EMISSION | MODULATION}")],
                           max_power_W=5) as laser:
        with pytest.raises(InstrumentCommandError, match="emission off"):
            laser.analog_modulation_enabled = False


def test_analog_modulation_bit_that_does_not_follow_raises_response_error():
    with expected_protocol(IPGYLR, [("EMOD", "EMOD"), ("STA", f"STA: {KEY_REM}")],
                           max_power_W=5) as laser:
        with pytest.raises(InstrumentResponseError, match="did not follow EMOD"):
            laser.analog_modulation_enabled = True


def test_analog_modulation_with_an_unexpected_echo_raises_response_error():
    with expected_protocol(IPGYLR, [("EMOD", "EMON")], max_power_W=5) as laser:
        with pytest.raises(InstrumentResponseError, match="unexpected reply 'EMON' to EMOD"):
            laser.analog_modulation_enabled = True


def test_check_faults_returns_status_when_clean_and_raises_on_fault():
    with expected_protocol(
        IPGYLR, [("STA", f"STA: {KEY_REM}"), ("STA", f"STA: {KEY_REM | MODULE_FAILED}")],
        max_power_W=5,
    ) as laser:
        assert laser.check_faults() == YLRStatus.KEY_IN_REMOTE
        with pytest.raises(LaserFaultError):
            laser.check_faults()


def test_err_reply_to_a_setting_raises_command_error():
    with expected_protocol(IPGYLR, [("SDC 5.0", "ERR: Out of Range")], max_power_W=5) as laser:
        with pytest.raises(InstrumentCommandError, match="Out of Range"):
            laser.current_setpoint_percent = 5


def test_bcmd_reply_raises_command_error():
    with expected_protocol(IPGYLR, [("RFV", "BCMD")], max_power_W=5) as laser:
        with pytest.raises(InstrumentCommandError, match="BCMD"):
            _ = laser.firmware


def test_power_setpoint_above_max_power_is_rejected_without_sending():
    with expected_protocol(IPGYLR, [], max_power_W=5) as laser:
        with pytest.raises(ValueError):
            laser.power_setpoint_W = 7


def test_negative_power_setpoint_is_rejected_without_sending():
    with expected_protocol(IPGYLR, [], max_power_W=5) as laser:
        with pytest.raises(ValueError):
            laser.power_setpoint_W = -0.1


def test_max_power_is_read_from_the_model_name_when_not_given():
    with expected_protocol(IPGYLR, [("RMN", "RMN: YLR-5-1064-LP")]) as laser:
        assert laser.max_power_W == 5.0


def test_max_power_from_model_name_bounds_the_power_setpoint():
    with expected_protocol(IPGYLR, [("RMN", "RMN: YLR-5-1064-LP"),
                                    ("SPS 5.0000", "SPS: 5.0000")]) as laser:
        laser.power_setpoint_W = 5.0
        with pytest.raises(ValueError):
            laser.power_setpoint_W = 5.5


@pytest.mark.parametrize(("model", "watts"), [("YLR-50-1064-LP", 50.0), ("ylr-0.5-1064", 0.5),
                                               ("YLS-2000-CT", 2000.0)])
def test_max_power_parses_other_model_names(model, watts):
    with expected_protocol(IPGYLR, [("RMN", f"RMN: {model}")]) as laser:
        assert laser.max_power_W == watts


def test_unparsable_model_without_max_power_raises_command_error():
    with pytest.raises(InstrumentCommandError, match="max_power_W"):
        with expected_protocol(IPGYLR, [("RMN", "RMN: Mystery fiber laser")]):
            pass


def test_explicit_max_power_skips_the_model_query():
    with expected_protocol(IPGYLR, [], max_power_W=20) as laser:
        assert laser.max_power_W == 20.0


# --- against the simulator -------------------------------------------------------------------

@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def sim(clock):
    return SimIPGYLR(clock)


@pytest.fixture
def laser(sim):
    return IPGYLR(InProcessAdapter(sim))


def test_sim_model_gives_max_power_of_5_W(laser):
    assert laser.max_power_W == 5.0


def test_emission_starts_with_status_bit_15_for_3_s(laser, clock):
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    assert YLRStatus.EMISSION_STARTUP in laser.status
    clock.sleep(2.9)
    assert YLRStatus.EMISSION_STARTUP in laser.status
    clock.sleep(0.2)
    assert YLRStatus.EMISSION_STARTUP not in laser.status
    assert YLRStatus.EMISSION in laser.status


def test_no_light_during_emission_startup(laser, sim, clock):
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    clock.sleep(2.9)
    assert sim.output_power_W() == 0.0
    # The simulator answers `Low` while starting up (NaN), never a positive power.
    reading = laser.output_power_W
    assert reading == 0.0 or math.isnan(reading)


def test_output_reaches_the_setpoint_after_startup(laser, sim, clock):
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    clock.sleep(3.1)
    assert sim.output_power_W() == pytest.approx(2.0, abs=1e-3)
    assert laser.output_power_W == pytest.approx(2.0, abs=1e-3)


def test_emission_ready_only_after_startup(laser, clock):
    assert laser.emission_ready is False
    laser.enable_emission()
    assert laser.emission_ready is False
    clock.sleep(3.1)
    assert laser.emission_ready is True


def test_output_power_reads_off_before_emission(laser):
    assert laser.output_power_W == 0.0


def test_disable_emission_stops_output(laser, sim, clock):
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    clock.sleep(3.1)
    laser.disable_emission()
    assert sim.output_power_W() == 0.0
    assert laser.output_power_W == 0.0
    assert laser.emission_enabled is False


def test_current_setpoint_below_minimum_is_refused(laser):
    laser.current_setpoint_percent = 20
    with pytest.raises(InstrumentCommandError, match="Out of Range"):
        laser.current_setpoint_percent = 5
    assert laser.current_setpoint_percent == 20.0


def test_current_setpoint_round_trips(laser):
    laser.current_setpoint_percent = 37.5
    assert laser.current_setpoint_percent == 37.5


def test_minimum_current_is_reported(laser, sim):
    assert laser.minimum_current_percent == sim.min_current_percent


def test_commands_are_case_insensitive_without_space(laser):
    assert laser.ask("sdc20") == "SDC: 20.0"
    assert laser.current_setpoint_percent == 20.0


def test_commands_accept_a_space_before_the_parameter(laser):
    assert laser.ask("SDC 20") == "SDC: 20.0"
    assert laser.ask("rcs") == "RCS: 20.0"


def test_unknown_command_raises_command_error(laser):
    with pytest.raises(InstrumentCommandError, match="BCMD"):
        laser.ask("XYZZY")


def test_power_setpoint_round_trips(laser):
    laser.power_setpoint_W = 1.25
    assert laser.power_setpoint_W == pytest.approx(1.25, abs=1e-4)


def test_aiming_beam_sets_status_bit_8(laser):
    laser.set_aiming_beam(True)
    assert YLRStatus.AIMING_BEAM in laser.status
    laser.set_aiming_beam(False)
    assert YLRStatus.AIMING_BEAM not in laser.status


def test_key_not_in_remote_blocks_emission(laser, sim):
    sim.key_in_remote = False
    with pytest.raises(LaserInterlockError):
        laser.enable_emission()
    assert sim.emission_requested is False


def test_injected_fault_stops_output(laser, sim, clock):
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    clock.sleep(3.1)
    sim.inject_fault(1)
    assert sim.output_power_W() == 0.0
    assert laser.output_power_W == 0.0
    assert YLRStatus.OVER_TEMPERATURE in laser.status


def test_injected_fault_blocks_enable_emission_until_reset(laser, sim, clock):
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    clock.sleep(3.1)
    sim.inject_fault(1)
    with pytest.raises(LaserFaultError):
        laser.enable_emission()
    with pytest.raises(LaserFaultError):
        laser.check_faults()
    laser.reset_errors()
    laser.enable_emission()
    clock.sleep(3.1)
    assert laser.emission_ready is True
    assert laser.output_power_W == pytest.approx(2.0, abs=1e-3)


def test_identity_from_the_simulator(laser):
    assert laser.identity == "IPG Photonics YLR-5-1064-LP, firmware 3.6.1"


def test_setpoint_the_laser_changes_is_an_error_not_a_silent_clamp():
    with expected_protocol(IPGYLR, [("SPS 0.0000", "SPS: 0.0549")], max_power_W=5) as laser:
        with pytest.raises(InstrumentCommandError, match="set 0.0549 W instead of the requested 0 W"):
            laser.power_setpoint_W = 0.0


def test_optical_interlock_open_is_an_interlock_error():
    with expected_protocol(IPGYLR, [("STA", f"STA: {KEY_REM | ENABLE | 1 << 10}")],
                           max_power_W=5) as laser:
        with pytest.raises(LaserInterlockError, match="optical interlock"):
            laser.enable_emission()


def test_no_light_reads_zero_during_start_up(laser, sim, clock):
    laser.power_setpoint_W = 2.0
    laser.enable_emission()
    clock.sleep(1.0)
    assert laser.output_power_W == 0.0
