"""Lake Shore 335/336 driver: exact exchanges (docs/protocols.md §7a), rejections that send nothing,
then behaviour against SimLakeShore336 on the virtual clock, and pymeasure's own LakeShore3xx
driver — unmodified — against the same simulator.
"""

from __future__ import annotations

import math
import warnings

import pytest
from pymeasure.adapters import ProtocolAdapter
from pymeasure.instruments.lakeshore import LakeShore3xx
from pymeasure.test import expected_protocol
from pyvisa.constants import Parity, StopBits

from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentResponseError,
    InstrumentTimeoutError,
)
from drivers.temperature import lakeshore_33x
from drivers.temperature.lakeshore_33x import (
    HeaterFaultError,
    HeaterRange,
    HeaterSetup,
    HeaterStatus,
    LakeShore33x,
    OutputMode,
    OutputModeSettings,
    PIDSettings,
    RampSettings,
    ReadingStatus,
    SensorFaultError,
    SetpointTimeoutError,
)
from sim_devices.clock import VirtualClock
from sim_devices.instruments.lakeshore_33x import SimLakeShore335, SimLakeShore336
from sim_devices.thermal import PLATFORM, ThermalStage
from sim_devices.transport import InProcessAdapter

OK = "0"  # *ESR? with no error bit


def _ls(*exchanges, **kwargs):
    return expected_protocol(LakeShore33x, list(exchanges), **kwargs)


# --- construction -----------------------------------------------------------------------------

def test_construction_sends_nothing():
    with _ls():
        pass


def test_visa_resources_get_57600_7O1_and_the_lake_shore_terminations(monkeypatch):
    seen = {}

    def fake_visa_adapter(resource, **kwargs):
        seen.update(kwargs, resource=resource)
        return ProtocolAdapter([])

    monkeypatch.setattr("pymeasure.instruments.instrument.VISAAdapter", fake_visa_adapter)
    LakeShore33x("ASRL/dev/ttyACM0::INSTR")
    assert seen["asrl"] == {"baud_rate": 57600, "data_bits": 7, "parity": Parity.odd,
                            "stop_bits": StopBits.one}
    assert seen["write_termination"] == "\n"
    assert seen["read_termination"] == "\r\n"


def test_tcp_port_is_7777():
    assert lakeshore_33x.TCP_PORT == 7777


def test_max_setpoint_must_be_positive():
    with pytest.raises(ValueError):
        LakeShore33x(ProtocolAdapter([]), max_setpoint_K=0)


# --- identity and housekeeping ----------------------------------------------------------------

IDN = "LSCI,MODEL336,LSA2Q4E,2.9"


def test_identification_is_read_with_idn():
    with _ls(("*IDN?", IDN)) as ls:
        assert ls.identification == IDN


def test_model_and_identity_come_from_idn():
    with _ls(("*IDN?", IDN), ("*IDN?", IDN)) as ls:
        assert ls.model == 336
        assert ls.identity == "Lake Shore 336 SN LSA2Q4E, firmware 2.9"


def test_all_temperatures_are_read_with_krdg_0():
    with _ls(("KRDG? 0", "+004.212,+004.350,+000.000,+000.000")) as ls:
        assert ls.all_temperatures_K == [4.212, 4.35, 0.0, 0.0]


def test_clear_status_sends_cls_and_expects_no_reply():
    with _ls(("*CLS", None)) as ls:
        ls.clear_status()


def test_all_heaters_off_is_one_checked_message():
    with _ls(("RANGE 1,0;RANGE 2,0;*ESR?", OK)) as ls:
        ls.all_heaters_off()


# --- the *ESR? check --------------------------------------------------------------------------

@pytest.mark.parametrize(("esr", "words"), [("4", "query error"), ("16", "execution error"),
                                            ("32", "command error"),
                                            ("48", "execution error, command error")])
def test_error_bits_in_the_esr_reply_raise_command_error(esr, words):
    with _ls(("SETP 1,77;*ESR?", esr)) as ls:
        with pytest.raises(InstrumentCommandError, match=words) as error:
            ls.output_1.setpoint_K = 77
    assert "SETP 1,77;*ESR?" in str(error.value)


