"""Every message-based twin served on loopback TCP by `avlab sim serve`, driven by our driver
(and, where one exists, an upstream pymeasure driver) through an ordinary resource string."""

from __future__ import annotations

import pytest

from avlab.config import parse_config
from avlab.simulation import serve

ALL_ROLES = """
[optics]
numerical_aperture = 1.49
transmission_to_sample = 0.30

[instruments.pump_1064]
driver = "ipg_ylr"
resource = "sim"
[instruments.pump_1064.limits]
max_power_W = 3.0

[instruments.pump_852]
driver = "thorlabs_cld"
resource = "sim"
threshold_current_A = 0.035
slope_efficiency_W_A = 0.8
max_current_A = 0.25
[instruments.pump_852.limits]
max_power_W = 0.15

[instruments.attenuator]
driver = "thorlabs_elliptec"
resource = "sim"
theta0_deg = 20.0
t_max = 0.9
t_min = 2e-4

[instruments.power_meter]
driver = "thorlabs_pm100"
resource = "sim"

[instruments.spectrometer]
driver = "spectrapro"
resource = "sim"

[instruments.cryostat]
driver = "lakeshore_33x"
resource = "sim"
[instruments.cryostat.limits]
max_setpoint_K = 350.0
"""

MONTANA = ALL_ROLES.replace('driver = "lakeshore_33x"', 'driver = "montana_cryostation"')


@pytest.fixture(scope="module")
def served():
    server, world, _ = serve(parse_config(ALL_ROLES, "all.toml"), base_port=0, real_ports=False)
    with server:
        yield {s.name: s for s in server.served}, world


def test_cld_diode_controller_over_tcp(served):
    from drivers.lasers.thorlabs_cld import ThorlabsCLD

    ports, _ = served
    laser = ThorlabsCLD(ports["pump_852"].visa_resource, threshold_current_A=0.035,
                        slope_efficiency_W_A=0.8, read_termination="\n", write_termination="\n")
    try:
        assert "CLD1015" in laser.identity
        assert not laser.emission_enabled
        laser.current_setpoint_A = 0.05
        assert laser.current_setpoint_A == pytest.approx(0.05)
    finally:
        laser.adapter.close()


def test_elliptec_mount_over_tcp_moves_and_attenuates(served):
    from drivers.attenuators.thorlabs_elliptec import ThorlabsElliptec

    ports, world = served
    mount = ThorlabsElliptec(ports["attenuator"].visa_resource)
    try:
        mount.angle_deg = 20.0
        assert mount.angle_deg == pytest.approx(20.0, abs=0.01)
        twin = ports["attenuator"].device
        assert twin.transmission(1064.0) == pytest.approx(0.9, rel=1e-3)
    finally:
        mount.adapter.close()


def test_lakeshore_over_tcp_with_our_driver_and_upstream_pymeasure(served):
    from pymeasure.instruments.lakeshore import LakeShore3xx

    from drivers.temperature.lakeshore_33x import LakeShore33x

    ports, _ = served
    resource = ports["cryostat"].visa_resource
    ours = LakeShore33x(resource)
    upstream = LakeShore3xx(resource, read_termination="\r\n", write_termination="\n")
    try:
        assert ours.identity.startswith("Lake Shore 336")
        assert 2.0 < ours.input("A").temperature_K < 400.0
        upstream.output_1.setpoint = 42.0
        # A bare write on one socket and a query on another are served by different
        # threads: read back on the writer's own socket first, which orders them.
        assert upstream.output_1.setpoint == pytest.approx(42.0)
        assert ours.output(1).setpoint_K == pytest.approx(42.0)
        assert upstream.input_A.kelvin == pytest.approx(ours.input("A").temperature_K, abs=0.5)
    finally:
        ours.adapter.close()
        upstream.adapter.close()


def test_spectrapro_over_tcp_moves_the_grating_angle(served):
    from drivers.spectrometers.spectrapro import SpectraPro

    ports, _ = served
    spectrograph = SpectraPro(ports["spectrometer"].visa_resource)
    try:
        assert "SP-2" in spectrograph.model
        spectrograph.goto_nm(650.0)
        assert spectrograph.center_wavelength_nm == pytest.approx(650.0, abs=0.01)
    finally:
        spectrograph.adapter.close()


def test_montana_legacy_framing_over_tcp():
    from drivers.temperature.montana_cryostation import MontanaCryostation

    server, _, _ = serve(parse_config(MONTANA, "montana.toml"), base_port=0, real_ports=False)
    with server:
        port = next(s for s in server.served if s.name == "cryostat")
        cryostat = MontanaCryostation(port.visa_resource)
        try:
            cryostat.temperature_setpoint_K = 4.0
            assert cryostat.temperature_setpoint_K == pytest.approx(4.0)
            assert 2.0 < cryostat.platform_temperature_K < 400.0
        finally:
            cryostat.close()
