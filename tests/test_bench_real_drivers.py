"""On the simulated bench the SDK-level roles run the lab's own driver classes over simulated
vendor SDKs (sim_devices/sdk), never the twin in the driver's place (issue 9)."""

from __future__ import annotations

import pytest

from avlab.bench import Bench
from avlab.config import load_config
from drivers.counters.nidaq import NIDAQPhotonCounter
from drivers.modulation import NIDAQPumpModulator
from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner
from drivers.timetagging.swabian import SwabianTimeTagger



def _lab(name):
    from pathlib import Path

    import experiments

    return Path(experiments.__file__).parent / "labs" / name


@pytest.mark.parametrize(("lab", "role", "driver_class"), [
    ("simulated.toml", "detector", NIDAQPhotonCounter),
    ("confocal_sim.toml", "scanner", NIDAQGalvoScanner),
    ("timetagger_sim.toml", "time_tagger", SwabianTimeTagger),
    ("timetagger_sim.toml", "modulator", NIDAQPumpModulator),
])
def test_sdk_level_roles_get_the_real_driver_class(lab, role, driver_class):
    with Bench(load_config(_lab(lab))) as bench:
        driver = bench[role].driver
        assert type(driver) is driver_class
        assert not type(driver).__module__.startswith("sim_devices")
        assert bench.twins[role] is not driver


def test_the_real_counter_driver_counts_the_simulated_sample():
    with Bench(load_config(None)) as bench:
        laser, detector = bench.laser(), bench.detector()
        dark = detector.count(10.0)
        assert 10 < dark.rate_cps < 60  # the twin's 25 counts/s dark rate, Poisson
        laser.set_power_W(2.0)
        with laser.emitting():
            bench.wait(2.0)
            bright = detector.count(1.0)
        assert bright.rate_cps > 100 * dark.rate_cps