@pytest.mark.parametrize("esr", ["1", "128", "129"])
def test_operation_complete_and_power_on_bits_are_not_errors(esr):
    with _ls(("SETP 1,77;*ESR?", esr)) as ls:
        ls.output_1.setpoint_K = 77


def test_a_reply_that_is_not_a_status_raises():
    with _ls(("SETP 1,77;*ESR?", "+077.000")) as ls:
        with pytest.raises(InstrumentResponseError, match="expected the \\*ESR\\? status"):
            ls.output_1.setpoint_K = 77


@pytest.mark.parametrize("reply", ["+077.350", "\x15#?\x7f~garbage;000", "+077.350;000;0"])
def test_a_temperature_reply_that_is_not_a_reading_and_a_status_raises(reply):
    with _ls(("KRDG? A;RDGST? A", reply)) as ls:
        with pytest.raises(InstrumentResponseError, match="input A"):
            _ = ls.input_A.temperature_K


# --- inputs -----------------------------------------------------------------------------------

def test_temperature_is_read_with_its_status_in_one_message():
    with _ls(("KRDG? A;RDGST? A", "+077.350;000")) as ls:
        assert ls.input_A.temperature_K == 77.35


@pytest.mark.parametrize(("status", "words"), [
    ("129", "invalid reading, sensor units overrange"),
    ("065", "invalid reading, sensor units zero"),
    ("032", "temperature overrange"),
    ("016", "temperature underrange"),
])
def test_an_invalid_reading_raises_sensor_fault(status, words):
    with _ls(("KRDG? B;RDGST? B", f"+000.000;{status}")) as ls:
        with pytest.raises(SensorFaultError, match=f"input B reading is invalid \\({words}\\)"):
            _ = ls.input_B.temperature_K


@pytest.mark.parametrize("name", ["A", "B", "C", "D"])
def test_each_input_reads_its_own_channel(name):
    with _ls((f"KRDG? {name}", "+004.212")) as ls:
        assert ls.input(name).kelvin == 4.212


def test_celsius_and_sensor_units_are_read():
    with _ls(("CRDG? A", "-195.800"), ("SRDG? A", "+1.02032")) as ls:
        assert ls.input_A.celsius == -195.8
        assert ls.input_A.sensor_units == 1.02032


def test_reading_status_is_decoded():
    with _ls(("RDGST? A", "000"), ("RDGST? A", "129")) as ls:
        assert ls.input_A.reading_status == ReadingStatus(0)
        assert ls.input_A.reading_status == (ReadingStatus.INVALID_READING
                                             | ReadingStatus.SENSOR_UNITS_OVERRANGE)


def test_temperature_limit_is_set_with_the_esr_check_and_read_back():
    with _ls(("TLIMIT A,320;*ESR?", OK), ("TLIMIT? A", "+320.0")) as ls:
        ls.input_A.temperature_limit_K = 320
        assert ls.input_A.temperature_limit_K == 320.0


def test_unknown_input_name_is_rejected():
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.input("E")


# --- heater outputs ---------------------------------------------------------------------------

def test_setpoint_is_set_with_the_esr_check():
    with _ls(("SETP 1,77.35;*ESR?", OK), ("SETP 2,4.2;*ESR?", OK)) as ls:
        ls.output_1.setpoint_K = 77.35
        ls.output_2.setpoint_K = 4.2


def test_setpoint_is_read_back():
    with _ls(("SETP? 1", "+077.350")) as ls:
        assert ls.output_1.setpoint_K == 77.35


def test_heater_range_is_set_and_read_as_an_enum():
    with _ls(("RANGE 1,3;*ESR?", OK), ("RANGE 2,0;*ESR?", OK), ("RANGE? 1", "3")) as ls:
        ls.output_1.heater_range = HeaterRange.HIGH
        ls.output_2.heater_range = 0
        assert ls.output_1.heater_range is HeaterRange.HIGH


