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


# --- upstream pymeasure clients: every property the real instrument answers ----------------------

def _properties(cls: type) -> set[str]:
    """Names of the properties pymeasure defines on `cls` (and its bases)."""
    return {name for name in dir(cls) if isinstance(getattr(cls, name, None), property)}


#: PM100USB properties the real PM100D/PM100USB does not serve, and why (docs/protocols.md §3a):
#: `*OPT?` is not in the meter's command list, and `energy` needs a thermal/pyro sensor (pymeasure
#: refuses it from the sensor flags without sending anything).
PM100_NOT_SERVED = {"options", "energy"}
#: Lake Shore 335/336 (docs/protocols.md §7a): no `*OPT?`, no SCPI error queue (`SYST:ERR?`);
#: `HTR?` only for the two heater outputs (3 and 4 of the 336 are analog outputs, read with AOUT?).
LAKESHORE_NOT_SERVED = {"options", "next_error"}


def test_upstream_pm100usb_reads_every_property_the_meter_serves(served):
    from pymeasure.instruments.thorlabs import ThorlabsPM100USB

    ports, _ = served
    meter = ThorlabsPM100USB(ports["power_meter"].visa_resource, read_termination="\n",
                             write_termination="\n", timeout=3000)
    try:
        meter.clear()
        names = _properties(ThorlabsPM100USB) - PM100_NOT_SERVED
        values = {name: getattr(meter, name) for name in sorted(names)}
        assert values["id"].startswith("Thorlabs,PM100")
        assert values["complete"] == "1"
        assert values["status"] == "0"  # nothing queued, nothing enabled
        assert values["next_error"][0] == 0 and "No error" in values["next_error"][1]
        assert values["wavelength_min"] < values["wavelength"] < values["wavelength_max"]
        assert values["power"] > -1e-6
        meter.wavelength = 1064.0
        assert meter.wavelength == pytest.approx(1064.0)
        with pytest.raises(AttributeError):
            meter.energy  # noqa: B018 - a photodiode head is no energy sensor
        meter.reset()
        assert meter.check_errors() == []
    finally:
        meter.adapter.close()


def test_upstream_pm100usb_status_byte_follows_the_error_queue_and_event_register(served):
    from pymeasure.instruments.thorlabs import ThorlabsPM100USB

    ports, _ = served
    meter = ThorlabsPM100USB(ports["power_meter"].visa_resource, read_termination="\n",
                             write_termination="\n", timeout=3000)
    try:
        meter.clear()
        assert meter.ask("*TST?").strip() == "0"
        meter.write("*ESE 32")  # command errors summarise into ESB
        assert meter.ask("*ESE?").strip() == "32"
        meter.write("*SRE 36")  # EAV and ESB request service
        assert meter.ask("*SRE?").strip() == "36"
        meter.write("NOT:A:COMMAND")
        meter.write("*WAI")
        assert int(meter.status) == 4 | 32 | 64  # EAV, ESB, MSS
        assert meter.next_error[0] == -113
        assert int(meter.status) == 32 | 64  # queue empty; the event stays until *ESR? reads it
        assert int(meter.ask("*ESR?")) & 32
        assert int(meter.status) == 0
        meter.write("*OPC")
        assert int(meter.ask("*ESR?")) == 1  # operation complete
        meter.write("NOT:A:COMMAND")
        meter.clear()  # *CLS empties the queue and the event register, keeps the enables
        assert int(meter.status) == 0
        assert meter.ask("*SRE?").strip() == "36"
    finally:
        meter.write("*ESE 0")
        meter.write("*SRE 0")
        meter.adapter.close()


def test_upstream_lakeshore3xx_reads_every_property_the_336_serves(served):
    from pymeasure.instruments.lakeshore import LakeShore3xx

    ports, _ = served
    controller = LakeShore3xx(ports["cryostat"].visa_resource, read_termination="\r\n",
                              write_termination="\n", timeout=3000)
    try:
        controller.clear()
        names = _properties(LakeShore3xx) - LAKESHORE_NOT_SERVED
        values = {name: getattr(controller, name) for name in sorted(names)}
        assert values["id"].startswith("LSCI,MODEL336")
        assert values["complete"] == "1"
        assert values["status"] == "0"
        channel_properties = 0
        for name in "ABCD":
            channel = getattr(controller, f"input_{name}")
            for prop in sorted(_properties(type(channel))):
                if prop == "celcius":
                    with pytest.warns(FutureWarning):
                        getattr(channel, prop)
                else:
                    assert isinstance(getattr(channel, prop), float)
                channel_properties += 1
        assert 2.0 < controller.input_A.kelvin < 400.0
        for number in (1, 2, 3, 4):
            output = getattr(controller, f"output_{number}")
            heater = number <= 2
            for prop in sorted(_properties(type(output)) - ({"output"} if not heater else set())):
                getattr(output, prop)
                channel_properties += 1
        assert channel_properties == 4 * 4 + 2 * 4 + 2 * 3
        controller.output_2.range = "low"
        assert controller.output_2.range == "low"
        controller.output_2.range = "off"
        controller.output_2.mout = 12.5
        assert controller.output_2.mout == pytest.approx(12.5)
        controller.output_2.mout = 0.0
        controller.reset()
        assert controller.ask("*ESR?").strip() == "0"
    finally:
        controller.adapter.close()


def test_upstream_lakeshore3xx_common_commands_and_status_byte(served):
    from pymeasure.instruments.lakeshore import LakeShore3xx

    ports, _ = served
    controller = LakeShore3xx(ports["cryostat"].visa_resource, read_termination="\r\n",
                              write_termination="\n", timeout=3000)
    try:
        controller.clear()
        assert controller.ask("*TST?").strip() == "0"
        controller.write("*ESE 36")  # query and command errors summarise into ESB
        assert int(controller.ask("*ESE?")) == 36
        controller.write("*SRE 32")
        assert int(controller.ask("*SRE?")) == 32
        controller.write("*WAI")
        assert int(controller.status) == 0
        controller.write("NOSUCH 1")
        assert int(controller.status) == 32 | 64  # ESB, and MSS since ESB is enabled
        assert int(controller.ask("*ESR?")) == 32
        assert int(controller.status) == 0
        controller.write("*OPC")
        assert int(controller.ask("*ESR?")) == 1
        controller.write("NOSUCH 1")
        controller.clear()
        assert int(controller.status) == 0 and int(controller.ask("*ESE?")) == 36
    finally:
        controller.write("*ESE 0")
        controller.write("*SRE 0")
        controller.adapter.close()
