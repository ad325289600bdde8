"""The cryostat role on the simulated bench: limits, settling on the bench clock, and a sample
whose physics follows the cryostat's temperature."""

from __future__ import annotations

import dataclasses

from pathlib import Path

import pytest

import experiments
from avlab.bench import Bench
from avlab.config import ConfigError, load_config, parse_config
from avlab.errors import SafetyLimitError
from avlab.runner import Runner
from experiments.scurve import SCurve

CRYO_CONFIG = Path(experiments.__file__).parent / "labs" / "cryostat_sim.toml"


@pytest.fixture
def cryo_bench():
    config = load_config(CRYO_CONFIG)  # seeded: the threshold check is statistical
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=21))
    with Bench(config) as bench:
        yield bench


def test_setpoint_is_reached_on_the_bench_clock_and_the_world_follows(cryo_bench):
    cryostat = cryo_bench.cryostat()
    cryostat.set_setpoint_K(77.0)
    t0 = cryo_bench.now()
    temperature = cryostat.wait_stable(tolerance_K=0.2, stable_s=60.0, timeout_s=7200.0)
    assert temperature == pytest.approx(77.0, abs=0.2)
    assert cryo_bench.now() - t0 >= 60.0  # virtual time passed, no wall time
    assert cryo_bench.world.temperature_K == pytest.approx(77.0, abs=0.5)


def test_setpoint_above_the_configured_limit_is_refused(cryo_bench):
    with pytest.raises(SafetyLimitError, match="350 K, the configured limit for cryostat"):
        cryo_bench.cryostat().set_setpoint_K(400.0)


def test_the_controller_gets_the_configured_cut_off(cryo_bench):
    driver = cryo_bench.cryostat().driver
    assert driver.input("A").temperature_limit_K == pytest.approx(360.0)


def test_cut_off_below_the_setpoint_limit_is_an_impossible_config():
    text = CRYO_CONFIG.read_text().replace("temperature_limit_K = 360.0",
                                           "temperature_limit_K = 300.0")
    with pytest.raises(ConfigError, match="temperature_limit_K: impossible limit 300 K"):
        parse_config(text, "cryo.toml")


def test_the_avalanche_threshold_follows_the_sample_temperature(cryo_bench, tmp_path):
    """docs/physics.md §5: the Tm threshold rises from 5.33 kW/cm² at 295 K to 5.81 at 10 K."""
    thresholds = {}
    for setpoint in (10.0, 295.0):
        cryo_bench.cryostat().set_setpoint_K(setpoint)
        cryo_bench.cryostat().wait_stable(tolerance_K=0.3, stable_s=30.0, timeout_s=20000.0)
        procedure = SCurve(power_min_W=0.2, power_max_W=5.0, sweep_down=False)
        result = Runner(procedure, cryo_bench, tmp_path / f"T{setpoint:.0f}.h5").run()
        thresholds[setpoint] = result.analysis.detail.up.threshold_s_peak_kW_cm2
    assert thresholds[10.0] == pytest.approx(5.81, rel=0.05)
    assert thresholds[295.0] == pytest.approx(5.33, rel=0.05)
    assert thresholds[10.0] > thresholds[295.0]