def test_manual_output_is_set_and_read():
    with _ls(("MOUT 1,12.5;*ESR?", OK), ("MOUT? 1", "+012.50")) as ls:
        ls.output_1.manual_output_percent = 12.5
        assert ls.output_1.manual_output_percent == 12.5


def test_pid_is_set_as_a_tuple_and_read_as_pid_settings():
    with _ls(("PID 1,50,20,0;*ESR?", OK), ("PID? 1", "+0050.0,+0020.0,+000.0")) as ls:
        ls.output_1.pid = (50, 20, 0)
        assert ls.output_1.pid == PIDSettings(50.0, 20.0, 0.0)


def test_ramp_is_set_and_read():
    with _ls(("RAMP 1,1,2.5;*ESR?", OK), ("RAMP 1,0,0;*ESR?", OK),
             ("RAMP? 1", "1,+002.50")) as ls:
        ls.output_1.set_ramp(2.5)
        ls.output_1.ramp = (False, 0)
        assert ls.output_1.ramp == RampSettings(True, 2.5)


def test_ramp_status_is_a_bool():
    with _ls(("RAMPST? 1", "1"), ("RAMPST? 1", "0")) as ls:
        assert ls.output_1.ramping is True
        assert ls.output_1.ramping is False


def test_output_mode_is_set_with_the_input_as_a_number():
    with _ls(("OUTMODE 1,1,1,0;*ESR?", OK), ("OUTMODE 2,3,0,1;*ESR?", OK)) as ls:
        ls.output_1.output_mode = (OutputMode.CLOSED_LOOP, "A", False)
        ls.output_2.output_mode = (OutputMode.OPEN_LOOP, None, True)


def test_output_mode_is_read_with_the_input_as_a_letter():
    with _ls(("OUTMODE? 2", "1,2,0")) as ls:
        assert ls.output_2.output_mode == OutputModeSettings(OutputMode.CLOSED_LOOP, "B", False)


def test_heater_setup_is_sent_as_a_user_current():
    with _ls(("HTRSET 1,2,0,1.414,1;*ESR?", OK), ("HTRSET 2,1,0,0.5,2;*ESR?", OK)) as ls:
        ls.output_1.heater_setup = (50, 1.414, "current")
        ls.output_2.heater_setup = (25, 0.5, "power")


@pytest.mark.parametrize(("reply", "setup"), [
    ("2,2,+0.000,1", HeaterSetup(50.0, 1.0, "current")),
    ("1,0,+0.750,2", HeaterSetup(25.0, 0.75, "power")),
    ("2,3,+0.000,1", HeaterSetup(50.0, 1.414, "current")),
])
def test_heater_setup_is_read_with_presets_resolved(reply, setup):
    with _ls(("HTRSET? 1", reply)) as ls:
        assert ls.output_1.heater_setup == setup


def test_heater_output_is_read_with_the_heater_status_in_one_message():
    with _ls(("HTR? 1;HTRST? 1", "+052.5;0")) as ls:
        assert ls.output_1.heater_output_percent == 52.5


@pytest.mark.parametrize(("code", "words"), [("1", "open"), ("2", "shorted")])
def test_a_heater_fault_raises(code, words):
    with _ls(("HTR? 2;HTRST? 2", f"+000.0;{code}")) as ls:
        with pytest.raises(HeaterFaultError, match=f"heater 2 is {words}"):
            _ = ls.output_2.heater_output_percent


def test_heater_status_is_decoded_and_check_heater_raises_on_a_fault():
    with _ls(("HTRST? 1", "0"), ("HTRST? 1", "2")) as ls:
        assert ls.output_1.heater_status is HeaterStatus.OK
        with pytest.raises(HeaterFaultError, match="shorted"):
            ls.output_1.check_heater()


def test_configure_safety_limit_sets_tlimit_and_lowers_the_setpoint_limit():
    with _ls(("TLIMIT A,300;*ESR?", OK), ("TLIMIT B,300;*ESR?", OK),
             ("SETP 1,300;*ESR?", OK)) as ls:
        ls.configure_safety_limit(300.0)
        ls.output_1.setpoint_K = 300.0
        with pytest.raises(ValueError):
            ls.output_1.setpoint_K = 300.5


