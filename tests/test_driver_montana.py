"""Montana Cryostation legacy protocol: the length-prefixed framing, every command of the driver
against SimMontanaCryostation over a real socket pair (the framed bytes cross a socket, served
by a thread), rejections that send nothing, and the thermal behaviour on the virtual clock.
"""

from __future__ import annotations

import math
import socket
import threading

import pytest

from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentResponseError,
    InstrumentTimeoutError,
)
from drivers.temperature.montana_cryostation import (
    PORT,
    CryostationTimeoutError,
    FramedConnection,
    MontanaCryostation,
    SetpointTimeoutError,
    frame,
)
from sim_devices.clock import VirtualClock
from sim_devices.server import InstrumentServer
from sim_devices.instruments import montana_cryostation as sim_module
from sim_devices.instruments.montana_cryostation import (
    InProcessStream,
    LengthPrefixedFraming,
    SimMontanaCryostation,
    SystemState,
    unframe,
)

# --- framing ----------------------------------------------------------------------------------

def test_driver_frames_with_a_two_digit_length_and_no_terminator():
    assert frame("GPT") == b"03GPT"
    assert frame("STSP 4.00") == b"09STSP 4.00"


@pytest.mark.parametrize("body", ["", "X" * 100])
def test_driver_refuses_bodies_that_do_not_fit_the_prefix(body):
    with pytest.raises(ValueError):
        frame(body)


def test_sim_frame_and_unframe_round_trip():
    bodies = ["GPT", "STSP4.5", "Error: Invalid command.", "X" * 99]
    stream = "".join(sim_module.frame(b) for b in bodies)
    assert unframe(stream) == (bodies, "")


def test_sim_unframe_keeps_an_unfinished_message():
    assert unframe("03GPT05GS") == (["GPT"], "05GS")
    assert unframe("0") == ([], "0")


def test_sim_unframe_rejects_a_stream_without_length_prefix():
    with pytest.raises(ValueError):
        unframe("GPT")


def test_server_framing_splits_a_byte_buffer_in_place():
    framing = LengthPrefixedFraming()
    buffer = bytearray(b"03GPT04GTSP02G")
    assert framing.split(buffer) == ["GPT", "GTSP"]
    assert buffer == bytearray(b"02G")
    assert framing.encode("3.205") == b"053.205"


def test_driver_and_sim_framing_agree_on_the_wire():
    framing = LengthPrefixedFraming()
    assert framing.split(bytearray(frame("GS1T"))) == ["GS1T"]


@pytest.mark.parametrize(("resource", "address"), [
    ("TCPIP0::192.168.1.20::7773::SOCKET", ("192.168.1.20", 7773)),
    ("192.168.1.20:7000", ("192.168.1.20", 7000)),
    ("cryostation.lab", ("cryostation.lab", PORT)),
])
def test_resource_strings_give_host_and_port(resource, address):
    assert FramedConnection.parse_resource(resource) == address


# --- a served simulator ----------------------------------------------------------------------
# Served by the same loopback server `avlab sim serve` uses, so the framing is tested end to end.

@pytest.fixture
def served():
    clock = VirtualClock()
    sim = SimMontanaCryostation(clock=clock)
    with InstrumentServer() as server:
        port = server.add("cryostat", sim)
        driver = MontanaCryostation(port.visa_resource, timeout_s=2.0)
        yield clock, sim, driver
        driver.close()


# --- every command against the simulator ------------------------------------------------------

def test_temperatures_are_read(served):
    _, sim, cryo = served
    assert 3.0 < cryo.platform_temperature_K < 4.0
    assert cryo.sample_temperature_K == pytest.approx(cryo.platform_temperature_K, abs=0.01)
    assert 30.0 < cryo.stage1_temperature_K < 50.0
    assert 2.0 < cryo.stage2_temperature_K < 4.0


def test_an_unavailable_reading_is_nan(served):
    _, sim, cryo = served
    assert math.isnan(cryo.user_temperature_K)
    assert math.isnan(cryo.user_stability_K)
    sim.platform_sensor_ok = False
    assert math.isnan(cryo.platform_temperature_K)


def test_unavailable_values_keep_the_format_of_their_command(served):
    *_, cryo = served
    assert cryo.ask("GUT") == "-0.100"
    assert cryo.ask("GUS") == "-0.10000"


def test_stability_is_unavailable_until_a_minute_of_readings_exists(served):
    clock, _, cryo = served
    assert math.isnan(cryo.platform_stability_K)
    assert math.isnan(cryo.sample_stability_K)
    clock.sleep(120.0)
    assert 0.0 <= cryo.platform_stability_K < 0.01
    assert 0.0 <= cryo.sample_stability_K < 0.01


def test_setpoint_is_set_with_a_space_and_read_back(served):
    _, sim, cryo = served
    cryo.temperature_setpoint_K = 4.5
    assert cryo.temperature_setpoint_K == 4.5
    assert sim.setpoint_K == 4.5


def test_sim_accepts_the_setpoint_without_a_space(served):
    *_, cryo = served
    assert "OK" in cryo.ask("STSP6.25")
    assert cryo.temperature_setpoint_K == 6.25


