"""Simulated instruments served on loopback TCP, reached like hardware."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import serial

from avlab.config import load_config
from avlab.simulation import serve
from drivers.lasers.ipg_ylr import IPGYLR
from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
from sim_devices.server import InstrumentServer
from sim_devices.world import SimWorld


@pytest.fixture
def served_bench():
    """A laser and a power meter on one virtual-clock world, each on its own port."""
    world = SimWorld(seed=1)
    laser = SimIPGYLR(world.clock)
    world.attach_source("pump_1064", laser)
    with InstrumentServer() as server:
        yield world, server.add("laser", laser), server.add("meter", SimThorlabsPM100(world))


def test_our_drivers_work_over_pyvisa_tcp_and_the_world_stays_coupled(served_bench):
    world, laser_port, meter_port = served_bench
    laser = IPGYLR(laser_port.visa_resource)
    meter = ThorlabsPM100(meter_port.visa_resource, read_termination="\n",
                          write_termination="\n")
    try:
        assert laser.model == "YLR-5-1064-LP"
        meter.wavelength_nm = 1064
        laser.power_setpoint_W = 1.0
        laser.enable_emission()
        world.clock.sleep(3.5)  # past the start-up, on the world's virtual clock
        assert laser.emission_ready
        assert meter.power_W == pytest.approx(1.0 * world.optics.attenuation_to_meter, rel=0.01)
        laser.disable_emission()
        assert meter.power_W == pytest.approx(0.0, abs=1e-8)
    finally:
        laser.adapter.close()
        meter.adapter.close()


def test_pyserial_socket_url_reaches_the_same_laser(served_bench):
    _, laser_port, _ = served_bench
    with serial.serial_for_url(laser_port.serial_url, timeout=2) as link:
        link.write(b"RMN\r")
        assert link.read_until(b"\r") == b"RMN: YLR-5-1064-LP\r"
        link.write(b"XYZ\r")
        assert link.read_until(b"\r") == b"BCMD\r"


def test_upstream_pymeasure_pm100_driver_works_unmodified_over_tcp(served_bench):
    from pymeasure.instruments.thorlabs import ThorlabsPM100USB

    world, _, meter_port = served_bench
    meter = ThorlabsPM100USB(meter_port.visa_resource, read_termination="\n",
                             write_termination="\n")
    try:
        meter.wavelength = 1064
        assert meter.wavelength == 1064
        assert meter.power == pytest.approx(0.0, abs=1e-8)  # laser off
    finally:
        meter.adapter.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
def test_only_loopback_addresses_are_served(host):
    with pytest.raises(ValueError, match="loopback only"):
        InstrumentServer(host)


def test_serve_builds_every_message_based_role_of_the_config():
    server, world, skipped = serve(load_config(), base_port=0, real_ports=False)
    with server:
        assert {s.name for s in server.served} == {"pump_1064", "power_meter", "faults"}
        assert skipped == ["detector"]  # SDK-level: no wire protocol to serve
        assert all(s.host == "127.0.0.1" for s in server.served)


def test_avlab_sim_serve_prints_resources_and_stops_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "avlab.cli", "sim", "serve", "--no-real-ports", "--base-port", "0",
         "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        resources = {}
        for line in proc.stdout:
            if "TCPIP0::" in line:
                role, _driver, resource, _url = line.split()
                resources[role] = resource
            if line.startswith("Ctrl-C to stop"):
                break
        laser = IPGYLR(resources["pump_1064"])
        assert "YLR" in laser.identity
        laser.adapter.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_faults_are_injected_over_the_served_control_channel():
    from drivers.errors import InstrumentConnectionError, InstrumentTimeoutError, LaserFaultError

    server, _world, _ = serve(load_config(), base_port=0, real_ports=False)
    with server:
        ports = {s.name: s for s in server.served}
        laser = IPGYLR(ports["pump_1064"].visa_resource, timeout=300)
        with serial.serial_for_url(ports["faults"].serial_url, timeout=2) as control:
            def say(line: str) -> str:
                control.write(line.encode() + b"\n")
                return control.read_until(b"\n").decode().strip()

            assert "pump_1064=drop_connection" in say("LIST")
            assert say("INJECT pump_1064 over_temperature") == "OK"
            with pytest.raises(LaserFaultError):
                laser.check_faults()
            assert say("INJECT pump_1064 stop_answering") == "OK"
            with pytest.raises(InstrumentTimeoutError):
                laser.status_word
            assert say("CLEAR pump_1064") == "OK"
            laser.adapter.connection.clear()  # discard what the hung query left behind
            assert say("INJECT pump_1064 drop_connection") == "OK"
            # pyvisa-py cannot tell a peer's close from silence: over a VISA socket a dropped
            # link shows as reads that time out, every time (in-process it is a
            # connection error, see test_faults.py).
            for _ in range(2):
                with pytest.raises((InstrumentTimeoutError, InstrumentConnectionError)):
                    laser.status_word
            assert say("INJECT pump_1064 meltdown").startswith("ERR")
            assert say("INJECT pump_9 over_temperature").startswith("ERR unknown role")
        laser.adapter.close()