def test_unknown_output_number_is_rejected():
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output(3)


# --- rejections: nothing is sent --------------------------------------------------------------

@pytest.mark.parametrize("value", [-0.1, 400.1, math.nan])
def test_setpoint_outside_the_limit_is_rejected(value):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output_1.setpoint_K = value


def test_setpoint_limit_comes_from_the_constructor():
    with _ls(max_setpoint_K=320.0) as ls:
        with pytest.raises(ValueError):
            ls.output_2.setpoint_K = 320.5


def test_safety_limit_above_the_driver_maximum_is_rejected():
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.configure_safety_limit(401.0)


@pytest.mark.parametrize("value", [-1, 4, 1.5])
def test_heater_range_outside_0_to_3_is_rejected(value):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output_1.heater_range = value


@pytest.mark.parametrize("value", [-1.0, 100.5])
def test_manual_output_outside_0_to_100_is_rejected(value):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output_1.manual_output_percent = value


@pytest.mark.parametrize("pid", [(0.05, 20, 0), (1001, 20, 0), (50, 0, 0), (50, 1001, 0),
                                 (50, 20, -1), (50, 20, 201), (50, 20)])
def test_pid_outside_the_manual_ranges_is_rejected(pid):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output_1.pid = pid


@pytest.mark.parametrize("ramp", [(True, 0.05), (True, 100.5), (True, -1), ("yes", 5)])
def test_ramp_outside_the_manual_range_is_rejected(ramp):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output_1.ramp = ramp


@pytest.mark.parametrize("mode", [(6, "A", False), (1, "E", False), (1, "A", 2)])
def test_bad_output_mode_is_rejected(mode):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output_1.output_mode = mode


@pytest.mark.parametrize("setup", [(30, 1.0, "current"), (50, 1.5, "current"),
                                   (25, 2.5, "current"), (25, 0.05, "current"),
                                   (25, 1.0, "volts")])
def test_bad_heater_setup_is_rejected(setup):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.output_1.heater_setup = setup


@pytest.mark.parametrize("value", [-1.0, 1501.0])
def test_temperature_limit_outside_its_range_is_rejected(value):
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.input_A.temperature_limit_K = value


def test_wait_for_setpoint_rejects_nonsense_arguments():
    with _ls() as ls:
        with pytest.raises(ValueError):
            ls.wait_for_setpoint(tolerance_K=0)


# --- against the simulated controller ---------------------------------------------------------

def _bench(*, model: int = 336, stage_kwargs: dict | None = None, **driver_kwargs):
    clock = VirtualClock()
    stage = ThermalStage.closed_cycle(clock, **(stage_kwargs or {}))
    sim = SimLakeShore336(stage, model=model)
    return clock, sim, LakeShore33x(InProcessAdapter(sim), **driver_kwargs)


@pytest.fixture
def bench():
    return _bench()


def _follow(clock, ls, seconds, step_s=1.0, name="A"):
    temperatures = []
    for _ in range(int(seconds / step_s)):
        clock.sleep(step_s)
        temperatures.append(ls.input(name).temperature_K)
    return temperatures


def test_sim_identity(bench):
    *_, ls = bench
    assert ls.identity == "Lake Shore 336 SN LSA2Q4E, firmware 2.9"
    assert ls.model == 336


def test_sim_starts_cold_with_heaters_off(bench):
    *_, ls = bench
    assert 3.0 < ls.input_A.temperature_K < 5.0
    assert ls.output_1.heater_range is HeaterRange.OFF
    assert ls.output_1.heater_output_percent == 0.0


def test_sim_setpoint_is_reached_within_0_1_K_in_minutes(bench):
    clock, _, ls = bench
    ls.output_1.setpoint_K = 77.0
    ls.output_1.heater_range = HeaterRange.HIGH
    temperature = ls.wait_for_setpoint(1, tolerance_K=0.1, stable_s=60.0, timeout_s=900.0,
                                       wait=clock.sleep, now=clock.now)
    assert temperature == pytest.approx(77.0, abs=0.1)
    assert clock.now() < 600.0
    assert ls.output_1.heater_output_percent > 0.0