def test_chamber_pressure_is_read_in_mTorr(served):
    *_, cryo = served
    assert 0.0 < cryo.chamber_pressure_mTorr < 1.0  # cold: cryopumped


def test_alarm_state(served):
    _, sim, cryo = served
    assert cryo.alarm_active is False
    sim.inject_compressor_fault()
    assert cryo.alarm_active is True


def test_platform_heater_power_is_set_and_read(served):
    clock, _, cryo = served
    cryo.platform_heater_power_W = 0.5
    clock.sleep(1.0)
    assert cryo.platform_heater_power_W == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize(("action", "state"), [("warm_up", SystemState.WARMING),
                                               ("standby", SystemState.STANDBY),
                                               ("stop", SystemState.STOPPED),
                                               ("cool_down", SystemState.COOLING)])
def test_actions_are_acknowledged(served, action, state):
    _, sim, cryo = served
    getattr(cryo, action)()
    assert sim.state is state


def test_unknown_command_raises(served):
    *_, cryo = served
    with pytest.raises(InstrumentCommandError, match="does not recognise 'GXYZ'"):
        cryo.ask("GXYZ")


def test_a_setting_refused_by_the_instrument_raises(served):
    *_, cryo = served
    cryo.max_setpoint_K = 350.0
    with pytest.raises(InstrumentCommandError, match="refused"):
        cryo._command("STSP 400")


def test_identity_names_the_protocol(served):
    *_, cryo = served
    assert cryo.identity == "Montana Cryostation (legacy remote protocol)"


# --- rejections: nothing is sent --------------------------------------------------------------

@pytest.mark.parametrize("value", [1.99, 350.01, math.nan])
def test_setpoint_outside_2_to_350_K_is_rejected(served, value):
    _, sim, cryo = served
    before = sim.commands_seen
    with pytest.raises(ValueError):
        cryo.temperature_setpoint_K = value
    assert sim.commands_seen == before


@pytest.mark.parametrize("value", [-0.1, 1.01, math.nan])
def test_heater_power_outside_the_limit_is_rejected(served, value):
    _, sim, cryo = served
    before = sim.commands_seen
    with pytest.raises(ValueError):
        cryo.platform_heater_power_W = value
    assert sim.commands_seen == before


def test_setpoint_limit_comes_from_the_constructor():
    sim = SimMontanaCryostation(clock=VirtualClock())
    cryo = MontanaCryostation(InProcessStream(sim), max_setpoint_K=300.0)
    with pytest.raises(ValueError):
        cryo.temperature_setpoint_K = 301.0
    assert sim.commands_seen == 0


@pytest.mark.parametrize("kwargs", [{"max_heater_power_W": 0.0}, {"max_heater_power_W": 11.0},
                                    {"max_setpoint_K": 400.0}])
def test_constructor_limits_are_checked(kwargs):
    with pytest.raises(ValueError):
        MontanaCryostation(InProcessStream(SimMontanaCryostation(clock=VirtualClock())),
                           **kwargs)


# --- link failures ----------------------------------------------------------------------------

def test_a_silent_cryostation_times_out():
    client, server = socket.socketpair()
    try:
        cryo = MontanaCryostation(client, timeout_s=0.1)
        with pytest.raises(CryostationTimeoutError, match="External Control"):
            _ = cryo.platform_temperature_K
        assert server.recv(16) == b"03GPT"  # the framed request did go out
    finally:
        client.close()
        server.close()


def test_a_closed_connection_raises_connection_error():
    client, server = socket.socketpair()
    server.close()
    try:
        cryo = MontanaCryostation(client, timeout_s=0.5)
        with pytest.raises(InstrumentConnectionError, match="connection"):
            _ = cryo.platform_temperature_K
    finally:
        client.close()


def test_stale_bytes_from_an_earlier_exchange_are_discarded():
    client, server = socket.socketpair()
    try:
        server.sendall(b"05stale")  # a late reply to a command that timed out
        connection = FramedConnection(client, timeout_s=1.0)
        server_thread = threading.Thread(
            target=lambda: (server.recv(16), server.sendall(b"053.205")), daemon=True)
        server_thread.start()
        assert connection.exchange("GPT") == "3.205"
        server_thread.join(timeout=2.0)
    finally:
        client.close()
        server.close()


# --- thermal behaviour on the virtual clock ---------------------------------------------------

@pytest.fixture
def in_process():
    clock = VirtualClock()
    sim = SimMontanaCryostation(clock=clock)
    return clock, sim, MontanaCryostation(InProcessStream(sim))


def test_in_process_stream_carries_framed_bytes():
    sim = SimMontanaCryostation(clock=VirtualClock())
    stream = InProcessStream(sim)
    stream.sendall(b"04GT")
    with pytest.raises(TimeoutError):  # half a message: nothing to answer yet
        stream.recv(2)
    stream.sendall(b"SP")
    assert stream.recv(2) == b"04" and stream.recv(4) == b"3.20"


