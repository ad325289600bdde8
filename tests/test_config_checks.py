"""Bad input refused with the config, before anything moves (issue 8), and a lab config
connected to the bench served by `avlab sim serve`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from avlab.bench import Bench
from avlab.cli import main
from avlab.config import ConfigError, builtin_config_text, load_config, parse_config
from avlab.simulation import serve
from avlab.specs import driver_specs

ROOT = Path(__file__).resolve().parent.parent


def test_avlab_config_refuses_an_unknown_fault_with_file_and_key(tmp_path, capsys):
    lab = tmp_path / "lab.toml"
    lab.write_text(builtin_config_text() + '\n[[simulation.faults]]\nrole = "pump_1064"\n'
                                           'fault = "exploded"\nat_s = 600.0\n')
    assert main(["config", str(lab)]) == 2
    err = capsys.readouterr().err
    assert f"{lab}: simulation.faults[0].fault: pump_1064 (ipg_ylr) has no fault 'exploded'" in err
    assert "interlock_open" in err


@pytest.mark.parametrize(("role", "bad"), [("power_meter", "not a resource"),
                                           ("detector", "USB0::0x1313::0x8078::P1::INSTR"),
                                           ("pump_1064", "Dev1/ctr0")])
def test_avlab_config_refuses_a_resource_the_driver_cannot_open(tmp_path, capsys, role, bad):
    text = builtin_config_text()
    section = text.index(f"[instruments.{role}]")
    text = text[:section] + text[section:].replace('resource = "sim"', f'resource = "{bad}"', 1)
    lab = tmp_path / "lab.toml"
    lab.write_text(text)
    assert main(["config", str(lab)]) == 2
    err = capsys.readouterr().err
    assert f"{lab}: instruments.{role}.resource: {bad!r} is not a resource" in err


def test_every_example_resource_is_accepted():
    for path in sorted((ROOT / "experiments" / "labs").glob("*.toml")):
        load_config(path)
    parse_config(builtin_config_text().replace(
        'driver = "ipg_ylr"\nresource = "sim"',
        'driver = "ipg_ylr"\nresource = "TCPIP0::192.0.2.20::10001::SOCKET"'), "lab.toml")


def test_a_non_utf8_config_is_refused_with_file_and_encoding(tmp_path, capsys):
    lab = tmp_path / "latin1.toml"
    lab.write_bytes(builtin_config_text().replace("[lab]", "# Küvette\n[lab]")
                    .encode("latin-1"))
    assert main(["config", str(lab)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"avlab: {re.escape(str(lab))}: not UTF-8 text \(byte 0x[0-9a-f]{{2}} "
                     r"on line \d+\)", err)
    assert "Traceback" not in err


def test_a_silicon_sensor_is_refused_for_a_1450_nm_pump_with_the_config():
    text = (ROOT / "experiments/labs/two_diodes_sim.toml").read_text()
    text = re.sub(r"sensor_range_nm = \[800, 1700\]\n", "", text)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "two_diodes.toml")
    assert caught.value.key == "instruments.power_meter.sensor_range_nm"
    assert "covers 400-1100 nm, but laser 'pump_1450' emits at 1450 nm" in str(caught.value)


def test_the_two_diode_bench_measures_the_1450_nm_pump():
    config = load_config(ROOT / "experiments/labs/two_diodes_sim.toml")
    with Bench(config) as bench:
        meter, laser = bench.power_meter(), bench.laser("pump_1450")
        meter.configure(wavelength_nm=1450.0, averaging_count=10)
        assert "S122C" in meter.driver.sensor.name
        laser.set_power_W(0.1)
        with laser.emitting():
            bench.wait(5.0)
            reading_W = meter.power_W()
    assert reading_W == pytest.approx(0.1 * config.simulation.attenuation_to_meter, rel=0.1)


# --- a lab config pointed at `avlab sim serve` ------------------------------------------------

SERVED_PART = """
[optics]
numerical_aperture = 1.49
transmission_to_sample = 0.30

[instruments.pump_1064]
driver = "ipg_ylr"
resource = "{pump}"
[instruments.pump_1064.limits]
max_power_W = 3.0

[instruments.power_meter]
driver = "thorlabs_pm100"
resource = "{meter}"
"""


@pytest.fixture(scope="module")
def served():
    server, world, _ = serve(load_config(), base_port=0, real_ports=False)
    with server:
        yield {s.name: s.visa_resource for s in server.served}, world


def test_a_lab_config_connects_to_the_served_bench(served):
    ports, world = served
    config = parse_config(SERVED_PART.format(pump=ports["pump_1064"],
                                             meter=ports["power_meter"]), "served.toml")
    with Bench(config) as bench:
        meter, laser = bench.power_meter(), bench.laser()
        assert meter.identity.startswith("Thorlabs,PM100D")
        meter.configure(wavelength_nm=1064.0, averaging_count=5)
        laser.set_power_W(1.0)
        with laser.emitting():  # the served world runs in real time: ~3 s start-up
            world.clock.sleep(0.5)
            reading_W = meter.power_W()
    assert reading_W == pytest.approx(1.0 * world.optics.attenuation_to_meter, rel=0.05)


def test_served_and_in_process_simulated_roles_are_not_mixed(served):
    ports, _ = served
    text = SERVED_PART.format(pump=ports["pump_1064"], meter="sim")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "mixed.toml")
    assert caught.value.key == "instruments.pump_1064.resource"
    assert "two different simulated worlds" in str(caught.value)
    assert 'resource = "sim" for every role' in str(caught.value)


# --- no code outside a driver's own files depends on which drivers exist -----------------------

def test_no_core_code_names_a_registered_driver():
    names = sorted(driver_specs())
    assert "ipg_ylr" in names and len(names) >= 12
    literal = re.compile("[\"'](" + "|".join(map(re.escape, names)) + ")[\"']")
    offenders = []
    for folder in ("avlab", "experiments"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if literal.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "driver names in core code:\n" + "\n".join(offenders)