def test_sim_sample_input_follows_the_platform_with_a_lag(bench):
    clock, _, ls = bench
    ls.output_1.setpoint_K = 100.0
    ls.output_1.heater_range = HeaterRange.HIGH
    clock.sleep(20.0)
    assert ls.input_B.temperature_K < ls.input_A.temperature_K - 1.0
    clock.sleep(1200.0)
    assert ls.input_B.temperature_K == pytest.approx(100.0, abs=0.1)


def test_sim_aggressive_pid_overshoots(bench):
    clock, _, ls = bench
    ls.output_1.pid = (300, 300, 0)
    ls.output_1.setpoint_K = 77.0
    ls.output_1.heater_range = HeaterRange.HIGH
    overshoot = max(_follow(clock, ls, 300.0)) - 77.0
    assert overshoot > 0.5


def test_sim_without_heater_drifts_to_the_base_temperature():
    clock, sim, ls = _bench(stage_kwargs={"initial_K": 60.0})
    temperatures = _follow(clock, ls, 1800.0, step_s=60.0)
    assert temperatures[0] > temperatures[-1]
    assert temperatures[-1] == pytest.approx(sim.stage.equilibrium_K(), abs=0.1)


def test_sim_low_range_gives_a_hundredth_of_the_power(bench):
    clock, sim, ls = bench
    ls.output_1.output_mode = (OutputMode.OPEN_LOOP, "A", False)
    ls.output_1.manual_output_percent = 100.0
    ls.output_1.heater_range = HeaterRange.LOW
    clock.sleep(1.0)
    assert ls.output_1.heater_output_percent == 100.0
    assert sim.loops[1].power_W == pytest.approx(0.5)  # of the 50 W the heater can take


def test_sim_heater_setup_sets_the_maximum_power(bench):
    _, sim, ls = bench
    ls.output_1.heater_setup = (25, 0.5, "current")
    assert ls.output_1.heater_setup == HeaterSetup(25.0, 0.5, "current")
    assert sim.loops[1].max_power_W == pytest.approx(6.25)


def test_sim_ramp_rate_is_honoured(bench):
    clock, _, ls = bench
    start = ls.input_A.temperature_K
    ls.output_1.set_ramp(2.0)
    ls.output_1.setpoint_K = 30.0
    ls.output_1.heater_range = HeaterRange.HIGH
    clock.sleep(300.0)
    assert ls.output_1.ramping
    assert ls.input_A.temperature_K == pytest.approx(start + 10.0, abs=1.0)
    clock.sleep(600.0)
    assert not ls.output_1.ramping
    assert ls.input_A.temperature_K == pytest.approx(30.0, abs=0.1)


def test_sim_wait_for_setpoint_waits_for_the_ramp_to_finish(bench):
    clock, _, ls = bench
    ls.output_1.set_ramp(5.0)
    ls.output_1.setpoint_K = 40.0
    ls.output_1.heater_range = HeaterRange.HIGH
    ls.wait_for_setpoint(tolerance_K=0.1, stable_s=10.0, timeout_s=1800.0,
                         wait=clock.sleep, now=clock.now)
    assert clock.now() > (40.0 - 4.0) / 5.0 * 60.0


def test_sim_tlimit_cuts_the_heater(bench):
    clock, sim, ls = bench
    ls.input_A.temperature_limit_K = 40.0
    ls.output_1.setpoint_K = 80.0
    ls.output_1.heater_range = HeaterRange.HIGH
    peak = max(_follow(clock, ls, 300.0))
    assert ls.output_1.heater_range is HeaterRange.OFF
    assert peak < 45.0
    assert ls.input_A.temperature_K < 20.0
    assert sim.stage.tripped == "A"


def test_sim_safety_limit_refuses_setpoints_above_it(bench):
    *_, ls = bench
    ls.configure_safety_limit(250.0)
    assert ls.input_A.temperature_limit_K == 250.0
    assert ls.input_B.temperature_limit_K == 250.0
    with pytest.raises(ValueError):
        ls.output_1.setpoint_K = 260.0