def test_platform_settles_at_a_new_setpoint(in_process):
    clock, _, cryo = in_process
    cryo.temperature_setpoint_K = 20.0
    temperature = cryo.wait_for_setpoint(tolerance_K=0.05, stable_s=60.0, timeout_s=1800.0,
                                         wait=clock.sleep, now=clock.now)
    assert temperature == pytest.approx(20.0, abs=0.05)
    assert cryo.sample_temperature_K == pytest.approx(20.0, abs=0.05)
    assert cryo.platform_heater_power_W > 0.0
    assert cryo.platform_stability_K < 0.05


def test_setpoint_below_base_leaves_the_platform_at_base(in_process):
    clock, _, cryo = in_process
    cryo.temperature_setpoint_K = 2.0
    clock.sleep(600.0)
    assert 3.0 < cryo.platform_temperature_K < 3.5
    assert cryo.platform_heater_power_W == 0.0


def test_warm_up_heads_for_room_temperature_and_cool_down_comes_back(in_process):
    clock, _, cryo = in_process
    cryo.warm_up()
    clock.sleep(2700.0)
    assert cryo.platform_temperature_K > 250.0
    assert cryo.chamber_pressure_mTorr > 1.0
    clock.sleep(1800.0)
    assert cryo.platform_temperature_K == pytest.approx(295.0, abs=3.0)  # held near room T
    cryo.cool_down()
    clock.sleep(3600.0)
    assert cryo.platform_temperature_K < 4.0


def test_a_compressor_fault_lets_the_platform_warm(in_process):
    clock, sim, cryo = in_process
    start = cryo.platform_temperature_K
    sim.inject_compressor_fault()
    clock.sleep(1800.0)
    assert cryo.platform_temperature_K > start + 5.0
    assert cryo.alarm_active


def test_wait_for_setpoint_times_out(in_process):
    clock, sim, cryo = in_process
    cryo.temperature_setpoint_K = 50.0
    sim.inject_compressor_fault()
    cryo.stop()  # heater off, no cooling: the platform never settles at 50 K quickly
    with pytest.raises(SetpointTimeoutError):
        cryo.wait_for_setpoint(timeout_s=120.0, wait=clock.sleep, now=clock.now)


# --- injected faults (the bench's fault mechanism) ---------------------------------------------

def test_device_faults_are_listed_with_the_common_ones():
    names = SimMontanaCryostation.fault_names()
    assert {"compressor_fault", "platform_sensor_failed", "sample_sensor_failed",
            "drop_connection", "stop_answering", "answer_garbage"} <= set(names)


def test_injected_sensor_failure_reads_nan_until_cleared(in_process):
    _, sim, cryo = in_process
    sim.inject("sample_sensor_failed")
    assert math.isnan(cryo.sample_temperature_K)
    assert math.isnan(cryo.sample_stability_K)
    sim.clear_faults()
    assert cryo.sample_temperature_K > 0


def test_injected_compressor_fault_raises_the_alarm_until_cleared(in_process):
    clock, sim, cryo = in_process
    sim.inject("compressor_fault")
    clock.sleep(600.0)
    assert cryo.alarm_active
    sim.clear_faults()
    assert not cryo.alarm_active
    clock.sleep(1800.0)
    assert cryo.platform_temperature_K < 4.0  # cooling again


def test_a_hung_cryostation_times_out(in_process):
    _, sim, cryo = in_process
    sim.inject("stop_answering")
    with pytest.raises(InstrumentTimeoutError):
        _ = cryo.platform_temperature_K


def test_a_garbled_reply_raises_response_error(in_process):
    _, sim, cryo = in_process
    sim.inject("answer_garbage")
    with pytest.raises(InstrumentResponseError):
        _ = cryo.platform_temperature_K


def test_a_dropped_connection_stays_dropped(in_process):
    _, sim, cryo = in_process
    sim.inject("drop_connection")
    with pytest.raises(InstrumentConnectionError):
        _ = cryo.platform_temperature_K
    with pytest.raises(InstrumentConnectionError):
        _ = cryo.platform_temperature_K
    assert MontanaCryostation(InProcessStream(sim)).platform_temperature_K > 0  # reconnected


def test_a_dropped_socket_connection_raises_connection_error(served):
    _, sim, cryo = served
    sim.inject("drop_connection")
    with pytest.raises(InstrumentConnectionError, match="closed the connection"):
        _ = cryo.platform_temperature_K


# --- on a loopback TCP port (sim_devices.server uses the simulator's own framing) ---------------

def test_served_cryostation_answers_framed_bytes_and_our_driver_reads_it():

    sim = SimMontanaCryostation(clock=VirtualClock())
    with InstrumentServer() as server:
        served = server.add("cryostat", sim)
        with socket.create_connection((served.host, served.port), timeout=2.0) as raw:
            raw.sendall(b"04GTSP")
            assert raw.recv(16) == b"043.20"
        cryo = MontanaCryostation(served.visa_resource, timeout_s=2.0)
        try:
            assert 3.0 < cryo.platform_temperature_K < 4.0
            cryo.temperature_setpoint_K = 10.0
            assert cryo.temperature_setpoint_K == 10.0
        finally:
            cryo.close()
