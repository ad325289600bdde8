"""A driver from an installed package: configured, checked, connected, served and used by a
procedure without any avlab file naming it.

The made-up ACME PM-1 power meter (tests/plugins/acme_avlab: driver, twin, spec) is installed
the way pip leaves a package: its modules plus a dist-info whose entry_points.txt registers
the spec in the `avlab.drivers` group, in a directory on sys.path.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from avlab.bench import Bench
from avlab.config import ConfigError, parse_config
from avlab.runner import Runner
from avlab.specs import driver_specs, reload_driver_specs
from experiments.scurve import SCurve

PLUGIN_SOURCE = Path(__file__).parent / "plugins" / "acme_avlab"

LAB = """
[optics]
numerical_aperture = 1.49
transmission_to_sample = 0.30

[instruments.fiber_laser]
kind = "laser"
driver = "ipg_ylr"
resource = "sim"
wavelength_nm = 1064
max_power_W = 5.0
[instruments.fiber_laser.limits]
max_power_W = 3.0

[instruments.acme]
kind = "power_meter"
driver = "acme_pm"
resource = "sim"
averages = 20

[instruments.spad]
kind = "counter"
driver = "nidaq_counter"
resource = "sim"
[instruments.spad.limits]
max_count_rate_cps = 5e6

[simulation]
seed = 4
"""


def _forget_plugin() -> None:
    for name in [m for m in sys.modules if m == "acme_avlab" or m.startswith("acme_avlab.")]:
        del sys.modules[name]
    reload_driver_specs()


@pytest.fixture
def acme_installed(tmp_path, monkeypatch):
    """The plugin 'pip installed' into a temporary site directory."""
    site = tmp_path / "site"
    shutil.copytree(PLUGIN_SOURCE, site / "acme_avlab")
    dist_info = site / "acme_avlab-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-avlab\n"
                                        "Version: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[avlab.drivers]\nacme_pm = acme_avlab.spec:SPEC\n")
    (dist_info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(site))
    _forget_plugin()
    yield site
    monkeypatch.undo()
    _forget_plugin()


def test_the_driver_is_unknown_until_its_package_is_installed(tmp_path):
    _forget_plugin()
    with pytest.raises(ConfigError, match="unknown driver 'acme_pm'"):
        parse_config(LAB, "lab.toml")


def test_installed_driver_is_listed_and_its_options_are_checked(acme_installed):
    spec = driver_specs()["acme_pm"]
    assert spec.kinds == ("power_meter",)
    config = parse_config(LAB, "lab.toml")
    assert config.instruments["acme"].options == {"averages": 20, "range_nm": [400.0, 1700.0]}
    with pytest.raises(ConfigError) as caught:
        parse_config(LAB.replace("averages = 20", "averages = 0"), "lab.toml")
    assert caught.value.key == "instruments.acme.averages"
    with pytest.raises(ConfigError) as caught:
        parse_config(LAB.replace("averages = 20", "range_nm = [400, 1000]"), "lab.toml")
    assert caught.value.key == "instruments.acme.range_nm"
    assert "'fiber_laser' at 1064 nm" in caught.value.problem
    with pytest.raises(ConfigError) as caught:
        parse_config(LAB.replace('driver = "acme_pm"\nresource = "sim"',
                                 'driver = "acme_pm"\nresource = "not a resource"'), "lab.toml")
    assert caught.value.key == "instruments.acme.resource"


def test_installed_twin_offers_its_faults_to_the_config(acme_installed):
    fault = '\n[[simulation.faults]]\nrole = "acme"\nfault = "{}"\nat_s = 5.0\n'
    parse_config(LAB + fault.format("lens_cap_on"), "lab.toml")
    with pytest.raises(ConfigError, match="no fault 'exploded'.*lens_cap_on"):
        parse_config(LAB + fault.format("exploded"), "lab.toml")


def test_installed_driver_connects_and_serves_an_scurve(acme_installed, tmp_path):
    config = parse_config(LAB, "lab.toml")
    with Bench(config) as bench:
        meter = bench.power_meter()
        assert type(meter.driver).__name__ == "AcmePowerMeter"
        assert meter.identity.startswith("ACME,PM-1")
        procedure = SCurve()
        procedure.set_from_strings(["points=8", "refine=false", "sweep_down=false",
                                    "power_max_W=1.0", "settle_s=0.2"])
        result = Runner(procedure, bench, tmp_path / "s.h5").run()
    assert result.status == "completed", result.message
    assert result.n_points == 8
    # The readings came through the plugin's driver from its twin: the laser output times
    # the bench's fixed attenuation to the meter plane.
    expected_W = result.data.columns["power_setpoint_W"] * config.simulation.attenuation_to_meter
    assert result.data.columns["meter_power_W"] == pytest.approx(expected_W, rel=0.05)


def test_installed_twin_is_served_and_reached_by_its_driver(acme_installed, capsys):
    from avlab.cli import main
    from avlab.simulation import serve

    config = parse_config(LAB, "lab.toml")
    server, world, skipped = serve(config, base_port=0, real_ports=False)
    with server:
        served = {s.name: s for s in server.served}
        assert "acme" in served and skipped == ["spad"]
        from acme_avlab.driver import AcmePowerMeter

        meter = AcmePowerMeter(served["acme"].visa_resource)
        try:
            assert meter.identity == "ACME,PM-1,0001,1.0"
            meter.wavelength_nm = 1064
            assert meter.wavelength_nm == pytest.approx(1064)
        finally:
            meter.close()
    lab = acme_installed / "lab.toml"
    lab.write_text(LAB)
    assert main(["sim", "serve", "--config", str(lab), "--base-port", "0", "--no-real-ports",
                 "--duration", "0"]) == 0
    assert "acme_pm" in capsys.readouterr().out