def test_sim_stopped_cold_head_warms_the_cryostat_until_tlimit_trips(bench):
    clock, sim, ls = bench
    ls.input_A.temperature_limit_K = 30.0
    ls.output_1.setpoint_K = 25.0
    ls.output_1.heater_range = HeaterRange.MEDIUM
    clock.sleep(300.0)
    assert ls.output_1.heater_range is HeaterRange.MEDIUM
    sim.stop_cooling()
    clock.sleep(900.0)
    assert ls.input_A.temperature_K > 30.0
    assert ls.output_1.heater_range is HeaterRange.OFF


@pytest.mark.parametrize(("fault", "words"), [("short", "shorted"), ("open", "open")])
def test_sim_heater_fault_raises_heater_fault_error(bench, fault, words):
    clock, sim, ls = bench
    ls.output_1.setpoint_K = 50.0
    ls.output_1.heater_range = HeaterRange.HIGH
    clock.sleep(10.0)
    sim.inject_heater_fault(1, fault)
    with pytest.raises(HeaterFaultError, match=words):
        _ = ls.output_1.heater_output_percent
    assert ls.output_1.heater_range is HeaterRange.OFF


def test_sim_heater_fault_stops_wait_for_setpoint(bench):
    clock, sim, ls = bench
    ls.output_1.setpoint_K = 50.0
    ls.output_1.heater_range = HeaterRange.HIGH
    sim.inject_heater_fault(1, "short")
    with pytest.raises(HeaterFaultError):
        ls.wait_for_setpoint(wait=clock.sleep, now=clock.now)


def test_sim_open_sensor_raises_sensor_fault_error_and_starves_the_loop(bench):
    clock, sim, ls = bench
    ls.output_1.setpoint_K = 50.0
    ls.output_1.heater_range = HeaterRange.HIGH
    sim.inject_sensor_fault("A", "open")
    with pytest.raises(SensorFaultError, match="input A"):
        _ = ls.input_A.temperature_K
    assert ls.input_A.kelvin == 0.0
    assert ReadingStatus.SENSOR_UNITS_OVERRANGE in ls.input_A.reading_status
    clock.sleep(60.0)
    assert ls.output_1.heater_output_percent == 0.0  # no valid control reading: no heat
    with pytest.raises(SensorFaultError):
        ls.wait_for_setpoint(wait=clock.sleep, now=clock.now)


def test_sim_repaired_sensor_reads_again(bench):
    _, sim, ls = bench
    sim.inject_sensor_fault("B", "short")
    with pytest.raises(SensorFaultError, match="sensor units zero"):
        _ = ls.input_B.temperature_K
    sim.inject_sensor_fault("B", None)
    assert ls.input_B.temperature_K > 0


def test_sim_wait_for_setpoint_times_out_when_the_range_is_too_low(bench):
    clock, _, ls = bench
    ls.output_1.setpoint_K = 200.0
    ls.output_1.heater_range = HeaterRange.LOW
    with pytest.raises(SetpointTimeoutError, match="did not settle"):
        ls.wait_for_setpoint(timeout_s=300.0, poll_s=5.0, wait=clock.sleep, now=clock.now)
    assert clock.now() == pytest.approx(300.0, abs=5.0)


def test_sim_chained_queries_answer_joined_by_semicolons(bench):
    *_, ls = bench
    ls.output_1.setpoint_K = 20.0
    reply = ls.ask("KRDG? A;SETP? 1;RANGE? 1;*ESR?")
    reading, setpoint, heater_range, esr = reply.split(";")
    assert float(reading) > 0 and setpoint == "+020.000" and heater_range == "0" and esr == "0"


def test_sim_official_driver_style_chain_with_colons(bench):
    _, sim, ls = bench
    assert ls.ask("SETP 1,25;:RANGE 1,2;*ESR?") == "0"
    assert ls.output_1.setpoint_K == 25.0
    assert ls.output_1.heater_range is HeaterRange.MEDIUM


def test_sim_unknown_command_sets_the_command_error_bit(bench):
    *_, ls = bench
    assert ls.ask("FOO 1;*ESR?") == "32"
    assert ls.ask("*ESR?") == "0"  # reading clears it


