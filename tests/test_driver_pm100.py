"""Thorlabs PM100 driver: exact SCPI exchanges (docs/protocols.md §3a), then SimThorlabsPM100 on a
simulated bench, and pymeasure's own PM100USB driver against the same simulator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymeasure.instruments.thorlabs import ThorlabsPM100USB
from pymeasure.test import expected_protocol

from drivers.errors import (
    InstrumentCommandError,
    InstrumentResponseError,
    PowerMeterOverRangeError,
)
from drivers.powermeters.thorlabs_pm100 import SensorInfo, ThorlabsPM100
from sim_devices.clock import VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
from sim_devices.transport import InProcessAdapter
from sim_devices.world import BenchOptics, SimWorld

#: The constructor asks the meter for the unit it was left in, and the sensor for its wavelength
#: range (400–1100 nm: an S120C).
UNIT_W = ("SENS:POW:UNIT?", "W")
RANGE = [("SENS:CORR:WAV? MIN", "4.000000E+02"), ("SENS:CORR:WAV? MAX", "1.100000E+03")]
INIT = [UNIT_W, *RANGE]
NO_ERROR = ("SYST:ERR?", '+0,"No error"')
SENSOR_REPLY = "S120C,190412345,12-Mar-2025,1,18,49"


def _meter(*exchanges):
    """expected_protocol for a PM100 whose constructor sees a 400–1100 nm sensor."""
    return expected_protocol(ThorlabsPM100, INIT + list(exchanges))


# --- exact exchanges -------------------------------------------------------------------------

def test_init_queries_the_unit_and_the_sensor_wavelength_range():
    # expected_protocol fails if the constructor sends anything else, or fewer queries.
    with expected_protocol(ThorlabsPM100, INIT):
        pass


def test_meter_left_in_dbm_refuses_power_W_and_reads_dbm():
    """A meter left in dBm (front panel, another program) is found so at connection: power_W
    refuses instead of passing a dBm number for watts, power_dBm reads it, and power_W works
    again once the unit is set to W."""
    with expected_protocol(ThorlabsPM100, [("SENS:POW:UNIT?", "DBM"), *RANGE,
                                           ("MEAS:POW?", "-6.989700E+00"),
                                           ("SENS:POW:UNIT W", None), NO_ERROR,
                                           ("MEAS:POW?", "2.000000E-04")]) as meter:
        with pytest.raises(InstrumentCommandError, match="unit is DBM"):
            _ = meter.power_W
        assert meter.power_dBm == pytest.approx(-6.9897)
        meter.power_unit = "W"
        assert meter.power_W == pytest.approx(2e-4)


def test_unreadable_unit_at_connection_raises():
    with pytest.raises(InstrumentResponseError, match="power unit"):
        with expected_protocol(ThorlabsPM100, [("SENS:POW:UNIT?", "MW")]):
            pass


def test_wavelength_set_is_followed_by_an_error_queue_check():
    with _meter(("SENS:CORR:WAV 1064", None), NO_ERROR) as meter:
        meter.wavelength_nm = 1064


def test_wavelength_is_read_back():
    with _meter(("SENS:CORR:WAV?", "1.064000E+03")) as meter:
        assert meter.wavelength_nm == 1064.0


def test_wavelength_outside_the_sensor_range_is_rejected_without_sending():
    with _meter() as meter:
        with pytest.raises(ValueError):
            meter.wavelength_nm = 1450
        with pytest.raises(ValueError):
            meter.wavelength_nm = 350


def test_wavelength_refused_by_the_meter_raises_command_error():
    with _meter(("SENS:CORR:WAV 1064", None), ("SYST:ERR?", '-222,"Data out of range"'),
                NO_ERROR) as meter:
        with pytest.raises(InstrumentCommandError, match="-222"):
            meter.wavelength_nm = 1064


def test_check_errors_drains_the_whole_queue_and_reports_every_entry():
    with _meter(("SYST:ERR?", '-113,"Undefined header"'), ("SYST:ERR?", '-222,"Data out of range"'),
                NO_ERROR) as meter:
        with pytest.raises(InstrumentCommandError) as error:
            meter.check_errors()
    assert "-113" in str(error.value) and "-222" in str(error.value)


def test_check_errors_returns_empty_list_when_queue_is_empty():
    with _meter(NO_ERROR) as meter:
        assert meter.check_errors() == []


def test_averaging_count_is_set_and_checked():
    with _meter(("SENS:AVER:COUN 100", None), NO_ERROR) as meter:
        meter.averaging_count = 100


def test_averaging_count_is_read_as_int():
    with _meter(("SENS:AVER:COUN?", "100")) as meter:
        count = meter.averaging_count
    assert count == 100 and isinstance(count, int)


@pytest.mark.parametrize("bad", [0, 2.5, 100_001])
def test_averaging_count_rejects_non_whole_or_out_of_range_without_sending(bad):
    with _meter() as meter:
        with pytest.raises(ValueError):
            meter.averaging_count = bad


def test_auto_range_on_and_off_are_sent_as_1_and_0():
    with _meter(("SENS:POW:RANG:AUTO 1", None), NO_ERROR,
                ("SENS:POW:RANG:AUTO 0", None), NO_ERROR) as meter:
        meter.auto_range = True
        meter.auto_range = False


def test_auto_range_is_read_as_bool():
    with _meter(("SENS:POW:RANG:AUTO?", "1"), ("SENS:POW:RANG:AUTO?", "0")) as meter:
        assert meter.auto_range is True
        assert meter.auto_range is False


def test_manual_range_is_sent_in_watts():
    with _meter(("SENS:POW:RANG 0.001", None), NO_ERROR) as meter:
        meter.range_W = 1e-3


@pytest.mark.parametrize(("given", "sent"), [("dbm", "DBM"), ("DBM", "DBM"), ("w", "W")])
def test_power_unit_is_case_insensitive(given, sent):
    with _meter((f"SENS:POW:UNIT {sent}", None), NO_ERROR) as meter:
        meter.power_unit = given


def test_power_unit_rejects_unknown_units_without_sending():
    with _meter() as meter:
        with pytest.raises(ValueError):
            meter.power_unit = "mW"


def test_power_unit_is_read_as_string():
    with _meter(("SENS:POW:UNIT?", "W")) as meter:
        assert meter.power_unit == "W"


def test_power_is_measured_with_meas_pow():
    with _meter(("MEAS:POW?", "1.234567E-03")) as meter:
        assert meter.power_W == pytest.approx(1.234567e-3)


def test_over_range_reading_raises():
    with _meter(("MEAS:POW?", "9.9E37")) as meter:
        with pytest.raises(PowerMeterOverRangeError, match="over range"):
            _ = meter.power_W


def test_responsivity_is_read():
    with _meter(("SENS:CORR:POW:PDI:RESP?", "2.5E-01")) as meter:
        assert meter.responsivity_A_W == pytest.approx(0.25)


def test_zero_starts_dark_zero_and_checks_errors():
    with _meter(("SENS:CORR:COLL:ZERO:INIT", None), NO_ERROR) as meter:
        meter.zero()


def test_sensor_reply_is_parsed():
    with _meter(("SYST:SENS:IDN?", SENSOR_REPLY)) as meter:
        sensor = meter.sensor
    assert sensor == SensorInfo("S120C", "190412345", "12-Mar-2025", 1, 18, 49)
    assert sensor.measures_power
    assert sensor.wavelength_settable


def test_sensor_flags_without_power_and_wavelength_bits():
    with _meter(("SYST:SENS:IDN?", "ES111C,1234,01-Jan-2020,3,1,2")) as meter:
        sensor = meter.sensor
    assert not sensor.measures_power
    assert not sensor.wavelength_settable


def test_no_sensor_raises_command_error():
    with _meter(("SYST:SENS:IDN?", "no sensor")) as meter:
        with pytest.raises(InstrumentCommandError, match="no sensor"):
            _ = meter.sensor


def test_truncated_sensor_reply_raises_command_error():
    with _meter(("SYST:SENS:IDN?", "S120C,190412345")) as meter:
        with pytest.raises(InstrumentCommandError, match="unexpected sensor reply"):
            _ = meter.sensor


def test_identity_names_meter_and_sensor():
    with _meter(("SYST:SENS:IDN?", SENSOR_REPLY),
                ("*IDN?", "Thorlabs,PM100D,P0012345,2.6.0")) as meter:
        assert meter.identity == "Thorlabs,PM100D,P0012345,2.6.0; sensor S120C SN 190412345"


# --- against the simulated bench -------------------------------------------------------------

LASER_W = 2.0


def _bench(*, seed: int = 7, optics: BenchOptics | None = None):
    clock = VirtualClock()
    world = SimWorld(clock=clock, optics=optics, seed=seed)
    laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser)
    laser.handle(f"SPS {LASER_W}")
    laser.handle("EMON")
    clock.sleep(laser.startup_s + 0.1)
    sim_meter = SimThorlabsPM100(world)
    meter = ThorlabsPM100(InProcessAdapter(sim_meter))
    return clock, world, laser, sim_meter, meter


@pytest.fixture
def bench():
    return _bench()


def test_sim_init_reads_the_sensor_range(bench):
    *_, meter = bench
    assert meter.wavelength_min_nm == 400.0
    assert meter.wavelength_max_nm == 1100.0


def test_sim_reading_is_laser_power_times_attenuation(bench):
    _, world, laser, _, meter = bench
    meter.wavelength_nm = 1064
    expected = laser.output_power_W() * world.optics.attenuation_to_meter
    assert laser.output_power_W() == pytest.approx(LASER_W, rel=1e-3)
    assert meter.power_W == pytest.approx(expected, rel=0.01)  # noise 0.2 %


def test_sim_reading_follows_the_laser_power(bench):
    _, world, laser, _, meter = bench
    meter.wavelength_nm = 1064
    laser.handle("SPS 4.0")
    assert meter.power_W == pytest.approx(4.0 * world.optics.attenuation_to_meter, rel=0.01)


def test_sim_wrong_wavelength_scales_reading_by_the_responsivity_ratio(bench):
    *_, meter = bench
    meter.wavelength_nm = 1064
    right = np.mean([meter.power_W for _ in range(10)])
    meter.wavelength_nm = 800
    wrong = np.mean([meter.power_W for _ in range(10)])
    silicon = SimThorlabsPM100(SimWorld())  # the default S120C head
    ratio = silicon.responsivity_A_W(1064) / silicon.responsivity_A_W(800)
    assert ratio == pytest.approx(0.25 / 0.52)
    assert wrong / right == pytest.approx(ratio, rel=0.01)


def test_sim_responsivity_follows_the_set_wavelength(bench):
    *_, meter = bench
    meter.wavelength_nm = 800
    assert meter.responsivity_A_W == pytest.approx(0.52)


def test_sim_noise_falls_as_sqrt_of_averages_at_the_noise_floor():
    # 2 W × 1e-9 = 2 nW at the meter: the 1 nW noise floor dominates the 0.2 % relative noise.
    _, _, _, _, meter = _bench(seed=11, optics=BenchOptics(attenuation_to_meter=1e-9))
    meter.wavelength_nm = 1064
    meter.averaging_count = 1
    single = np.std([meter.power_W for _ in range(200)], ddof=1)
    meter.averaging_count = 100
    averaged = np.std([meter.power_W for _ in range(200)], ddof=1)
    # sd of a 200-sample std estimate is ~5 %; of the ratio ~7 %: 7..14 is beyond 4σ.
    assert 7.0 <= single / averaged <= 14.0


def test_sim_reading_advances_clock_by_averages_times_1_ms(bench):
    clock, *_, meter = bench
    meter.averaging_count = 50
    start = clock.now()
    for _ in range(3):
        _ = meter.power_W
    assert clock.now() - start == pytest.approx(3 * 50 * 1e-3)


def test_sim_settings_do_not_advance_the_clock(bench):
    clock, *_, meter = bench
    start = clock.now()
    meter.wavelength_nm = 1064
    meter.averaging_count = 10
    assert clock.now() == start


def test_sim_manual_range_below_the_power_gives_over_range(bench):
    *_, meter = bench
    meter.wavelength_nm = 1064
    meter.range_W = 1e-5  # the beam is 200 µW
    assert meter.auto_range is False
    with pytest.raises(PowerMeterOverRangeError):
        _ = meter.power_W


def test_sim_auto_range_recovers_from_over_range(bench):
    *_, meter = bench
    meter.wavelength_nm = 1064
    meter.range_W = 1e-5
    meter.auto_range = True
    assert meter.power_W == pytest.approx(2e-4, rel=0.01)


def test_sim_range_is_rounded_up_to_a_decade(bench):
    *_, meter = bench
    meter.range_W = 3e-4
    assert meter.range_W == pytest.approx(1e-3)


def test_sim_meter_left_in_dbm_is_found_so_at_connection(bench):
    _, _, _, sim_meter, _ = bench
    sim_meter.unit = "DBM"  # as if set on the front panel before the driver connected
    meter = ThorlabsPM100(InProcessAdapter(sim_meter))
    meter.wavelength_nm = 1064
    with pytest.raises(InstrumentCommandError, match="unit is DBM"):
        _ = meter.power_W
    assert meter.power_dBm == pytest.approx(10 * math.log10(2e-4 / 1e-3), abs=0.05)


def test_sim_dbm_unit(bench):
    *_, meter = bench
    meter.wavelength_nm = 1064
    meter.power_unit = "dbm"
    assert meter.power_unit == "DBM"
    assert meter.power_dBm == pytest.approx(10 * math.log10(2e-4 / 1e-3), abs=0.05)
    with pytest.raises(InstrumentCommandError, match="unit is DBM"):
        meter.power_W


def test_sim_rst_restores_defaults(bench):
    *_, meter = bench
    meter.wavelength_nm = 1064
    meter.averaging_count = 10
    meter.range_W = 1e-5
    meter.reset()
    assert meter.wavelength_nm == 635.0
    assert meter.averaging_count == 1
    assert meter.auto_range is True


def test_sim_accepts_scpi_long_forms(bench):
    *_, meter = bench
    meter.write("SENSE:CORRECTION:WAVELENGTH 1064")
    assert meter.check_errors() == []
    assert meter.wavelength_nm == 1064.0


def test_sim_long_form_sensor_query(bench):
    *_, meter = bench
    assert meter.ask("SYSTEM:SENSOR:IDN?") == SENSOR_REPLY


def test_sim_sensor_and_identity(bench):
    *_, meter = bench
    assert meter.sensor.name == "S120C"
    assert meter.identity == "Thorlabs,PM100D,P0012345,2.6.0; sensor S120C SN 190412345"


def test_sim_unknown_command_queues_error_113(bench):
    *_, meter = bench
    meter.write("FOO:BAR 1")
    assert meter.ask("SYST:ERR?") == '-113,"Undefined header"'
    assert meter.ask("SYST:ERR?") == '+0,"No error"'


def test_sim_unknown_command_is_reported_by_check_errors(bench):
    *_, meter = bench
    meter.write("FOO:BAR 1")
    with pytest.raises(InstrumentCommandError, match="-113"):
        meter.check_errors()


def test_sim_unknown_query_gets_no_reply_which_is_a_timeout(bench):
    from drivers.errors import InstrumentTimeoutError

    *_, meter = bench
    with pytest.raises(InstrumentTimeoutError, match="did not answer"):
        meter.ask("FOO?")


def test_sim_refuses_a_wavelength_outside_the_sensor_range_sent_raw(bench):
    *_, meter = bench
    meter.write("SENS:CORR:WAV 1450")
    with pytest.raises(InstrumentCommandError, match="-222"):
        meter.check_errors()
    assert meter.wavelength_nm == 635.0


def test_sim_read_and_fetch_agree_with_meas(bench):
    *_, meter = bench
    meter.wavelength_nm = 1064
    meter.write("INIT")
    fetched = float(meter.ask("FETC?"))
    assert fetched == pytest.approx(2e-4, rel=0.01)
    assert float(meter.ask("READ?")) == pytest.approx(2e-4, rel=0.01)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_upstream_pymeasure_pm100usb_driver_works_against_the_simulator(bench):
    """A client nobody here wrote (pymeasure's, unmodified) agrees with our simulator."""
    _, world, laser, sim_meter, _ = bench
    upstream = ThorlabsPM100USB(InProcessAdapter(sim_meter))
    assert upstream.sensor_name == "S120C"
    assert upstream.is_power_sensor and upstream.wavelength_settable
    upstream.wavelength = 1064
    assert upstream.wavelength == 1064.0
    expected = laser.output_power_W() * world.optics.attenuation_to_meter
    assert upstream.power == pytest.approx(expected, rel=0.01)
    assert sim_meter.errors == []
