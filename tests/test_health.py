"""Instrument health during a run: what each role reports, and how the runner acts on it."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from avlab.bench import Bench
from avlab.config import builtin_config_text, parse_config
from avlab.events import LogMessage
from avlab.health import SAMPLE_TEMPERATURE
from avlab.runner import Runner
from avlab.storage import read_run
from experiments.scurve import SCurve


def _fast_scurve(**extra):
    return SCurve(points=10, refine=False, sweep_down=False, settle_s=0.2, target_counts=300,
                  max_gate_s=2.0, dark_gate_s=1.0, meter_averages=10, **extra)


def _config(extra: str = ""):
    return parse_config(builtin_config_text() + "seed = 4\n" + extra, "health.toml")


def test_a_healthy_bench_reports_every_role_ok(bench):
    health = bench.check_health()
    assert health.ok and set(health.roles) == set(bench.devices)


def test_a_laser_trip_is_reported_with_its_register_while_emitting(bench):
    laser = bench.laser()
    laser.set_power_W(0.1)
    laser.emission_on()
    assert laser.health().ok
    bench.twins["pump_1064"].inject("interlock_open")
    health = bench.check_health()
    assert not health.ok and not health.roles["pump_1064"].recoverable
    assert "interlock" in health.message


def test_an_idle_laser_is_healthy_whatever_its_registers_say(bench):
    """An off laser's interlock does not touch a run that has not switched it on; asking
    for emission then is refused by emission_on with the register named."""
    bench.twins["pump_1064"].inject("interlock_open")
    assert bench.laser().health().ok


def test_a_flood_that_clears_suspends_the_run_and_it_resumes(tmp_path):
    """Room light for 90 s mid-run: the S-curve (suspendable) stops with the pump off, drops
    the point measured in the light, and carries on once a probe gate is dark again."""
    with Bench(_config()) as bench:
        reference = Runner(_fast_scurve(), bench, tmp_path / "reference.h5").run()
    t_flood = float(read_run(tmp_path / "reference.h5").columns["bench_time_s"][4]) + 0.1

    with Bench(_config()) as bench:
        counter = bench.twins["detector"]
        counter.schedule_fault("flood", t_flood)
        counter.schedule_clear(t_flood + 90.0)
        runner = Runner(_fast_scurve(), bench, tmp_path / "run.h5")
        events = runner.events()
        result = runner.run()
        assert not bench.twins["pump_1064"].emission_requested
    logs = [e.message for e in events if isinstance(e, LogMessage)
            and e.level >= logging.WARNING and e.logger == "scurve"]
    assert result.status == "completed", result.message
    assert any(m.startswith("suspended: detector") and "flooded" in m for m in logs)
    assert any(m.startswith("resumed after") for m in logs)
    assert result.n_points == reference.n_points - 1  # the flooded point is not recorded
    data = read_run(tmp_path / "run.h5")
    assert np.all(data.columns["counts"] / data.columns["gate_s"] < 5e6)
    assert runner.guard.discarded == 1 and runner.guard.suspended_s >= 85.0


def test_a_flood_in_a_procedure_that_cannot_suspend_ends_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(SCurve, "suspendable", False)
    with Bench(_config()) as bench:
        bench.twins["detector"].schedule_fault("flood", bench.now() + 6.0)
        result = Runner(_fast_scurve(), bench, tmp_path / "run.h5").run()
    assert result.status == "failed" and "exceeds the configured limit" in result.message


def test_a_slightly_negative_meter_reading_is_recorded_not_fatal(tmp_path):
    """At the meter's noise floor a zeroed reading is negative half the time: the S-curve
    records it as read, with no intensity (NaN), and the analysis skips that point."""
    extra = "\n[simulation]\n" if "[simulation]" not in builtin_config_text() else ""
    with Bench(_config(extra)) as bench:
        bench.twins["power_meter"].noise_floor_W = 1e-3  # far above the beam at the meter
        result = Runner(_fast_scurve(), bench, tmp_path / "run.h5").run()
    assert result.status == "completed", result.message
    data = read_run(tmp_path / "run.h5")
    negative = data.columns["meter_power_W"] <= 0
    assert negative.any()
    assert np.all(np.isnan(data.columns["intensity_kW_cm2"][negative]))


def test_every_point_on_a_cryostat_bench_records_the_sample_temperature(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "experiments" / "labs"
            / "cryostat_sim.toml").read_text()
    with Bench(parse_config(text, "cryostat_sim.toml")) as bench:
        result = Runner(_fast_scurve(), bench, tmp_path / "run.h5").run()
    assert result.status == "completed", result.message
    data = read_run(tmp_path / "run.h5")
    temperature = data.columns[SAMPLE_TEMPERATURE]
    assert len(temperature) == result.n_points
    assert np.all((temperature > 2.0) & (temperature < 10.0))


@pytest.mark.parametrize("fault", ["cooler_stopped", "sensor_open", "heater_short"])
def test_cryostat_faults_end_the_run_named(tmp_path, fault):
    """The issue's repro: these used to end `completed`."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "experiments" / "labs"
            / "cryostat_sim.toml").read_text()
    with Bench(parse_config(text, "cryostat_sim.toml")) as bench:
        cryostat = bench.cryostat()
        cryostat.set_setpoint_K(10.0)  # heater on, so a heater fault trips it
        cryostat.wait_stable(tolerance_K=0.2, stable_s=20.0, poll_s=2.0)
        bench.twins["cryostat"].schedule_fault(fault, bench.now() + 5.0, bench.clock)
        result = Runner(_fast_scurve(), bench, tmp_path / "run.h5").run()
        assert not bench.twins["pump_1064"].emission_requested
    assert result.status == "failed"
    assert result.message.startswith("InstrumentFaultError: cryostat:")
    assert read_run(tmp_path / "run.h5").message.startswith("InstrumentFaultError: cryostat:")