def test_sim_refuses_bad_values_sent_raw_and_changes_nothing(bench):
    *_, ls = bench
    with pytest.raises(InstrumentCommandError, match="execution error"):
        ls._setting("RANGE 1,7")
    with pytest.raises(InstrumentCommandError, match="execution error"):
        ls._setting("PID 1,5000,20,0")
    assert ls.output_1.heater_range is HeaterRange.OFF
    assert ls.output_1.pid == PIDSettings(50.0, 20.0, 0.0)


def test_sim_reply_formats_follow_the_manual(bench):
    *_, ls = bench
    assert ls.ask("SETP? 1") == "+000.000"
    assert ls.ask("RDGST? A") == "000"
    assert ls.ask("PID? 1") == "+0050.0,+0020.0,+000.0"
    assert len(ls.ask("KRDG? A")) == 8  # ±nnnnnn


def test_sim_all_inputs_read_at_once(bench):
    *_, ls = bench
    a, b, c, d = ls.all_temperatures_K
    assert a > 0 and b > 0 and c == 0.0 and d == 0.0  # C and D have no sensor


def test_sim_335_has_two_inputs_and_says_so():
    clock = VirtualClock()
    sim = SimLakeShore335(clock=clock)
    ls = LakeShore33x(InProcessAdapter(sim))
    assert ls.model == 335
    assert len(ls.all_temperatures_K) == 2
    assert ls.ask("KRDG? C;*ESR?") == "4"  # query error, no reading
    with pytest.raises(InstrumentTimeoutError):  # a refused query: no reply, the read times out
        _ = ls.input_C.kelvin


def test_sim_all_heaters_off(bench):
    clock, _, ls = bench
    ls.output_1.setpoint_K = 50.0
    ls.output_1.heater_range = HeaterRange.HIGH
    ls.output_2.heater_range = HeaterRange.LOW
    ls.all_heaters_off()
    assert ls.output_1.heater_range is HeaterRange.OFF
    assert ls.output_2.heater_range is HeaterRange.OFF


def test_sim_output_2_heats_the_sample_directly(bench):
    clock, sim, ls = bench
    ls.output_2.setpoint_K = 10.0
    ls.output_2.heater_range = HeaterRange.MEDIUM
    clock.sleep(600.0)
    assert ls.input_B.temperature_K == pytest.approx(10.0, abs=0.1)
    assert ls.input_A.temperature_K < 9.0  # the platform below stays colder


def test_sim_thermal_stage_is_shared_with_the_world_reader(bench):
    clock, sim, ls = bench
    assert sim.stage.sample_K == pytest.approx(ls.input_B.temperature_K, abs=1e-3)
    assert sim.stage.temperature_K(PLATFORM) == pytest.approx(ls.input_A.temperature_K, abs=1e-3)


# --- a client nobody here wrote ---------------------------------------------------------------

def test_upstream_pymeasure_lakeshore3xx_works_against_the_simulator(bench):
    """pymeasure's LakeShore3xx, unmodified, reads temperatures and drives the setpoint."""
    clock, sim, _ = bench
    upstream = LakeShore3xx(InProcessAdapter(sim))
    assert upstream.id == "LSCI,MODEL336,LSA2Q4E,2.9"
    assert 3.0 < upstream.input_A.kelvin < 5.0
    upstream.output_1.setpoint = 50
    upstream.output_1.range = "high"
    assert upstream.output_1.setpoint == 50.0
    assert upstream.output_1.range == "high"
    clock.sleep(600.0)
    assert upstream.input_A.kelvin == pytest.approx(50.0, abs=0.1)
    assert upstream.input_A.celsius == pytest.approx(50.0 - 273.15, abs=0.1)
    assert 0.0 < upstream.output_1.output < 100.0
    upstream.output_1.mout = 5
    assert upstream.output_1.mout == 5.0
    assert sim.esr == 0  # nothing it sent was refused


