"""Injected faults: each surfaces as its own exception, and a run hit by one ends with the
pump off and its data on disk."""

from __future__ import annotations


import pytest

from avlab.bench import Bench
from avlab.config import parse_config, builtin_config_text
from avlab.errors import DetectorOverloadError
from avlab.runner import Runner
from avlab.storage import read_run
from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentResponseError,
    InstrumentTimeoutError,
    LaserFaultError,
    LaserInterlockError,
    PowerMeterOverRangeError,
)
from experiments.scurve import SCurve


def twin(bench, role):
    return bench.twins[role]


@pytest.mark.parametrize(("role", "fault", "action", "error"), [
    ("pump_1064", "drop_connection", lambda b: b.laser().is_emitting, InstrumentConnectionError),
    ("pump_1064", "stop_answering", lambda b: b.laser().is_emitting, InstrumentTimeoutError),
    ("pump_1064", "answer_garbage", lambda b: b.laser().driver.power_setpoint_W,
     InstrumentResponseError),
    ("pump_1064", "interlock_open", lambda b: b.laser().emission_on(), LaserInterlockError),
    ("pump_1064", "key_switch_off", lambda b: b.laser().emission_on(), LaserInterlockError),
    ("pump_1064", "over_temperature", lambda b: b.laser().emission_on(), LaserFaultError),
    ("pump_1064", "back_reflection", lambda b: b.laser().driver.check_faults(), LaserFaultError),
    ("power_meter", "drop_connection", lambda b: b.power_meter().power_W(),
     InstrumentConnectionError),
    ("power_meter", "stop_answering", lambda b: b.power_meter().power_W(),
     InstrumentTimeoutError),
    ("power_meter", "answer_garbage", lambda b: b.power_meter().power_W(),
     InstrumentResponseError),
    ("power_meter", "over_range", lambda b: b.power_meter().power_W(), PowerMeterOverRangeError),
    ("power_meter", "sensor_unplugged", lambda b: b.power_meter().driver.sensor,
     InstrumentCommandError),
    ("detector", "drop_connection", lambda b: b.detector().count(0.1), InstrumentConnectionError),
    ("detector", "stop_answering", lambda b: b.detector().count(0.1), InstrumentTimeoutError),
    ("detector", "flood", lambda b: b.detector().count(0.1), DetectorOverloadError),
])
def test_each_fault_raises_its_specific_exception(bench, role, fault, action, error):
    twin(bench, role).inject(fault)
    with pytest.raises(error):
        action(bench)


def test_unknown_fault_names_the_known_ones(bench):
    with pytest.raises(ValueError, match="interlock_open"):
        twin(bench, "pump_1064").inject("meltdown")


def test_faults_clear_again(bench):
    laser_twin = twin(bench, "power_meter")
    laser_twin.inject("stop_answering")
    laser_twin.clear_faults()
    assert bench.power_meter().power_W() == pytest.approx(0.0, abs=1e-8)


def config_with_fault(role: str, fault: str, at_s: float = 400.0):
    text = builtin_config_text() + (
        f"seed = 5\n\n[[simulation.faults]]\nrole = \"{role}\"\nfault = \"{fault}\"\n"
        f"at_s = {at_s}\n")
    return parse_config(text, "faulty.toml")


@pytest.mark.parametrize(("role", "fault"), [
    ("pump_1064", "drop_connection"), ("pump_1064", "interlock_open"),
    ("pump_1064", "over_temperature"), ("power_meter", "drop_connection"),
    ("power_meter", "over_range"), ("power_meter", "stop_answering"),
    ("detector", "flood"), ("detector", "drop_connection"),
])
def test_a_fault_mid_run_ends_it_with_the_pump_off_and_data_on_disk(tmp_path, role, fault):
    with Bench(config_with_fault(role, fault)) as bench:
        laser_twin = twin(bench, "pump_1064")
        result = Runner(SCurve(), bench, tmp_path / "run.h5").run()
        assert result.status == "failed"
        assert not laser_twin.emission_requested  # pump off, whatever broke
        assert result.shutdown.outcomes["pump_1064"].startswith("emission off")
    data = read_run(tmp_path / "run.h5")
    assert data.status == "failed" and data.message
    assert data.n_points >= 4  # the sweep was under way, and its points are kept