def test_upstream_deprecated_lakeshore331_reads_the_simulator(bench):
    from pymeasure.instruments.lakeshore import LakeShore331

    _, sim, _ = bench
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        upstream = LakeShore331(InProcessAdapter(sim))
    assert 3.0 < upstream.input_B.kelvin < 5.0
    upstream.output_1.setpoint = 12.5
    assert upstream.output_1.setpoint == 12.5
    assert sim.esr == 0


# --- injected faults (the bench's fault mechanism) ---------------------------------------------

def test_sim_lists_its_device_faults_with_the_common_ones():
    names = SimLakeShore336.fault_names()
    assert {"sensor_open", "sensor_short", "sample_sensor_open", "heater_open", "heater_short",
            "cooler_stopped", "drop_connection", "stop_answering", "answer_garbage"} <= set(names)


def test_sim_injected_heater_short_raises_and_clearing_lets_the_heater_on_again(bench):
    clock, sim, ls = bench
    ls.output_1.setpoint_K = 50.0
    ls.output_1.heater_range = HeaterRange.HIGH
    sim.inject("heater_short")
    with pytest.raises(HeaterFaultError, match="shorted"):
        _ = ls.output_1.heater_output_percent
    sim.clear_faults()
    assert ls.output_1.heater_range is HeaterRange.OFF  # a tripped output stays off
    ls.output_1.heater_range = HeaterRange.HIGH
    clock.sleep(600.0)
    assert ls.input_A.temperature_K == pytest.approx(50.0, abs=0.1)


def test_sim_injected_sensor_fault_raises_until_cleared(bench):
    _, sim, ls = bench
    sim.inject("sensor_open")
    with pytest.raises(SensorFaultError, match="input A"):
        _ = ls.input_A.temperature_K
    assert ls.input_B.temperature_K > 0  # the sample sensor still reads
    sim.clear_faults()
    assert ls.input_A.temperature_K > 0


def test_sim_injected_cooler_stop_warms_the_cryostat(bench):
    clock, sim, ls = bench
    start = ls.input_A.temperature_K
    sim.inject("cooler_stopped")
    clock.sleep(600.0)
    assert ls.input_A.temperature_K > start + 1.0


def test_sim_hung_controller_times_out(bench):
    _, sim, ls = bench
    sim.inject("stop_answering")
    with pytest.raises(InstrumentTimeoutError):
        _ = ls.input_A.temperature_K


def test_sim_garbled_reply_raises_response_error(bench):
    _, sim, ls = bench
    sim.inject("answer_garbage")
    with pytest.raises(InstrumentResponseError):
        _ = ls.input_A.temperature_K
    with pytest.raises(InstrumentResponseError):
        ls.output_1.setpoint_K = 10.0


def test_sim_dropped_link_raises_connection_error(bench):
    _, sim, ls = bench
    sim.inject("drop_connection")
    with pytest.raises(InstrumentConnectionError):
        _ = ls.input_A.temperature_K


# --- on a loopback TCP port, with the real terminations ---------------------------------------

@pytest.fixture
def served_controller():
    from sim_devices.server import InstrumentServer

    clock = VirtualClock()
    sim = SimLakeShore336(clock=clock)
    with InstrumentServer() as server:
        yield clock, sim, server.add("cryostat", sim)


def test_served_controller_speaks_lf_in_crlf_out(served_controller):
    import serial

    _, _, served = served_controller
    with serial.serial_for_url(served.serial_url, timeout=2) as link:
        link.write(b"SETP 1,12.5;*ESR?\n")
        assert link.read_until(b"\r\n") == b"0\r\n"
        link.write(b"SETP? 1;RANGE? 1\n")
        assert link.read_until(b"\r\n") == b"+012.500;0\r\n"


def test_our_driver_works_over_pyvisa_tcp(served_controller):
    clock, _, served = served_controller
    ls = LakeShore33x(served.visa_resource)
    try:
        assert ls.model == 336
        ls.output_1.setpoint_K = 20.0
        ls.output_1.heater_range = HeaterRange.HIGH
        clock.sleep(600.0)
        assert ls.input_A.temperature_K == pytest.approx(20.0, abs=0.1)
    finally:
        ls.adapter.close()