@pytest.mark.parametrize("fault", ["stop_answering", "answer_garbage"])
def test_a_laser_that_cannot_confirm_emission_off_is_reported_loudly(tmp_path, fault):
    """A hung or babbling laser cannot be switched off in software for sure: the run fails,
    its data stays, and the shutdown report says so in words nobody overlooks."""
    with Bench(config_with_fault("pump_1064", fault)) as bench:
        result = Runner(SCurve(), bench, tmp_path / "run.h5").run()
    assert result.status == "failed"
    assert not result.shutdown.ok
    assert "THE LASER MAY STILL BE EMITTING" in result.shutdown.outcomes["pump_1064"]
    data = read_run(tmp_path / "run.h5")
    assert "SHUTDOWN PROBLEM" in data.message
    assert data.n_points > 5


def test_a_dropped_laser_link_is_reopened_to_switch_emission_off(tmp_path):
    with Bench(config_with_fault("pump_1064", "drop_connection")) as bench:
        result = Runner(SCurve(), bench, tmp_path / "run.h5").run()
        assert result.shutdown.outcomes["pump_1064"] == "emission off (after reconnecting)"
        assert "lost the connection" in result.message


def test_scheduled_fault_for_an_unknown_role_is_a_config_error():
    from avlab.config import ConfigError

    with pytest.raises(ConfigError, match=r"simulation.faults\[0\].role"):
        config_with_fault("pump_852", "over_temperature")


def test_unknown_scheduled_fault_is_refused_with_the_config():
    from avlab.config import ConfigError

    with pytest.raises(ConfigError, match="no fault 'meltdown'") as caught:
        config_with_fault("pump_1064", "meltdown")
    assert caught.value.key == "simulation.faults[0].fault"
    assert "interlock_open" in str(caught.value)  # the twin's spec lists what it offers


# --- clearing a laser's device fault over the fault-control channel -------------------------

def _fault_channel(role: str, laser_twin):
    """The control channel of `avlab sim serve` (INJECT / CLEAR), in-process."""
    from sim_devices.fault_control import FaultControl

    control = FaultControl({role: laser_twin})
    return lambda line: control.handle(line)


@pytest.mark.parametrize(("fault", "error"), [
    ("interlock_open", LaserInterlockError),
    ("key_switch_off", LaserInterlockError),
    ("over_temperature", LaserFaultError),
    ("back_reflection", LaserFaultError),
])
def test_a_cleared_ylr_fault_lets_the_laser_emit_again_after_rerr(bench, fault, error):
    laser = bench.laser().driver
    laser_twin = twin(bench, "pump_1064")
    say = _fault_channel("pump_1064", laser_twin)
    laser.power_setpoint_W = 0.5
    assert say(f"INJECT pump_1064 {fault}") == "OK"
    with pytest.raises(error):
        laser.enable_emission()
    assert say("CLEAR pump_1064") == "OK"
    if fault != "key_switch_off":  # fault bits stay latched until RERR, as on the real laser
        with pytest.raises(error):
            laser.enable_emission()
    laser.reset_errors()
    laser.enable_emission()
    bench.clock.sleep(laser_twin.startup_s + 0.1)
    assert laser.emission_ready
    assert laser_twin.output_power_W() == pytest.approx(0.5)


@pytest.mark.parametrize(("fault", "error"), [
    ("interlock_open", LaserInterlockError),
    ("key_switch_off", LaserInterlockError),
    ("over_temperature", LaserFaultError),
])
def test_a_cleared_cld_fault_lets_the_diode_emit_again(fault, error):
    from drivers.lasers.thorlabs_cld import ThorlabsCLD
    from sim_devices.clock import VirtualClock
    from sim_devices.instruments.thorlabs_cld import SimThorlabsCLD
    from sim_devices.transport import InProcessAdapter

    clock = VirtualClock()
    diode = {"threshold_current_A": 0.035, "slope_efficiency_W_A": 0.8}
    laser_twin = SimThorlabsCLD(clock, wavelength_nm=852.0, current_limit_A=0.25,
                                max_current_A=1.5, seed=3, **diode)
    laser = ThorlabsCLD(InProcessAdapter(laser_twin), wait=clock.sleep, **diode)
    say = _fault_channel("pump_852", laser_twin)
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    assert say(f"INJECT pump_852 {fault}") == "OK"
    assert laser_twin.output_power_W() == 0.0
    with pytest.raises(error):
        laser.enable_emission()
    assert say("CLEAR pump_852") == "OK"
    assert laser_twin.output_power_W() == 0.0  # cleared, but the LD stays off until switched on
    laser.turn_on(tec_setpoint_C=25.0, power_W=0.1)
    clock.sleep(0.5)
    assert laser.emission_ready
    assert laser_twin.output_power_W() == pytest.approx(0.1, rel=0.02)
    laser.check_errors()  # nothing refused on the way
